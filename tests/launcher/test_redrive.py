"""RedriveExecution as AWS documents it (launcher/sfn_redrive.py): a FAILED, ABORTED or TIMED_OUT
execution restarts from its unsuccessful state with the input that state had, the states that
succeeded are not run again (in a Parallel, only the branches that did not succeed run again), and
the execution reports it: DescribeExecution's and ListExecutions' redrive fields, ExecutionRedriven
in the history, $$.Execution.RedriveCount / RedriveTime, and the status events (RUNNING again, then
the new end). Succeeded and running executions are refused (ExecutionNotRedrivable).

Waits are scaled (the session stack); an execution's TimeoutSeconds is not."""

import datetime
import json
import time
import uuid

import botocore.exceptions
import pytest

INVOKE = "arn:aws:states:::lambda:invoke"
CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"


@pytest.fixture(scope="module")
def function(stack):
    """A demo function ({"order": <payload's order>, "status": "accepted"}), started once."""
    name = f"redrive-{uuid.uuid4().hex[:8]}"
    stack.create_function(name, "demo-ok")
    stack.lam.invoke(FunctionName=name, Payload=b"{}")
    return name


class Machine:
    """A state machine of the test's own, and every status event its executions emit (through an
    EventBridge rule to an SQS queue, as a consumer receives them)."""

    def __init__(self, stack, definition: dict):
        self.stack = stack
        self.arn = stack.sfn.create_state_machine(
            name=f"redrive-{uuid.uuid4().hex[:8]}", roleArn=stack.role(), definition=json.dumps(definition)
        )["stateMachineArn"]
        self.sqs = stack.client("sqs")
        self.queue = self.sqs.create_queue(QueueName=f"redrive-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        rule = f"redrive-{uuid.uuid4().hex[:8]}"
        pattern = {"source": ["aws.states"], "detail": {"stateMachineArn": [self.arn]}}
        stack.events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
        stack.events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])
        self.received: list[dict] = []

    def start(self, execution_input: dict | None = None) -> str:
        return self.stack.sfn.start_execution(stateMachineArn=self.arn, input=json.dumps(execution_input or {}))[
            "executionArn"
        ]

    def status_events(self, count: int, timeout: float = 10) -> list[dict]:
        """The details of the first `count` status events, in the order they were sent."""
        deadline = time.time() + timeout
        while len(self.received) < count and time.time() < deadline:
            for m in self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", []):
                self.received.append(json.loads(m["Body"])["detail"])
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
            time.sleep(0.05)
        return self.received


def history(stack, arn: str) -> list[dict]:
    return stack.execution_history(arn)


def after_redrive(events: list[dict], nth: int = 1) -> list[dict]:
    """The events after the nth ExecutionRedriven."""
    indexes = [i for i, e in enumerate(events) if e["type"] == "ExecutionRedriven"]
    return events[indexes[nth - 1] + 1 :]


def entries(events: list[dict], state: str) -> list[dict]:
    return [e for e in events if e.get("stateEnteredEventDetails", {}).get("name") == state]


def wait_for_entries(stack, arn: str, state: str, count: int, timeout: float = 10) -> list[dict]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = entries(history(stack, arn), state)
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{state} not entered {count} times in {arn} within {timeout}s")


def refused(call) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call()
    return error.value.response["Error"]["Code"], error.value.response["Error"].get("Message", "")


def redrive_fields(described: dict) -> dict:
    return {k: v for k, v in described.items() if k.startswith("redrive")}


def test_a_failed_task_is_redriven_from_that_task_and_can_succeed(stack, function):
    machine = Machine(
        stack,
        {
            "StartAt": "Prepare",
            "States": {
                "Prepare": {"Type": "Pass", "Result": {"order": "o-1"}, "ResultPath": "$.prepared", "Next": "Call"},
                "Call": {
                    "Type": "Task",
                    "Resource": INVOKE,
                    "Parameters": {
                        "FunctionName": function,
                        "Payload": {"order.$": "$.prepared.order", "redriveCount.$": "$$.Execution.RedriveCount"},
                    },
                    "ResultSelector": {"status.$": "$.Payload.status"},
                    "ResultPath": "$.call",
                    "Next": "Settle",
                },
                # Keeps the redriven execution running long enough to be described running.
                "Settle": {"Type": "Wait", "Seconds": 50, "End": True},
            },
        },
    )
    stack.function_faults.fail_invocation(function, "crash", nth=1)
    arn = machine.start({"n": 1})
    failed = stack.wait(arn, timeout=30)
    assert (failed["status"], failed["error"]) == ("FAILED", "Runtime.ExitError")
    assert redrive_fields(failed) == {"redriveCount": 0, "redriveStatus": "REDRIVABLE"}

    answer = stack.sfn.redrive_execution(executionArn=arn)
    running = stack.sfn.describe_execution(executionArn=arn)
    assert running["status"] == "RUNNING" and "stopDate" not in running and "error" not in running
    assert running["startDate"] == failed["startDate"] and running["input"] == failed["input"]
    assert redrive_fields(running) == {
        "redriveCount": 1,
        "redriveDate": answer["redriveDate"],
        "redriveStatus": "NOT_REDRIVABLE",
        "redriveStatusReason": "Execution is RUNNING and cannot be redriven",
    }
    done = stack.wait(arn, timeout=30)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"n": 1, "prepared": {"order": "o-1"}, "call": {"status": "accepted"}}
    assert redrive_fields(done) == {
        "redriveCount": 1,
        "redriveDate": answer["redriveDate"],
        "redriveStatus": "NOT_REDRIVABLE",
        "redriveStatusReason": "Execution is SUCCEEDED and cannot be redriven",
    }

    events = history(stack, arn)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1)), "one history, numbered on"
    assert len(entries(events, "Prepare")) == 1, "the state that succeeded is not run again"
    first, again = entries(events, "Call")
    assert again["stateEnteredEventDetails"]["input"] == first["stateEnteredEventDetails"]["input"]
    ended = next(e for e in events if e["type"] == "ExecutionFailed")
    redriven = events[events.index(ended) + 1]
    assert redriven["type"] == "ExecutionRedriven"
    assert redriven["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert redriven["previousEventId"] == ended["id"]
    assert after_redrive(events)[0] == again and again["previousEventId"] == redriven["id"]
    scheduled = [
        json.loads(e["taskScheduledEventDetails"]["parameters"]) for e in events if e["type"] == "TaskScheduled"
    ]
    assert [p["Payload"]["redriveCount"] for p in scheduled] == [0, 1], "$$.Execution.RedriveCount"
    assert events[-1]["type"] == "ExecutionSucceeded"

    listed = {
        f: [
            e["executionArn"]
            for e in stack.sfn.list_executions(stateMachineArn=machine.arn, redriveFilter=f)["executions"]
        ]
        for f in ("REDRIVEN", "NOT_REDRIVEN")
    }
    assert listed == {"REDRIVEN": [arn], "NOT_REDRIVEN": []}
    item = stack.sfn.list_executions(stateMachineArn=machine.arn)["executions"][0]
    assert (item["redriveCount"], item["redriveDate"]) == (1, answer["redriveDate"])

    sent = machine.status_events(4)
    assert [(d["status"], d["redriveCount"], d["redriveStatus"]) for d in sent] == [
        ("RUNNING", 0, "NOT_REDRIVABLE"),
        ("FAILED", 0, "REDRIVABLE"),
        ("RUNNING", 1, "REDRIVE_IN_PROGRESS"),
        ("SUCCEEDED", 1, "NOT_REDRIVABLE"),
    ]
    redrive_ms = int(answer["redriveDate"].timestamp() * 1000)
    assert [d["redriveDate"] for d in sent] == [None, None, redrive_ms, redrive_ms]
    assert [d["redriveStatusReason"] for d in sent] == [
        "Execution is RUNNING and cannot be redriven",
        "Execution is FAILED and is redrivable",
        "Execution is RUNNING and cannot be redriven",
        "Execution is SUCCEEDED and cannot be redriven",
    ]
    start_ms = int(failed["startDate"].timestamp() * 1000)
    assert {d["startDate"] for d in sent} == {start_ms}, "the same execution, started once"
    assert sent[2]["stopDate"] is None and sent[2]["error"] is None
    assert json.loads(sent[3]["output"]) == json.loads(done["output"])


def test_a_stopped_wait_is_redriven_at_that_wait_and_can_be_stopped_again(stack):
    machine = Machine(
        stack,
        {
            "StartAt": "Before",
            "States": {
                "Before": {"Type": "Pass", "Result": {"step": "before"}, "Next": "Hold"},
                "Hold": {"Type": "Wait", "Seconds": 100, "Next": "After"},
                "After": {"Type": "Pass", "End": True},
            },
        },
    )
    arn = machine.start()
    wait_for_entries(stack, arn, "Hold", 1)
    stack.sfn.stop_execution(executionArn=arn, error="Halt", cause="first stop")
    stopped = stack.sfn.describe_execution(executionArn=arn)
    assert stopped["status"] == "ABORTED" and stopped["redriveStatus"] == "REDRIVABLE"

    stack.sfn.redrive_execution(executionArn=arn)
    wait_for_entries(stack, arn, "Hold", 2)
    stack.sfn.stop_execution(executionArn=arn, error="Halt", cause="second stop")
    again = stack.sfn.describe_execution(executionArn=arn)
    assert (again["status"], again["cause"], again["redriveCount"]) == ("ABORTED", "second stop", 1)

    started = time.time()
    stack.sfn.redrive_execution(executionArn=arn)
    done = stack.wait(arn, timeout=30)
    assert done["status"] == "SUCCEEDED" and done["redriveCount"] == 2
    assert time.time() - started >= 100 * stack.time_scale * 0.9, "the Wait waits again"
    assert json.loads(done["output"]) == {"step": "before"}, "the Wait's recorded input went on"

    events = history(stack, arn)
    holds = entries(events, "Hold")
    assert len(holds) == 3 and len({h["stateEnteredEventDetails"]["input"] for h in holds}) == 1
    assert len(entries(events, "Before")) == 1 and len(entries(events, "After")) == 1
    assert [e["type"] for e in events if e["type"].startswith("Execution")] == [
        "ExecutionStarted",
        "ExecutionAborted",
        "ExecutionRedriven",
        "ExecutionAborted",
        "ExecutionRedriven",
        "ExecutionSucceeded",
    ]
    assert [e["type"] for e in after_redrive(events, 1)][:2] == ["WaitStateEntered", "ExecutionAborted"]
    assert [(d["status"], d["redriveCount"]) for d in machine.status_events(6)] == [
        ("RUNNING", 0),
        ("ABORTED", 0),
        ("RUNNING", 1),
        ("ABORTED", 1),
        ("RUNNING", 2),
        ("SUCCEEDED", 2),
    ]
    assert [d["cause"] for d in machine.received if d["status"] == "ABORTED"] == ["first stop", "second stop"]


def test_a_parallel_reruns_only_the_branches_that_did_not_succeed(stack, function):
    machine = Machine(
        stack,
        {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Parallel",
                    "End": True,
                    "Branches": [
                        {"StartAt": "A1", "States": {"A1": {"Type": "Pass", "Result": "a", "End": True}}},
                        {
                            "StartAt": "B1",
                            "States": {
                                "B1": {"Type": "Pass", "Result": {"b": 1}, "Next": "B2"},
                                "B2": {"Type": "Wait", "Seconds": 100, "Next": "B3"},
                                "B3": {"Type": "Pass", "Result": "b", "End": True},
                            },
                        },
                        {
                            "StartAt": "C0",
                            "States": {
                                "C0": {"Type": "Wait", "Seconds": 10, "Next": "C1"},
                                # Its function crashes the first time only.
                                "C1": {
                                    "Type": "Task",
                                    "Resource": INVOKE,
                                    "Parameters": {"FunctionName": function, "Payload": {}},
                                    "Next": "C2",
                                },
                                "C2": {
                                    "Type": "Pass",
                                    "Parameters": {
                                        "count.$": "$$.Execution.RedriveCount",
                                        "time.$": "$$.Execution.RedriveTime",
                                    },
                                    "End": True,
                                },
                            },
                        },
                    ],
                }
            },
        },
    )
    stack.function_faults.fail_invocation(function, "crash", nth=1)
    arn = machine.start({"n": 1})
    failed = stack.wait(arn, timeout=30)
    assert (failed["status"], failed["error"]) == ("FAILED", "Runtime.ExitError")
    first = history(stack, arn)
    assert "WaitStateAborted" in [e["type"] for e in first], "B2 was cut short"

    answer = stack.sfn.redrive_execution(executionArn=arn)
    done = stack.wait(arn, timeout=30)
    assert done["status"] == "SUCCEEDED"
    output = json.loads(done["output"])
    assert output[:2] == ["a", "b"]
    assert output[2]["count"] == 1
    redrive_time = datetime.datetime.strptime(output[2]["time"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert abs(redrive_time - answer["redriveDate"]) < datetime.timedelta(milliseconds=1), "RedriveTime"
    assert output[2]["time"].endswith("Z")

    events = history(stack, arn)
    redriven = after_redrive(events)
    names = [e["stateEnteredEventDetails"]["name"] for e in redriven if "stateEnteredEventDetails" in e]
    assert names[0] == "Fan" and sorted(names[1:]) == ["B2", "B3", "C1", "C2"], (
        "A succeeded and B1 and C0 exited: not run again"
    )
    assert entries(redriven, "Fan")[0]["stateEnteredEventDetails"]["input"] == '{"n":1}'
    assert (
        entries(redriven, "B2")[0]["stateEnteredEventDetails"]["input"]
        == entries(first, "B2")[0]["stateEnteredEventDetails"]["input"]
        == '{"b":1}'
    )
    assert [e["type"] for e in redriven][-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]


def test_a_fail_state_fails_again_when_redriven(stack):
    machine = Machine(
        stack,
        {
            "StartAt": "Check",
            "States": {
                "Check": {"Type": "Pass", "Parameters": {"count.$": "$$.Execution.RedriveCount"}, "Next": "Stop"},
                "Stop": {"Type": "Fail", "Error": "Boom", "Cause": "always"},
            },
        },
    )
    arn = machine.start()
    assert stack.wait(arn)["status"] == "FAILED"
    for count in (1, 2):
        stack.sfn.redrive_execution(executionArn=arn)
        again = stack.wait(arn)
        assert (again["status"], again["error"], again["cause"], again["redriveCount"]) == (
            "FAILED",
            "Boom",
            "always",
            count,
        )
        assert again["redriveStatus"] == "REDRIVABLE"
        assert [e["type"] for e in after_redrive(history(stack, arn), count)] == ["FailStateEntered", "ExecutionFailed"]
    events = history(stack, arn)
    (check,) = entries(events, "Check")
    assert check["stateEnteredEventDetails"]["input"] == "{}"
    exited = next(e for e in events if e["type"] == "PassStateExited")
    assert json.loads(exited["stateExitedEventDetails"]["output"]) == {"count": 0}, "RedriveCount is 0 at first"


def test_a_timed_out_execution_is_redriven_with_its_timeout_again(stack):
    # TimeoutSeconds is not scaled (1 s); the Wait takes 500 x time_scale.
    machine = Machine(
        stack,
        {
            "TimeoutSeconds": 1,
            "StartAt": "First",
            "States": {
                "First": {"Type": "Pass", "Next": "Long"},
                "Long": {"Type": "Wait", "Seconds": 500, "End": True},
            },
        },
    )
    arn = machine.start()
    timed_out = stack.wait(arn, timeout=30)
    assert timed_out["status"] == "TIMED_OUT" and timed_out["stopDate"] >= timed_out["startDate"]
    assert timed_out["redriveStatus"] == "REDRIVABLE"
    started = time.time()
    stack.sfn.redrive_execution(executionArn=arn)
    again = stack.wait(arn, timeout=30)
    assert again["status"] == "TIMED_OUT" and again["redriveCount"] == 1
    assert time.time() - started >= 0.9, "the execution's timeout starts over"
    events = history(stack, arn)
    assert len(entries(events, "First")) == 1 and len(entries(events, "Long")) == 2
    assert [e["type"] for e in after_redrive(events)] == ["WaitStateEntered", "ExecutionTimedOut"]


def test_succeeded_running_and_unknown_executions_are_not_redriven(stack):
    succeeds = Machine(stack, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    arn = succeeds.start()
    assert stack.wait(arn)["status"] == "SUCCEEDED"
    assert refused(lambda: stack.sfn.redrive_execution(executionArn=arn)) == (
        "ExecutionNotRedrivable",
        "Execution is SUCCEEDED and cannot be redriven",
    )
    assert redrive_fields(stack.sfn.describe_execution(executionArn=arn)) == {
        "redriveCount": 0,
        "redriveStatus": "NOT_REDRIVABLE",
        "redriveStatusReason": "Execution is SUCCEEDED and cannot be redriven",
    }
    assert len(history(stack, arn)) == 4, "nothing written"

    waits = Machine(stack, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 500, "End": True}}})
    running = waits.start()
    assert refused(lambda: stack.sfn.redrive_execution(executionArn=running)) == (
        "ExecutionNotRedrivable",
        "Execution is RUNNING and cannot be redriven",
    )
    assert stack.sfn.describe_execution(executionArn=running)["redriveStatusReason"] == (
        "Execution is RUNNING and cannot be redriven"
    )
    stack.sfn.stop_execution(executionArn=running)

    unknown = arn.rsplit(":", 1)[0] + ":no-such-execution"
    assert refused(lambda: stack.sfn.redrive_execution(executionArn=unknown))[0] == "ExecutionDoesNotExist"


def test_a_client_token_used_again_answers_the_redrive_it_started(stack):
    machine = Machine(stack, {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom"}}})
    arn = machine.start()
    stack.wait(arn)
    first = stack.sfn.redrive_execution(executionArn=arn, clientToken="token-1")["redriveDate"]
    # An SDK's retry of a redrive that landed: the same answer, whether or not it is still running.
    assert stack.sfn.redrive_execution(executionArn=arn, clientToken="token-1")["redriveDate"] == first
    stack.wait(arn)
    assert stack.sfn.redrive_execution(executionArn=arn, clientToken="token-1")["redriveDate"] == first
    assert stack.sfn.describe_execution(executionArn=arn)["redriveCount"] == 1
    second = stack.sfn.redrive_execution(executionArn=arn, clientToken="token-2")["redriveDate"]
    assert second > first
    assert stack.wait(arn)["redriveCount"] == 2
    assert [e["type"] for e in history(stack, arn)].count("ExecutionRedriven") == 2


def test_a_redriven_callback_task_waits_for_a_new_token_and_the_old_one_is_closed(stack, function):
    machine = Machine(
        stack,
        {
            "StartAt": "Watch",
            "States": {
                "Watch": {
                    "Type": "Task",
                    "Resource": CALLBACK,
                    "Parameters": {"FunctionName": function, "Payload": {"token.$": "$$.Task.Token"}},
                    "End": True,
                }
            },
        },
    )
    arn = machine.start()
    old = stack.task_token(arn, "Watch")
    stack.sfn.stop_execution(executionArn=arn)
    stack.sfn.redrive_execution(executionArn=arn)
    wait_for_entries(stack, arn, "Watch", 2)
    new = stack.task_token(arn, "Watch")
    assert new != old
    assert refused(lambda: stack.sfn.send_task_success(taskToken=old, output="{}"))[0] == "TaskTimedOut"
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    stack.sfn.send_task_success(taskToken=new, output=json.dumps({"verdict": "healthy"}))
    done = stack.wait(arn, timeout=10)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"verdict": "healthy"}
