"""Patch 17. RedriveExecution, as AWS documents it (API reference: RedriveExecution,
DescribeExecution, ExecutionRedrivenEventDetails; developer guide: "Restarting state machine
executions with redrive", "Accessing execution data from the Context object"). moto has no
RedriveExecution at all. Here:

- RedriveExecution(executionArn, clientToken) restarts a STANDARD execution that ended FAILED,
  ABORTED or TIMED_OUT: the same execution (ARN, input, definition), RUNNING again, from its
  unsuccessful state, which is entered again with the input it had when it was entered. States that
  succeeded are not run again; in a Parallel only the branches that did not succeed are run again
  (from their own unsuccessful state; a branch that succeeded gives the output it gave), unless none
  failed (States.DataLimitExceeded: the whole Parallel runs again). Whatever state that is behaves
  as when first entered: a Task is scheduled again (its retries and TimeoutSeconds start over), a
  Wait waits again (a Timestamp in the past: at once), a Choice is evaluated again, a Fail state
  fails again; the execution's TimeoutSeconds starts over. Answers {"redriveDate"}.
- Not redrivable (ExecutionNotRedrivable, with AWS's reason as the message): RUNNING, SUCCEEDED,
  an EXPRESS execution, one whose history holds 24,999 events or more, one that ended more than 14
  days ago, one started more than a year ago. An unknown execution: ExecutionDoesNotExist.
  The same clientToken within 15 minutes (the last 10 of an execution) answers the redrive it
  started again, without redriving twice (an SDK's retry of a redrive that landed).
- The history goes on: ExecutionRedriven (executionRedrivenEventDetails.redriveCount) after the
  last event, then the events of the new attempt. Events the earlier attempt would still write
  (a state that was cut short and returns later) are not written; its end event
  (ExecutionAborted / ExecutionTimedOut, which moto writes only once the running state yields) is
  written before ExecutionRedriven if it is not there yet.
- DescribeExecution: redriveCount (0 until redriven), redriveDate (once redriven), redriveStatus
  (REDRIVABLE or NOT_REDRIVABLE) and redriveStatusReason (when NOT_REDRIVABLE); a TIMED_OUT
  execution has its stopDate (moto omitted it). ListExecutions: redriveCount and redriveDate of
  each execution, and redriveFilter (REDRIVEN / NOT_REDRIVEN) applied to the page.
- The Context object: $$.Execution.RedriveCount (0 until redriven) in every execution, and
  $$.Execution.RedriveTime in a redriven one.
- The execution status events (sfn_status_events) carry redriveCount, redriveDate (epoch ms),
  redriveStatus and redriveStatusReason, as in AWS's examples (eventbridge-integration.html): a
  redrive emits RUNNING again (redriveStatus REDRIVE_IN_PROGRESS), then its end.
- The redriven attempt is an execution like any other: StopExecution, task tokens (those of the
  earlier attempt answer TaskTimedOut: sfn_task_tokens), time scaling, faults and moments apply.

How: every state entered records, in its environment, its name and input; the record of a Parallel
also gets, when its branches end unsuccessfully, each branch's outcome (its output, or its own
record). The redrive starts a new worker with a new environment (the earlier attempt's threads
keep theirs, closed) sharing the history, and starts the program at the recorded state.
Not kept across a redrive: the values of variables (Assign); sluice's ASL assigns none.
"""

from __future__ import annotations

import copy
import datetime
import threading
import time

from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult
from moto.stepfunctions.parser.api import (
    ExecutionAbortedEventDetails,
    ExecutionFailedEventDetails,
    ExecutionStatus,
    ExecutionTimedOutEventDetails,
    HistoryEventType,
)
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl import BranchesDecl
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext, EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.stepfunctions.responses import StepFunctionResponse

from . import sfn_status_events
from .sfn_task_tokens import EARLIER_ENVIRONMENTS, close_tokens_of

# On an Environment: the state entered and not yet exited, {"state", "input"[, "branches"]}.
_RECORD = "_sluice_redrive_record"
# On an Environment: where its program starts instead of StartAt (a plan: a record, or
# {"output": ...} for a branch that succeeded), or that it was set already (_PLANNED).
_PLAN = "_sluice_redrive_plan"
_PLANNED = "_sluice_redrive_planned"
# On an Environment: (Parallel state name, branch plans) for the Parallel it starts at.
_BRANCHES = "_sluice_redrive_branches"
# On an Environment: the branch frames a BranchesDecl opens, and the plans they start with.
_OPENING = "_sluice_redrive_opening"
# On a frame a state runs its work in (open_frame: a Parallel's branches run from one): its state's
# environment.
_PARENT = "_sluice_redrive_parent"
# On an EventManager: closed (an earlier attempt's: writes nothing more), and its (reentrant) lock.
_CLOSED = "_sluice_closed"
_WRITE_LOCK = "_sluice_write_lock"
# On an ExecutionWorker: set once its execution logic returned.
_DONE = "_sluice_done"
# On a BaseExecutionWorkerCommunication: an earlier attempt's, which reports nothing more.
_RETIRED = "_sluice_retired"
# On an ExecutionWorker: the redrive count and time its context object carries.
_WORKER_REDRIVE = "_sluice_redrive"

# On an Execution.
REDRIVE_COUNT = "_sluice_redrive_count"
REDRIVE_DATE = "_sluice_redrive_date"
_TOKENS = "_sluice_redrive_tokens"  # [(clientToken, redriveDate, first used (monotonic))]
_ATTEMPT_START = "_sluice_attempt_start"  # index of the attempt's first event in the history

HISTORY_LIMIT = 24_999
REDRIVABLE_PERIOD = datetime.timedelta(days=14)
MAX_OPEN_TIME = datetime.timedelta(days=365)
TOKEN_LIFETIME = 15 * 60
TOKENS_KEPT = 10

END_EVENTS = {
    HistoryEventType.ExecutionAborted,
    HistoryEventType.ExecutionFailed,
    HistoryEventType.ExecutionSucceeded,
    HistoryEventType.ExecutionTimedOut,
}

_LOCK = "_sluice_redrive_lock"  # on an Execution: one redrive of it at a time


class ExecutionNotRedrivable(AWSError):
    TYPE = "ExecutionNotRedrivable"
    STATUS = 400


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.timezone.utc)


def _aware(t: datetime.datetime | None) -> datetime.datetime | None:
    if t is not None and t.tzinfo is None:  # moto keeps some dates naive UTC
        return t.replace(tzinfo=datetime.timezone.utc)
    return t


def _status(execution: Execution) -> str:
    status = execution.exec_status
    return status.value if isinstance(status, ExecutionStatus) else str(status)


def redrive_count(execution: Execution) -> int:
    return execution.__dict__.get(REDRIVE_COUNT, 0)


def redrive_date(execution: Execution) -> datetime.datetime | None:
    return execution.__dict__.get(REDRIVE_DATE)


def _history(execution: Execution) -> list:
    """The execution's history as it is (not a copy): read only."""
    env = getattr(execution.exec_worker, "env", None)
    return env.event_manager._history_event_list if env is not None else []


def not_redrivable_reason(execution: Execution) -> str | None:
    """Why RedriveExecution would answer ExecutionNotRedrivable (AWS's redriveStatusReason), or
    None when the execution can be redriven."""
    status = _status(execution)
    kind = execution.sm_type.value if hasattr(execution.sm_type, "value") else str(execution.sm_type)
    if kind != "STANDARD":
        return "Execution is an EXPRESS execution and cannot be redriven"
    if status in (ExecutionStatus.RUNNING.value, ExecutionStatus.SUCCEEDED.value):
        return f"Execution is {status} and cannot be redriven"
    if status not in (ExecutionStatus.FAILED.value, ExecutionStatus.ABORTED.value, ExecutionStatus.TIMED_OUT.value):
        return f"Execution is {status} and cannot be redriven"
    if len(_history(execution)) >= HISTORY_LIMIT:
        return "Execution history event limit exceeded"
    now = _now()
    if now - _aware(execution.start_date) > MAX_OPEN_TIME:
        return "Execution has exceeded the max execution time"
    stop = _aware(execution.stop_date)
    if stop is not None and now - stop > REDRIVABLE_PERIOD:
        return "Execution redrivable period exceeded"
    return None


def event_fields(execution: Execution, status: str) -> dict:
    """The redrive fields of an execution status event in `status` (sfn_status_events.detail), as in
    AWS's examples: RUNNING first NOT_REDRIVABLE, RUNNING again REDRIVE_IN_PROGRESS; an end that can
    be redriven REDRIVABLE ("Execution is FAILED and is redrivable"); redriveDate in epoch ms."""
    count, date = redrive_count(execution), redrive_date(execution)
    if status == ExecutionStatus.RUNNING.value:
        redrive_status = "REDRIVE_IN_PROGRESS" if count else "NOT_REDRIVABLE"
        reason = "Execution is RUNNING and cannot be redriven"
    else:
        reason = not_redrivable_reason(execution)
        redrive_status = "NOT_REDRIVABLE" if reason else "REDRIVABLE"
        reason = reason or f"Execution is {status} and is redrivable"
    return {
        "redriveCount": count,
        "redriveDate": int(date.timestamp() * 1000) if date else None,
        "redriveStatus": redrive_status,
        "redriveStatusReason": reason,
    }


# --- what each state records ---


def _record_states() -> None:
    original_eval_body = CommonStateField._eval_body

    def eval_body(self, env: Environment) -> None:
        record = {"state": self.name, "input": env.states.get_input()}
        env.__dict__[_RECORD] = record
        original_eval_body(self, env)
        if env.is_running() and env.__dict__.get(_RECORD) is record:
            del env.__dict__[_RECORD]  # exited: the next state records itself

    CommonStateField._eval_body = eval_body


def _outcome(program: Program, frame: Environment) -> dict:
    """What a branch's redrive starts from: its output when it succeeded, else its unsuccessful
    state (or its StartAt, when it had entered none)."""
    if isinstance(frame._program_state, ProgramEnded):
        return {"output": frame.states.get_input()}
    record = frame.__dict__.get(_RECORD)
    if record is not None:
        return copy.deepcopy(record)
    return {"state": program.start_at.start_at_name, "input": frame.states.get_input()}


def _state_environment(env: Environment, state: str) -> Environment:
    """The environment `state` was entered in: env, or the one env is a work frame of."""
    found = env
    while found is not None:
        record = found.__dict__.get(_RECORD)
        if record is not None and record["state"] == state:
            return found
        found = found.__dict__.get(_PARENT)
    return env


def _redrive_branches() -> None:
    original_open_frame = Environment.open_frame

    def open_frame(self, event_history_context=None):
        frame = original_open_frame(self, event_history_context)
        frame.__dict__[_PARENT] = self
        return frame

    Environment.open_frame = open_frame

    original_eval_body = BranchesDecl._eval_body

    def eval_body(self, env: Environment) -> None:
        state = env.states.context_object.context_object_data["State"]["Name"]
        state_env = _state_environment(env, state)
        pending = state_env.__dict__.pop(_BRANCHES, None)
        plans = None
        if pending is not None and pending[0] == state and len(pending[1]) == len(self.programs):
            if any("output" not in plan for plan in pending[1]):
                plans = list(pending[1])  # only the branches that did not succeed run again
        opened: list[Environment] = []
        env.__dict__[_OPENING] = (opened, plans)
        try:
            original_eval_body(self, env)
        finally:
            env.__dict__.pop(_OPENING, None)
            record = state_env.__dict__.get(_RECORD)
            if record is not None and record["state"] == state and len(opened) == len(self.programs):
                record["branches"] = [_outcome(p, f) for p, f in zip(self.programs, opened, strict=True)]

    BranchesDecl._eval_body = eval_body

    original_open_inner_frame = Environment.open_inner_frame

    def open_inner_frame(self, event_history_context=None):
        frame = original_open_inner_frame(self, event_history_context)
        opening = self.__dict__.get(_OPENING)
        if opening is not None:
            opened, plans = opening
            if plans is not None and len(opened) < len(plans):
                frame.__dict__[_PLAN] = plans[len(opened)]
            opened.append(frame)
        return frame

    Environment.open_inner_frame = open_inner_frame


def _start_at(env: Environment, plan: dict) -> None:
    """Makes env's program start at the plan's state with its input (a Parallel there with the
    branch plans recorded)."""
    if env._program_state is None or env.is_running():
        env.next_state_name = plan["state"]
    env.states.reset(input_value=copy.deepcopy(plan["input"]))
    if plan.get("branches") is not None:
        env.__dict__[_BRANCHES] = (plan["state"], plan["branches"])


def _start_programs_at_their_plan() -> None:
    original_eval = Program.eval

    def program_eval(self, env: Environment) -> None:
        planned = env.__dict__.pop(_PLANNED, False)
        plan = env.__dict__.pop(_PLAN, None)
        if not planned and plan is None:
            return original_eval(self, env)
        if plan is not None and "output" in plan:  # a branch that succeeded: not run again
            env.states.reset(input_value=copy.deepcopy(plan["output"]))
            env.set_ended()
            return None
        if plan is not None:
            _start_at(env, plan)
        if not env.is_running():
            # Stopped before it started: the program only writes its end.
            if not env.is_frame():
                self._eval_body(env)
            return None
        # Program.eval, from the start set above instead of StartAt.
        timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
        worker_thread = threading.Thread(target=EvalComponent.eval, args=(self, env), daemon=True)
        TMP_THREADS.append(worker_thread)
        worker_thread.start()
        worker_thread.join(timeout=timeout)
        if worker_thread.is_alive():
            env.set_timed_out()
        return None

    Program.eval = program_eval


# --- attempts ---


def _track_attempts() -> None:
    """Workers say when their execution logic returned; an earlier attempt's communication and
    history writes go nowhere; the context object carries the redrive count (and time)."""
    original_logic = ExecutionWorker._execution_logic

    def execution_logic(self):
        try:
            original_logic(self)
        finally:
            self.__dict__.setdefault(_DONE, threading.Event()).set()

    ExecutionWorker._execution_logic = execution_logic

    original_terminated = BaseExecutionWorkerCommunication.terminated

    def terminated(self):
        if getattr(self, _RETIRED, False):
            return
        original_terminated(self)

    BaseExecutionWorkerCommunication.terminated = terminated

    original_add_event = EventManager.add_event

    def add_event(self, context, event_type, *args, **kwargs):
        with self.__dict__.setdefault(_WRITE_LOCK, threading.RLock()):
            if getattr(self, _CLOSED, False):
                return context.last_published_event_id
            return original_add_event(self, context, event_type, *args, **kwargs)

    EventManager.add_event = add_event

    original_environment = ExecutionWorker._get_evaluation_environment

    def evaluation_environment(self) -> Environment:
        env = original_environment(self)
        count, date = getattr(self, _WORKER_REDRIVE, (0, None))
        data = env.states.context_object.context_object_data["Execution"]
        data["RedriveCount"] = count
        if date is not None:  # ISO 8601, as AWS writes its times there ("2019-03-26T20:14:13.192Z")
            data["RedriveTime"] = date.strftime("%Y-%m-%dT%H:%M:%S.") + f"{date.microsecond // 1000:03d}Z"
        return env

    ExecutionWorker._get_evaluation_environment = evaluation_environment


class RedriveWorker(ExecutionWorker):
    """The worker of a redrive: its environment is made (and ExecutionRedriven written) before its
    thread starts, so the history, StopExecution and task tokens see the new attempt at once."""

    def __init__(self, earlier: ExecutionWorker, execution: Execution, count: int, date: datetime.datetime):
        super().__init__(
            evaluation_details=earlier._evaluation_details,
            exec_comm=BaseExecutionWorkerCommunication(execution),
            cloud_watch_logging_session=earlier._cloud_watch_logging_session,
            activity_store=earlier._activity_store,
            mock_test_case=earlier._mock_test_case,
        )
        self.__dict__[_WORKER_REDRIVE] = (count, date)
        self._program = AmazonStateLanguageParser.parse(self._evaluation_details.state_machine_details.definition)[0]

    def _get_evaluation_entrypoint(self):
        return self._program

    def prepare(self, earlier_env: Environment, plan: dict | None, count: int) -> None:
        self.env = self._get_evaluation_environment()
        manager, earlier = self.env.event_manager, earlier_env.event_manager
        manager._history_event_list = earlier._history_event_list
        manager._event_id_gen = earlier._event_id_gen
        manager._mutex = earlier._mutex
        history = manager._history_event_list
        context = self.env.event_history_context
        context.source_event_id = context.last_published_event_id = history[-1]["id"] if history else 0
        manager.add_event(
            context=context,
            event_type=HistoryEventType.ExecutionRedriven,
            event_details={"executionRedrivenEventDetails": {"redriveCount": count}},
        )
        if plan is None:
            plan = {
                "state": self._program.start_at.start_at_name,
                "input": self._evaluation_details.execution_details.inpt,
            }
        _start_at(self.env, plan)
        self.env.__dict__[_PLANNED] = True

    def _execution_logic(self):
        self._program.eval(self.env)
        self._execution_communication.terminated()


def _close_earlier_attempt(execution: Execution, worker: ExecutionWorker) -> Environment:
    """Ends the earlier attempt for good: waits a moment for its logic to return, writes its end
    event if it has not yet (a state cut short that has not yielded), and closes its history and its
    reports, so that nothing it does later lands."""
    worker.__dict__.setdefault(_DONE, threading.Event()).wait(2)
    env = worker.env
    manager = env.event_manager
    start = execution.__dict__.get(_ATTEMPT_START, 0)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if any(e["type"] in END_EVENTS for e in manager._history_event_list[start:]):
            break
        time.sleep(0.01)
    with manager.__dict__.setdefault(_WRITE_LOCK, threading.RLock()):
        if not any(e["type"] in END_EVENTS for e in manager._history_event_list[start:]):
            status = _status(execution)
            context = EventHistoryContext.of_program_start()
            if status == ExecutionStatus.ABORTED.value:
                event = (
                    HistoryEventType.ExecutionAborted,
                    {
                        "executionAbortedEventDetails": ExecutionAbortedEventDetails(
                            error=execution.error, cause=execution.cause
                        )
                    },
                )
            elif status == ExecutionStatus.TIMED_OUT.value:
                event = (
                    HistoryEventType.ExecutionTimedOut,
                    {"executionTimedOutEventDetails": ExecutionTimedOutEventDetails()},
                )
            else:
                details = ExecutionFailedEventDetails()
                if execution.error:
                    details["error"] = execution.error
                if execution.cause:
                    details["cause"] = execution.cause
                event = (HistoryEventType.ExecutionFailed, {"executionFailedEventDetails": details})
            manager.add_event(context=context, event_type=event[0], event_details=event[1])
        setattr(manager, _CLOSED, True)
    setattr(worker._execution_communication, _RETIRED, True)
    close_tokens_of(env)
    return env


def redrive(execution: Execution, client_token: str | None) -> datetime.datetime:
    with execution.__dict__.setdefault(_LOCK, threading.Lock()):
        if client_token:
            now = time.monotonic()
            for token, date, first_used in execution.__dict__.get(_TOKENS, ()):
                if token == client_token and now - first_used < TOKEN_LIFETIME:
                    return date  # that redrive again: it landed already
        reason = not_redrivable_reason(execution)
        worker = execution.exec_worker
        if reason is None and getattr(worker, "env", None) is None:
            reason = "Execution was not run by the interpreter and cannot be redriven"
        if reason is not None:
            raise ExecutionNotRedrivable(reason)
        earlier_env = _close_earlier_attempt(execution, worker)
        count, date = redrive_count(execution) + 1, _now()
        plan = copy.deepcopy(earlier_env.__dict__.get(_RECORD))
        new = RedriveWorker(worker, execution, count, date)
        attempt_start = len(earlier_env.event_manager._history_event_list)
        new.prepare(earlier_env, plan, count)
        with sfn_status_events._lock:
            execution.__dict__.setdefault(EARLIER_ENVIRONMENTS, []).append(earlier_env)
            execution.__dict__[_ATTEMPT_START] = attempt_start
            execution.__dict__[REDRIVE_COUNT] = count
            execution.__dict__[REDRIVE_DATE] = date
            execution.exec_worker = new
            execution.stop_date = None
            execution.error = None
            execution.cause = None
            execution.output = None
            execution.exec_status = ExecutionStatus.RUNNING
            setattr(execution, sfn_status_events._ENDED, False)
            announce = sfn_status_events.detail(execution, ExecutionStatus.RUNNING.value)
        if client_token:
            tokens = execution.__dict__.setdefault(_TOKENS, [])
            tokens.append((client_token, date, time.monotonic()))
            del tokens[:-TOKENS_KEPT]
        if sfn_status_events._standard(execution):
            sfn_status_events.put_status_event(execution, announce)
        new.start()
        return date


# --- the API ---


def _describe_fields(execution: Execution) -> dict:
    fields = {"redriveCount": redrive_count(execution)}
    if redrive_date(execution) is not None:
        fields["redriveDate"] = redrive_date(execution)
    reason = not_redrivable_reason(execution)
    fields["redriveStatus"] = "NOT_REDRIVABLE" if reason else "REDRIVABLE"
    if reason:
        fields["redriveStatusReason"] = reason
    return fields


def _patch_api() -> None:
    def redrive_execution(self):
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        return ActionResult({"redriveDate": redrive(execution, self._get_param("clientToken"))})

    StepFunctionResponse.redrive_execution = redrive_execution

    original_describe = StepFunctionResponse.describe_execution

    def describe_execution(self):
        answer = original_describe(self)
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        result = answer.result
        if _status(execution) == ExecutionStatus.TIMED_OUT.value and execution.stop_date is not None:
            result["stopDate"] = execution.stop_date
        result.update(_describe_fields(execution))
        return answer

    StepFunctionResponse.describe_execution = describe_execution

    original_list = StepFunctionResponse.list_executions

    def list_executions(self):
        answer = original_list(self)
        redrive_filter = self._get_param("redriveFilter")
        backend = self.stepfunction_backend
        items = []
        for item in answer.result["executions"]:
            execution = backend.describe_execution(item["executionArn"])
            count = redrive_count(execution)
            if (redrive_filter == "REDRIVEN" and not count) or (redrive_filter == "NOT_REDRIVEN" and count):
                continue
            item["redriveCount"] = count
            if redrive_date(execution) is not None:
                item["redriveDate"] = redrive_date(execution)
            items.append(item)
        answer.result["executions"] = items
        return answer

    StepFunctionResponse.list_executions = list_executions


def redrive_executions() -> None:
    _record_states()
    _redrive_branches()
    _start_programs_at_their_plan()
    _track_attempts()
    _patch_api()
