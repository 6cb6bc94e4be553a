"""Patch 15. A function that crashes or times out, on a chosen invocation, as Lambda and Step Functions
report it. A test endpoint at FUNCTION_FAULTS_PATH (not an AWS API):

    POST   {"kind": "crash" | "timeout", "function": NAME, "deployment": ID (optional), "nth": 1,
            "count": 1, "when": "before" | "after", "seconds": S, "errorType": ..., "message": ...}
           arms a fault on the invocations of function NAME (an unqualified name; a version or alias
           invoked counts as the function) whose payload belongs to deployment ID (its
           `deploymentId`, `finished.deploymentId` (Finish's older payload), or `detail.name` for an
           execution status event), or on any of them without `deployment`: invocations
           nth .. nth+count-1 of those (counted from when the fault was armed) fail.
           - crash: the runtime process exits. Lambda answers the Invoke with X-Amz-Function-Error:
             Unhandled and {"errorType": "Runtime.ExitError", "errorMessage": "RequestId: <id>
             Error: Runtime exited with error: exit status 1"}; Step Functions' lambda:invoke fails
             with that errorType as the error name and the payload as the cause.
           - timeout: the function runs into its configured Timeout. Lambda answers, after holding
             the call `seconds` (default 1; on AWS the Timeout itself), with Unhandled and
             {"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: <id> Error: Task timed
             out after <Timeout>.00 seconds"}, as Lambda reports a timeout today. With "errorType":
             null the payload is only {"errorMessage": "<time> <id> Task timed out after <Timeout>.00
             seconds"}, as older runtimes report it: Step Functions then fails with Lambda.Unknown
             (sfn_lambda_errors).
           `when`: "before" (default): the function never runs; "after": it runs to its end (its
           AWS calls land) and only then does the process exit or hang: its answer is lost.
    POST   {"kind": "task-timeout", "state": STATE, "deployment": ID (optional: the execution's
            name), "nth": 1, "count": 1, "seconds": S}
           the nth time the execution enters Task state STATE, the task runs into its
           TimeoutSeconds after `seconds` (default 0.2) whatever its invocation does: the task
           fails with States.Timeout (TaskTimedOut), while the invocation it started goes on and its
           AWS calls land later, as on AWS (a Step Functions timeout does not stop the function).
           Events the abandoned invocation would write after that are not written.
    Each POST answers 201 with the armed fault (it carries an `id`).
    GET    {"armed": [...], "fired": [{id, kind, function | state, deployment, invocation, at}]}
    DELETE disarms every fault and forgets what fired; answers 204.
"""

from __future__ import annotations

import copy
import datetime
import json
import threading
import time
import uuid

from local_aws import FUNCTION_FAULTS_PATH

from .endpoints import Controls
from .sfn_aborted_states import write_no_more

controls = Controls()

KINDS = ("crash", "timeout", "task-timeout")


def _positive_int(spec: dict, key: str, default: int) -> int:
    value = spec.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{key} must be an integer >= 1")
    return value


def arm(spec: dict) -> dict:
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    fault = {"id": uuid.uuid4().hex[:12], "kind": kind}
    key = "state" if kind == "task-timeout" else "function"
    if not isinstance(spec.get(key), str) or not spec[key]:
        raise ValueError(f"{key} is required for a {kind} fault")
    fault[key] = spec[key]
    deployment = spec.get("deployment")
    if deployment is not None and not isinstance(deployment, str):
        raise ValueError("deployment must be a deployment id (an execution name)")
    fault["deployment"] = deployment
    fault["nth"] = _positive_int(spec, "nth", 1)
    fault["count"] = _positive_int(spec, "count", 1)
    seconds = spec.get("seconds", 0.2 if kind == "task-timeout" else (1.0 if kind == "timeout" else 0.0))
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        raise ValueError("seconds must be a number >= 0")
    fault["seconds"] = float(seconds)
    if kind != "task-timeout":
        when = spec.get("when", "before")
        if when not in ("before", "after"):
            raise ValueError("when must be before or after")
        fault["when"] = when
        default_type = "Runtime.ExitError" if kind == "crash" else "Sandbox.Timedout"
        error_type = spec.get("errorType", default_type)
        if error_type is not None and not isinstance(error_type, str):
            raise ValueError("errorType must be a text or null")
        fault["errorType"] = error_type
        fault["message"] = spec.get("message")
    fault["seen"] = 0
    fault["fired"] = 0
    return controls.add(fault)


def _take(key: str, name: str, deployment: str | None, kind_ok) -> dict | None:
    """The fault this invocation (or task) suffers, counting it against every fault that wants it."""
    with controls.lock:
        taken = None
        for fault in list(controls.armed):
            if not kind_ok(fault["kind"]) or fault[key] != name:
                continue
            if fault["deployment"] is not None and fault["deployment"] != deployment:
                continue
            fault["seen"] += 1
            if taken is None and fault["nth"] <= fault["seen"] < fault["nth"] + fault["count"]:
                fault["fired"] += 1
                taken = copy.deepcopy(fault)
                controls.fired.append(
                    {
                        "id": fault["id"],
                        "kind": fault["kind"],
                        key: name,
                        "deployment": deployment,
                        "invocation": fault["seen"],
                        "at": time.time(),
                    }
                )
            if fault["seen"] >= fault["nth"] + fault["count"] - 1:
                controls.armed.remove(fault)
        return taken


def deployment_of(payload: bytes) -> str | None:
    """The deployment an invocation is about: its payload's deploymentId (phases, hooks, and Finish
    given the deployment itself), finished.deploymentId (Finish's older payload, kept: harmless) or
    detail.name (an execution status event for reconcile)."""
    try:
        doc = json.loads(payload or b"{}")
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    for path in (("deploymentId",), ("finished", "deploymentId"), ("detail", "name")):
        value = doc
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value
    return None


def take_invocation_fault(function: str, payload: bytes) -> dict | None:
    """For lambda_invoke: the crash or timeout this invocation of `function` suffers, if any."""
    if not controls.any_armed():
        return None
    return _take("function", function, deployment_of(payload), lambda kind: kind != "task-timeout")


def failure_payload(fault: dict, timeout_seconds: int) -> bytes:
    """What Lambda answers an invocation that crashed or timed out with."""
    request_id = str(uuid.uuid4())
    if fault["kind"] == "crash":
        message = fault["message"] or f"RequestId: {request_id} Error: Runtime exited with error: exit status 1"
    elif fault["errorType"] is not None:
        message = (
            fault["message"] or f"RequestId: {request_id} Error: Task timed out after {timeout_seconds:.2f} seconds"
        )
    else:
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        message = fault["message"] or f"{now} {request_id} Task timed out after {timeout_seconds:.2f} seconds"
    body = (
        {"errorMessage": message}
        if fault["errorType"] is None
        else {"errorType": fault["errorType"], "errorMessage": message}
    )
    return json.dumps(body).encode()


# --- Step Functions: a task that runs into its TimeoutSeconds ----------------------------------


def time_out_tasks() -> None:
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask

    original = ExecutionState._evaluate_with_timeout

    def evaluate_with_timeout(self, env) -> None:
        fault = None
        if isinstance(self, StateTask):
            if controls.any_armed():
                execution = env.states.context_object.context_object_data["Execution"]["Name"]
                fault = _take("state", self.name, execution, lambda kind: kind == "task-timeout")
        if fault is None:
            return original(self, env)
        # As moto's own evaluation, but the task's time is up after fault["seconds"].
        self.timeout.eval(env=env)
        env.stack.pop()
        frame = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = copy.deepcopy(env.stack)

        def run():
            try:
                self._eval_execution(frame)
            except Exception:
                pass  # the task timed out already: nobody reads its outcome

        context = frame.event_history_context
        threading.Thread(target=run, name=f"timed-out-{self.name}", daemon=True).start()
        # The task is scheduled and started (its history events) within milliseconds; then its time
        # runs out, or the execution stops.
        env.program_state_event.wait(fault["seconds"])
        write_no_more(context)  # the abandoned invocation
        frame.set_ended()
        env.close_frame(frame)
        raise EvalTimeoutError()

    ExecutionState._evaluate_with_timeout = evaluate_with_timeout


ENDPOINT = controls.endpoint(FUNCTION_FAULTS_PATH, arm)
