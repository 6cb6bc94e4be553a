"""Patch 8. moto's Step Functions emits no EventBridge events. AWS puts a "Step Functions Execution
Status Change" event (source aws.states) on the default bus of the execution's account and region
when an execution of a STANDARD state machine starts (RUNNING) and when it ends (SUCCEEDED, FAILED,
TIMED_OUT, ABORTED); Express workflows emit none. Here:

- RUNNING as StartExecution starts the execution, before its first state runs, so it always
  precedes the end event;
- the end status when moto's interpreter ends (BaseExecutionWorkerCommunication.
  _reflect_execution_status);
- ABORTED at StopExecution itself. On AWS StopExecution ends the execution at once: DescribeExecution
  says ABORTED (with the call's stopDate, error and cause; moto's handler dropped the latter two)
  as soon as the call returns. moto's interpreter only
  notices the stop when its current state yields (a Wait at once, a Task when the call returns) and
  may then end the execution as FAILED (an interrupted Task failing). So the execution is marked
  ABORTED here when stopped, and the interpreter's later end neither changes that nor emits a second
  event: an aborted execution emits exactly one end event, ABORTED.

Each event's detail also carries the execution's redrive fields (redriveCount, redriveDate,
redriveStatus, redriveStatusReason: sfn_redrive), as AWS's events do; a redrive emits RUNNING again,
then the redriven attempt's end.

The events are put on the default bus of the execution's account and region, so every rule there
matches them and their targets receive them (Lambda targets: events_to_lambda).

Test controls, at STATUS_EVENTS_PATH (a test endpoint, not an AWS API), as alarm_events has them for
alarm events (event_delivery has the contract; the filters are the execution and the status):

    POST   {"action": "drop" | "duplicate" | "delay", "count": 1, "execution": NAME (optional),
            "status": "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED" (optional),
            "delaySeconds": D (delay only)} arms a control for the next `count` status events (of
           that execution and status, or any). Answers 201 with the armed control.
    GET    {"events": [{"id", "executionArn", "name", "status", "emittedAt", "action",
            "delaySeconds", "dropped", "delivered", "deliveries"}, ...] (?execution=NAME: of that
            execution only), "armed": [{action, remaining, execution, status, delaySeconds}]}
    DELETE disarms every control (the events stay listed); answers 204."""

from __future__ import annotations

import datetime
import threading
import time

from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
from moto.stepfunctions.responses import StepFunctionResponse

from local_aws import STATUS_EVENTS_PATH

from . import sfn_redrive
from .endpoints import Endpoint
from .event_delivery import EventDelivery, aws_event

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"

# Guards the one end event per execution between StopExecution and the interpreter's end.
_lock = threading.Lock()
_ENDED = "_sluice_end_announced"
# StopExecution's error and cause, which moto's handler drops, for the Execution.stop it calls.
_request = threading.local()


def _epoch_ms(t: datetime.datetime | None) -> int | None:
    if t is None:
        return None
    if t.tzinfo is None:  # moto keeps some dates naive UTC
        t = t.replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1000)


def _status(execution: Execution) -> str:
    status = execution.exec_status
    return status.value if isinstance(status, ExecutionStatus) else str(status)


def _standard(execution: Execution) -> bool:
    kind = execution.sm_type
    return (kind.value if hasattr(kind, "value") else str(kind)) == "STANDARD"


def detail(execution: Execution, status: str) -> dict:
    """The event's detail, as AWS documents it: output only for SUCCEEDED, error/cause as recorded."""
    succeeded = status == ExecutionStatus.SUCCEEDED.value
    state_machine = execution.state_machine
    # An execution of a version reports the state machine it is a version of.
    state_machine_arn = getattr(state_machine, "source_arn", None) or execution.state_machine_arn
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _epoch_ms(execution.start_date),
        "stopDate": None if status == ExecutionStatus.RUNNING.value else _epoch_ms(execution.stop_date),
        "input": to_json_str(execution.input_data, separators=(",", ":")),
        "output": to_json_str(execution.output, separators=(",", ":")) if succeeded else None,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if succeeded else None,
        "error": None if status == ExecutionStatus.RUNNING.value else (execution.error or None),
        "cause": None if status == ExecutionStatus.RUNNING.value else (execution.cause or None),
        **sfn_redrive.event_fields(execution, status),
    }


STATUSES = tuple(s.value for s in ExecutionStatus)


def _execution_name(value) -> None:
    if not isinstance(value, str):
        raise ValueError("execution must be an execution name")


def _status_name(value) -> None:
    if value not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")


delivery = EventDelivery("sfn_status_events", {"execution": _execution_name, "status": _status_name})


def put_status_event(execution: Execution, event_detail: dict) -> None:
    message = aws_event(
        SOURCE, DETAIL_TYPE, execution.account_id, execution.region_name, execution.exec_arn, event_detail
    )
    record = {
        "executionArn": event_detail["executionArn"],
        "name": event_detail["name"],
        "status": event_detail["status"],
    }
    match = {"execution": event_detail["name"], "status": event_detail["status"]}
    delivery.emit(message, match, record, f"{record['executionArn']} {record['status']}")


# GET ?execution=NAME narrows the events listed.
ENDPOINT = Endpoint(
    STATUS_EVENTS_PATH,
    read=lambda query: delivery.state(name=query.get("execution")),
    arm=delivery.arm,
    disarm=lambda _query: delivery.disarm(),
)


def emit_status_events() -> None:
    original_start = Execution.start
    original_stop = Execution.stop
    original_reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def start(self):
        if _standard(self):
            put_status_event(self, detail(self, ExecutionStatus.RUNNING.value))
        return original_start(self)

    def stop(self, stop_date, error, cause):
        error, cause = getattr(_request, "stop", None) or (error, cause)
        announce = None
        with _lock:
            if self.exec_status == ExecutionStatus.RUNNING and not getattr(self, _ENDED, False):
                setattr(self, _ENDED, True)
                self.exec_status = ExecutionStatus.ABORTED
                self.stop_date = datetime.datetime.now(tz=datetime.timezone.utc)
                self.error = error or None
                self.cause = cause or None
                announce = detail(self, ExecutionStatus.ABORTED.value)
        worker = self.exec_worker
        deadline = time.monotonic() + 2
        while worker is not None and worker.env is None and time.monotonic() < deadline:
            time.sleep(0.01)  # started a moment ago: moto's worker has no environment to stop yet
        original_stop(self, stop_date, error, cause)
        if announce is not None and _standard(self):
            put_status_event(self, announce)

    def reflect(self):
        execution = self.execution
        with _lock:
            if getattr(execution, _ENDED, False):
                return  # stopped: ABORTED already, and announced
            original_reflect(self)
            setattr(execution, _ENDED, True)
            announce = detail(execution, _status(execution))
        if _standard(execution):
            put_status_event(execution, announce)

    original_stop_handler = StepFunctionResponse.stop_execution

    def stop_execution(self):
        _request.stop = (self._get_param("error"), self._get_param("cause"))
        try:
            return original_stop_handler(self)
        finally:
            _request.stop = None

    Execution.start = start
    StepFunctionResponse.stop_execution = stop_execution
    Execution.stop = stop
    BaseExecutionWorkerCommunication._reflect_execution_status = reflect
