"""Callback tasks (`lambda:invoke.waitForTaskToken`) and Parallel states behave as on AWS: one test per
behaviour sluice relies on. The launcher patches involved: sfn_task_tokens, sfn_aborted_states and
sfn_branch_errors. Expected histories are AWS's: the event lists of callback tasks and of a failing
callback task in a Parallel recorded from AWS (LocalStack's validated snapshots), and the Parallel
state's events from the Step Functions documentation.

Waits are scaled (the session stack); callbacks and timeouts are not: they run in real time."""

import collections
import json
import time
import uuid

import botocore.exceptions
import pytest

CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"

# A callback Task that gets its token: AWS writes TaskSubmitted once the Lambda returned.
CALLBACK_TASK_SUCCEEDED = [
    "TaskStateEntered",
    "TaskScheduled",
    "TaskStarted",
    "TaskSubmitted",
    "TaskSucceeded",
    "TaskStateExited",
]


@pytest.fixture(scope="module")
def function(stack):
    """A demo function that answers at once ({"order": <payload's order>, "status": "accepted"})."""
    name = f"callback-{uuid.uuid4().hex[:8]}"
    arn = stack.create_function(name, "demo-ok")
    stack.lam.invoke(FunctionName=name, Payload=b"{}")  # started once: later invokes are warm
    return arn


def callback(function: str, **fields) -> dict:
    """A callback task passing its token to the function (the payload's `token`)."""
    return {
        "Type": "Task",
        "Resource": CALLBACK,
        "Parameters": {"FunctionName": function, "Payload": {"token.$": "$$.Task.Token"}},
        **fields,
    }


def start(stack, definition: dict, execution_input: dict | None = None) -> str:
    machine = stack.sfn.create_state_machine(
        name=f"callbacks-{uuid.uuid4().hex[:8]}", roleArn=stack.role(), definition=json.dumps(definition)
    )["stateMachineArn"]
    return stack.sfn.start_execution(stateMachineArn=machine, input=json.dumps(execution_input or {}))["executionArn"]


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def wait_for_event(stack, arn: str, predicate, timeout: float = 10) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for e in stack.execution_history(arn):
            if predicate(e):
                return e
        time.sleep(0.02)
    raise AssertionError(f"no such event in {arn} within {timeout}s")


def entered(name: str):
    return lambda e: e.get("stateEnteredEventDetails", {}).get("name") == name


def exited(name: str):
    return lambda e: e.get("stateExitedEventDetails", {}).get("name") == name


def refused(call) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call()
    return error.value.response["Error"]["Code"]


def test_the_task_waits_for_its_token_after_the_lambda_returned(stack, function):
    arn = start(stack, {"StartAt": "Watch", "States": {"Watch": {**callback(function), "End": True}}})
    token = stack.task_token(arn, "Watch")
    submitted = wait_for_event(stack, arn, lambda e: e["type"] == "TaskSubmitted")
    # The Lambda ran (its answer is in TaskSubmitted), and the task keeps waiting.
    assert json.loads(submitted["taskSubmittedEventDetails"]["output"])["Payload"]["status"] == "accepted"
    time.sleep(0.5)
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    stack.sfn.send_task_success(taskToken=token, output=json.dumps({"verdict": "healthy"}))
    done = stack.wait(arn, timeout=10)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"verdict": "healthy"}, "the task's output is the one sent"
    assert types(stack.execution_history(arn)) == ["ExecutionStarted", *CALLBACK_TASK_SUCCEEDED, "ExecutionSucceeded"]


def test_send_task_failure_fails_the_task_with_its_error_and_cause_caught_by_name(stack, function):
    arn = start(
        stack,
        {
            "StartAt": "Watch",
            "States": {
                "Watch": {
                    **callback(function),
                    "Catch": [
                        {"ErrorEquals": ["SomethingElse"], "Next": "Wrong"},
                        {"ErrorEquals": ["AlarmFired"], "Next": "RollBack"},
                    ],
                    "End": True,
                },
                "Wrong": {"Type": "Fail", "Error": "WrongCatcher"},
                "RollBack": {"Type": "Pass", "End": True},
            },
        },
    )
    token = stack.task_token(arn, "Watch")
    wait_for_event(stack, arn, lambda e: e["type"] == "TaskSubmitted")
    stack.sfn.send_task_failure(taskToken=token, error="AlarmFired", cause="orders-errors went to ALARM")
    done = stack.wait(arn, timeout=10)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"Error": "AlarmFired", "Cause": "orders-errors went to ALARM"}
    events = stack.execution_history(arn)
    [failed] = [e for e in events if e["type"] == "TaskFailed"]
    details = failed["taskFailedEventDetails"]
    assert (details["error"], details["cause"]) == ("AlarmFired", "orders-errors went to ALARM")
    # As AWS records a caught callback failure: the task exits, then the catcher's state runs.
    assert types(events) == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskFailed",
        "TaskStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]


def test_timeout_seconds_path_times_the_task_out_with_states_timeout(stack, function):
    arn = start(
        stack,
        {
            "StartAt": "Watch",
            "States": {
                "Watch": {
                    **callback(function),
                    "TimeoutSecondsPath": "$.bakeSeconds",
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "BakeOver"}],
                    "End": True,
                },
                "BakeOver": {"Type": "Pass", "End": True},
            },
        },
        {"bakeSeconds": 1},
    )
    done = stack.wait(arn, timeout=10)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"])["Error"] == "States.Timeout"
    events = stack.execution_history(arn)
    assert types(events) == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskTimedOut",
        "TaskStateExited",
        "PassStateEntered",
        "PassStateExited",
        "ExecutionSucceeded",
    ]
    waited = events[5]["timestamp"] - events[1]["timestamp"]
    assert 1 <= waited.total_seconds() < 3, waited
    assert events[5]["taskTimedOutEventDetails"]["error"] == "States.Timeout"


def test_a_token_whose_task_ended_is_refused(stack, function):
    sfn = stack.client("stepfunctions", retries={"total_max_attempts": 1})
    # Two callback tasks in a row: the first one's token once it succeeded, the execution running.
    arn = start(
        stack,
        {
            "StartAt": "First",
            "States": {
                "First": {**callback(function), "Next": "Second"},
                "Second": {**callback(function), "End": True},
            },
        },
    )
    first = stack.task_token(arn, "First")
    sfn.send_task_success(taskToken=first, output="{}")
    assert refused(lambda: sfn.send_task_success(taskToken=first, output="{}")) == "TaskTimedOut"
    second = stack.task_token(arn, "Second")
    for call in (
        lambda: sfn.send_task_success(taskToken=first, output="{}"),
        lambda: sfn.send_task_failure(taskToken=first, error="Late"),
        lambda: sfn.send_task_heartbeat(taskToken=first),
    ):
        assert refused(call) == "TaskTimedOut"
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING", "a refused token changes nothing"
    assert refused(lambda: sfn.send_task_success(taskToken=second, output="not json")) == "InvalidOutput"
    sfn.send_task_success(taskToken=second, output='{"n": 2}')
    assert json.loads(stack.wait(arn, timeout=10)["output"]) == {"n": 2}
    # The execution ended: the last token too.
    assert refused(lambda: sfn.send_task_failure(taskToken=second, error="Late")) == "TaskTimedOut"
    assert types(stack.execution_history(arn)) == [
        "ExecutionStarted",
        *CALLBACK_TASK_SUCCEEDED,
        *CALLBACK_TASK_SUCCEEDED,
        "ExecutionSucceeded",
    ]

    # A task that timed out.
    arn = start(
        stack, {"StartAt": "Watch", "States": {"Watch": {**callback(function), "TimeoutSeconds": 1, "End": True}}}
    )
    token = stack.task_token(arn, "Watch")
    assert stack.wait(arn, timeout=10)["status"] == "FAILED"
    assert refused(lambda: sfn.send_task_success(taskToken=token, output="{}")) == "TaskTimedOut"
    assert refused(lambda: sfn.send_task_failure(taskToken=token, error="Late")) == "TaskTimedOut"

    # A token no task issued.
    assert refused(lambda: sfn.send_task_success(taskToken="no-such-token", output="{}")) == "InvalidToken"


def test_a_lambda_error_fails_the_callback_task_at_once(stack):
    name = f"callback-broken-{uuid.uuid4().hex[:8]}"
    function = stack.create_function(name, "demo-broken")
    started = time.time()
    arn = start(
        stack, {"StartAt": "Watch", "States": {"Watch": {**callback(function), "TimeoutSeconds": 300, "End": True}}}
    )
    done = stack.wait(arn, timeout=20)
    assert time.time() - started < 10, "the task did not wait for a token"
    assert (done["status"], done["error"]) == ("FAILED", "OrderStoreUnavailable")
    assert types(stack.execution_history(arn)) == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskFailed",
        "ExecutionFailed",
    ]


def parallel(function: str, **fields) -> dict:
    """Branch A bakes (a Wait); branch B watches (a callback task)."""
    return {
        "Type": "Parallel",
        "Branches": [
            {"StartAt": "Bake", "States": {"Bake": {"Type": "Wait", "Seconds": 100000, "End": True}}},
            {"StartAt": "Watch", "States": {"Watch": {**callback(function), "End": True}}},
        ],
        **fields,
    }


def test_send_task_failure_fails_a_parallel_at_once_and_cancels_the_other_branch(stack, function):
    arn = start(
        stack,
        {
            "StartAt": "Deploy",
            "States": {
                "Deploy": parallel(function, Catch=[{"ErrorEquals": ["AlarmFired"], "Next": "RollBack"}], End=True),
                "RollBack": {"Type": "Pass", "End": True},
            },
        },
    )
    token = stack.task_token(arn, "Watch")
    wait_for_event(stack, arn, entered("Bake"))
    wait_for_event(stack, arn, lambda e: e["type"] == "TaskSubmitted")
    sent = time.time()
    stack.sfn.send_task_failure(taskToken=token, error="AlarmFired", cause="errors")
    done = stack.wait(arn, timeout=10)
    assert done["status"] == "SUCCEEDED", "the Catch ran; the 100000 s Wait did not hold the execution"
    events = stack.execution_history(arn)
    rollback = next(e for e in events if entered("RollBack")(e))
    latency = rollback["timestamp"].timestamp() - sent
    print(f"SendTaskFailure -> Catch state entered: {latency * 1000:.0f} ms")
    assert latency < 0.5, latency
    assert json.loads(done["output"]) == {"Error": "AlarmFired", "Cause": "errors"}

    # The Wait was cut short: no WaitStateExited, now or later; the branches end with <Type>StateAborted.
    time.sleep(0.5)
    events = stack.execution_history(arn)
    got = types(events)
    assert collections.Counter(got) == collections.Counter(
        [
            "ExecutionStarted",
            "ParallelStateEntered",
            "ParallelStateStarted",
            "WaitStateEntered",
            "WaitStateAborted",
            *CALLBACK_TASK_SUCCEEDED[:4],
            "TaskFailed",
            "TaskStateAborted",
            "ParallelStateFailed",
            "ParallelStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded",
        ]
    ), got
    order = ["TaskFailed", "TaskStateAborted", "ParallelStateFailed", "ParallelStateExited", "PassStateEntered"]
    assert [t for t in got if t in order] == order
    assert got.index("WaitStateAborted") < got.index("ParallelStateFailed")
    assert refused(lambda: stack.sfn.send_task_success(taskToken=token, output="{}")) == "TaskTimedOut"


def test_a_parallel_ends_with_both_outputs_when_branch_a_sends_branch_bs_token(stack, function):
    def definition(**fields):
        return {
            "StartAt": "Deploy",
            "States": {
                "Deploy": {
                    "Type": "Parallel",
                    "Branches": [
                        {
                            "StartAt": "Bake",
                            "States": {
                                "Bake": {"Type": "Wait", "Seconds": 1, "Next": "EndBake"},
                                "EndBake": {
                                    "Type": "Task",
                                    "Resource": "arn:aws:states:::lambda:invoke",
                                    "Parameters": {"FunctionName": function, "Payload": {"order": 7}},
                                    "ResultSelector": {"baked.$": "$.Payload"},
                                    "End": True,
                                },
                            },
                        },
                        {"StartAt": "Watch", "States": {"Watch": {**callback(function), "End": True}}},
                    ],
                    **fields,
                    "End": True,
                }
            },
        }

    outputs = []
    for fields in ({}, {"OutputPath": "$[0]"}):
        arn = start(stack, definition(**fields))
        token = stack.task_token(arn, "Watch")
        # Branch A's last task ends the bake: it sends branch B's token (the test does it for it).
        wait_for_event(stack, arn, exited("EndBake"))
        time.sleep(0.2)
        assert stack.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING", "the Parallel waits for B"
        stack.sfn.send_task_success(taskToken=token, output=json.dumps({"watched": "no alarm"}))
        done = stack.wait(arn, timeout=10)
        assert done["status"] == "SUCCEEDED"
        outputs.append(json.loads(done["output"]))
        events = stack.execution_history(arn)
        got = types(events)
        # Parallel: Entered, Started, Succeeded, Exited; A: Wait 2 + Task 5; B: callback task 6.
        assert collections.Counter(got) == collections.Counter(
            [
                "ExecutionStarted",
                "ParallelStateEntered",
                "ParallelStateStarted",
                "WaitStateEntered",
                "WaitStateExited",
                "TaskStateEntered",
                "TaskScheduled",
                "TaskStarted",
                "TaskSucceeded",
                "TaskStateExited",
                *CALLBACK_TASK_SUCCEEDED,
                "ParallelStateSucceeded",
                "ParallelStateExited",
                "ExecutionSucceeded",
            ]
        ), got
        assert got[-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]
    baked = {"baked": {"order": 7, "status": "accepted"}}
    assert outputs == [[baked, {"watched": "no alarm"}], baked]


def test_a_parallel_fails_with_its_branchs_states_timeout_and_catches_it(stack, function):
    arn = start(
        stack,
        {
            "StartAt": "Deploy",
            "States": {
                "Deploy": {
                    "Type": "Parallel",
                    "Branches": [
                        {"StartAt": "Bake", "States": {"Bake": {"Type": "Wait", "Seconds": 100000, "End": True}}},
                        {
                            "StartAt": "Watch",
                            "States": {"Watch": {**callback(function), "TimeoutSeconds": 1, "End": True}},
                        },
                    ],
                    # States.TaskFailed does not match States.Timeout.
                    "Catch": [
                        {"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"},
                        {"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"},
                    ],
                    "End": True,
                },
                "Wrong": {"Type": "Fail", "Error": "WrongCatcher"},
                "TimedOut": {"Type": "Pass", "End": True},
            },
        },
    )
    done = stack.wait(arn, timeout=10)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["Error"] == "States.Timeout"
    assert "TaskTimedOut" in types(stack.execution_history(arn))


def test_stop_execution_ends_a_task_waiting_for_its_token(stack, function):
    arn = start(stack, {"StartAt": "Watch", "States": {"Watch": {**callback(function), "End": True}}})
    token = stack.task_token(arn, "Watch")
    wait_for_event(stack, arn, lambda e: e["type"] == "TaskSubmitted")
    stack.sfn.stop_execution(executionArn=arn, error="Halted", cause="by the test")
    # The interpreter ends the execution: ExecutionAborted is its last event, and nothing follows it.
    last = wait_for_event(stack, arn, lambda e: e["type"] == "ExecutionAborted", timeout=5)
    assert last["executionAbortedEventDetails"] == {"error": "Halted", "cause": "by the test"}
    assert refused(lambda: stack.sfn.send_task_success(taskToken=token, output="{}")) == "TaskTimedOut"
    time.sleep(0.3)
    assert types(stack.execution_history(arn)) == [
        "ExecutionStarted",
        *CALLBACK_TASK_SUCCEEDED[:4],
        "ExecutionAborted",
    ]
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
