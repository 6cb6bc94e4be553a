"""Patch 11. Callback tasks (`.waitForTaskToken`) as AWS runs them. moto's interpreter waits for the
token on an event (no polling: SendTaskSuccess/SendTaskFailure resume the task at once), but:

- SendTaskFailure drops `cause` (moto's handler never reads it): the task failed with Cause null.
  Here the cause reaches TaskFailed, the Catch's error output and ExecutionFailed, as on AWS.
- A token whose task has ended (succeeded, failed, timed out, or aborted with its Parallel branch
  or its execution) is still accepted: SendTaskFailure searches every execution and "succeeds";
  SendTaskSuccess/SendTaskHeartbeat answer InvalidToken once the execution ended but are accepted
  while it runs, and the ended task then writes TaskSucceeded into the history of whatever state
  runs by then. AWS answers TaskTimedOut ("the task token has either expired or the task associated
  with the token has already been closed"); here a token is closed once its task has its outcome
  (the first SendTaskSuccess/SendTaskFailure, the timeout, or the end of its branch or execution),
  and every later SendTask* answers TaskTimedOut. A token no task ever issued answers InvalidToken.
- A task waiting for its token does not notice that its Parallel branch or its execution was
  stopped: it keeps waiting (its threads too) until the token or its timeout arrives, and a
  stopped execution never writes ExecutionAborted. Here the wait ends when the task's environment
  stops or ends; sfn_aborted_states keeps that from writing any event.
- SendTaskSuccess with an output that is not JSON: AWS answers InvalidOutput; moto accepted it and
  the task then failed inside the interpreter.
- A redriven execution (sfn_redrive) runs in a new environment: the tokens of its earlier attempts
  are closed (TaskTimedOut), not unknown.
"""

from __future__ import annotations

import json
import threading

from moto.core.exceptions import AWSError
from moto.core.responses import EmptyResult
from moto.stepfunctions.exceptions import InvalidToken
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    CallbackOutcomeFailure,
    CallbackOutcomeSuccess,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

_CLOSED = "_sluice_closed"
# On an Execution: the environments of its earlier attempts (sfn_redrive), whose tokens are closed.
EARLIER_ENVIRONMENTS = "_sluice_earlier_environments"
_WATCHED = "_sluice_callback_endpoints"
_lock = threading.Lock()

TIMED_OUT = "Task Timed Out: 'Provided task does not exist anymore'"
INVALID = "'Invalid token'"  # moto's InvalidToken prefixes "Invalid Token: "


class TaskTimedOut(AWSError):
    TYPE = "TaskTimedOut"
    STATUS = 400


class InvalidOutput(AWSError):
    TYPE = "InvalidOutput"
    STATUS = 400


def _close(endpoint: CallbackEndpoint) -> bool:
    """Closes the token; False when it was closed already."""
    with _lock:
        if getattr(endpoint, _CLOSED, False):
            return False
        setattr(endpoint, _CLOSED, True)
        return True


def _find(backend: StepFunctionsParserBackend, token: str):
    """(execution, endpoint) of the task that issued the token, or (None, None)."""
    for execution in backend._get_executions():
        worker = getattr(execution, "exec_worker", None)
        envs = [getattr(worker, "env", None), *execution.__dict__.get(EARLIER_ENVIRONMENTS, ())]
        for env in envs:
            endpoint = env.callback_pool_manager.get(token) if env is not None else None
            if endpoint is not None:
                return execution, endpoint
    return None, None


def close_tokens_of(env: Environment) -> None:
    """Closes every token the environment's tasks issued (an attempt that ended for good)."""
    for endpoint in list(env.callback_pool_manager._pool.values()):
        _close(endpoint)


def _open_endpoint(backend: StepFunctionsParserBackend, token: str) -> CallbackEndpoint:
    execution, endpoint = _find(backend, token)
    if endpoint is None:
        raise InvalidToken(INVALID)
    if (
        getattr(endpoint, _CLOSED, False)
        or endpoint.consumer_error is not None
        or execution.exec_status != ExecutionStatus.RUNNING
    ):
        raise TaskTimedOut(TIMED_OUT)
    return endpoint


def _resolve(backend: StepFunctionsParserBackend, token: str, outcome) -> None:
    endpoint = _open_endpoint(backend, token)
    if not _close(endpoint):
        raise TaskTimedOut(TIMED_OUT)
    endpoint.notify(outcome=outcome)


def send_task_success(self, task_token, outcome):
    try:
        json.loads(outcome)
    except (TypeError, ValueError) as e:
        raise InvalidOutput("Invalid Output: the output is not valid JSON") from e
    _resolve(self, task_token, CallbackOutcomeSuccess(callback_id=task_token, output=outcome))


def send_task_failure(self, task_token, error=None, cause=None):
    _resolve(self, task_token, CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause))


def send_task_heartbeat(self, task_token):
    endpoint = _open_endpoint(self, task_token)
    endpoint.notify_heartbeat()


def _interrupt_watched(env: Environment) -> None:
    for endpoint in list(getattr(env, _WATCHED, ())):
        _close(endpoint)
        endpoint.interrupt_all()


def close_tokens_of_ended_tasks() -> None:
    StepFunctionsParserBackend.send_task_success = send_task_success
    StepFunctionsParserBackend.send_task_failure = send_task_failure
    StepFunctionsParserBackend.send_task_heartbeat = send_task_heartbeat

    def response_send_task_failure(self):
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = response_send_task_failure

    # The task closes its token whenever its wait ends (outcome, timeout, interruption): moto calls
    # interrupt_all on the endpoint once the integration pattern is done.
    original_interrupt = CallbackEndpoint.interrupt_all

    def interrupt_all(self):
        _close(self)
        original_interrupt(self)

    CallbackEndpoint.interrupt_all = interrupt_all

    # A task waiting for its token is watched by its environment: stopping or ending the environment
    # (its branch aborted, its execution stopped, its timeout) ends the wait.
    original_wait = StateTaskServiceCallback._eval_wait_for_task_token

    def eval_wait_for_task_token(self, env, timeout_seconds, callback_endpoint, heartbeat_endpoint):
        watched = env.__dict__.setdefault(_WATCHED, [])
        watched.append(callback_endpoint)
        try:
            if not env.is_running():
                _close(callback_endpoint)
                callback_endpoint.interrupt_all()
            return original_wait(self, env, timeout_seconds, callback_endpoint, heartbeat_endpoint)
        finally:
            watched.remove(callback_endpoint)

    StateTaskServiceCallback._eval_wait_for_task_token = eval_wait_for_task_token

    for name in ("set_stop", "set_ended", "set_error", "set_timed_out"):
        original = getattr(Environment, name)

        def patched(self, *args, _original=original, **kwargs):
            _original(self, *args, **kwargs)
            if not self.is_running():
                _interrupt_watched(self)

        setattr(Environment, name, patched)
