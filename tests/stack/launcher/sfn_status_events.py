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

The events are put on the default bus of the execution's account and region, so every rule there
matches them and their targets receive them (Lambda targets: events_to_lambda).

Test controls, at STATUS_EVENTS_PATH (a test endpoint, not an AWS API), as alarm_events has them for
alarm events:

    POST   {"action": "drop" | "duplicate" | "delay", "count": 1, "execution": NAME (optional),
            "status": "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED" (optional),
            "delaySeconds": D (delay only)} arms a control: each of the next `count` status events
           (of that execution and status, or any) is dropped (never reaches the bus), delivered
           twice (same event id, back to back) or delivered D seconds late. Controls are used in
           the order they were armed, one per event. Answers 201 with the armed control.
    GET    {"events": [{"id", "executionArn", "name", "status", "emittedAt", "action",
            "delaySeconds", "dropped", "delivered", "deliveries"}, ...] (?execution=NAME: of that
            execution only), "armed": [{action, remaining, execution, status, delaySeconds}]}
    DELETE disarms every control (the events stay listed); answers 204."""

from __future__ import annotations

import copy
import datetime
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass

from moto.core.utils import unix_time
from moto.events.models import events_backends
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
from moto.stepfunctions.responses import StepFunctionResponse

from local_aws import STATUS_EVENTS_PATH

from .control_route import serve_controls

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
    }


STATUSES = tuple(s.value for s in ExecutionStatus)


@dataclass
class Control:
    action: str  # drop, duplicate, delay
    remaining: int
    execution: str | None
    status: str | None
    delaySeconds: float  # the endpoint's JSON name


_controls: list[Control] = []
_controls_lock = threading.Lock()  # the controls and the events listed (not the end-event lock)
_events: list[dict] = []


def arm(spec: dict) -> Control:
    action = spec.get("action")
    if action not in ("drop", "duplicate", "delay"):
        raise ValueError("action must be drop, duplicate or delay")
    count = spec.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError("count must be an integer >= 1")
    execution = spec.get("execution") or None
    if execution is not None and not isinstance(execution, str):
        raise ValueError("execution must be an execution name")
    status = spec.get("status") or None
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    delay = spec.get("delaySeconds", 0) or 0
    if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
        raise ValueError("delaySeconds must be a number >= 0")
    if action == "delay" and delay <= 0:
        raise ValueError("a delay needs delaySeconds > 0")
    control = Control(action, count, execution, status, float(delay) if action == "delay" else 0.0)
    with _controls_lock:
        _controls.append(control)
    return control


def _take(name: str, status: str) -> Control | None:
    with _controls_lock:
        for control in _controls:
            if control.remaining > 0 and control.execution in (None, name) and control.status in (None, status):
                control.remaining -= 1
                if control.remaining == 0:
                    _controls.remove(control)
                return Control(**asdict(control))
    return None


def state(execution: str | None = None) -> dict:
    with _controls_lock:
        events = [e for e in _events if execution is None or e["name"] == execution]
        return {"events": copy.deepcopy(events), "armed": [asdict(c) for c in _controls]}


def disarm() -> None:
    with _controls_lock:
        _controls.clear()


def _route(account: str, region: str, message: dict, record: dict) -> None:
    """Puts the event on the default bus: every rule matches it and sends it to its targets, with
    the event's own id (a duplicate keeps it)."""
    try:
        bus = events_backends[account][region].describe_event_bus("default")
        for rule in list(bus.rules.values()):
            msg = copy.deepcopy(message)
            msg["ingestion-time"] = unix_time()
            rule.send_to_targets(msg)
    except Exception as e:  # an event that cannot be put never breaks the execution
        print(f"sfn_status_events: {record['executionArn']} {record['status']}: {e!r}", file=sys.stderr, flush=True)
        record.setdefault("errors", []).append(repr(e))
        return
    with _controls_lock:
        record["delivered"] = True
        record["deliveries"].append(time.time())


def put_status_event(execution: Execution, event_detail: dict) -> None:
    account, region = execution.account_id, execution.region_name
    message = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": unix_time(),
        "region": region,
        "resources": [execution.exec_arn],
        "detail": event_detail,
    }
    control = _take(event_detail["name"], event_detail["status"])
    action = control.action if control else "deliver"
    record = {
        "id": message["id"],
        "executionArn": event_detail["executionArn"],
        "name": event_detail["name"],
        "status": event_detail["status"],
        "emittedAt": time.time(),
        "action": action,
        "delaySeconds": control.delaySeconds if control else 0.0,
        "dropped": action == "drop",
        "delivered": False,
        "deliveries": [],
    }
    with _controls_lock:
        _events.append(record)
    if action == "drop":
        return
    if action == "delay":
        timer = threading.Timer(record["delaySeconds"], _route, args=(account, region, message, record))
        timer.daemon = True
        timer.start()
        return
    _route(account, region, message, record)
    if action == "duplicate":
        _route(account, region, message, record)


class StatusEventsRoute:
    """WSGI middleware: serves STATUS_EVENTS_PATH (control_route's shape; GET ?execution=NAME
    narrows the events listed) and passes every other request on."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "") != STATUS_EVENTS_PATH:
            return self.app(environ, start_response)
        return serve_controls(
            environ,
            start_response,
            state=lambda query: state(query.get("execution")),
            arm=lambda spec: asdict(arm(spec)),
            disarm=lambda _query: disarm(),
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
