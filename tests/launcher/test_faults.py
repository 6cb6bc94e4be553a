"""Fault injection on the local stack (issue 10): a seeded share of the calls of chosen services,
a chosen call delayed, functions that crash or time out on their Nth invocation (as Lambda and Step
Functions report it), tasks that run into their timeout, another writer or a stop at a chosen
moment, status events dropped, duplicated or delayed, and EventBridge's and Lambda's retries of
deliveries. One test per behaviour; the patches are launcher/faults.py, function_faults.py,
sfn_lambda_errors.py, moments.py, sfn_status_events.py and events_to_lambda.py."""

import json
import time
import uuid

import botocore.exceptions
import pytest

from conftest import wait_until


def fn(stack, binary="demo-ok", versions=0, alias=False) -> str:
    name = f"fault-{uuid.uuid4().hex[:8]}"
    stack.create_function(name, binary)
    for version in range(1, versions + 1):
        # Lambda publishes a new version only of a changed function.
        stack.lam.update_function_configuration(FunctionName=name, Description=f"version {version}")
        assert stack.lam.publish_version(FunctionName=name)["Version"] == str(version)
    if alias:
        stack.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name


def no_retries(stack, service: str):
    return stack.client(service, retries={"total_max_attempts": 1})


def outcomes(client, name: str, calls: int) -> list[bool]:
    """Which of `calls` GetFunctionConfiguration calls failed."""
    failed = []
    for _ in range(calls):
        try:
            client.get_function_configuration(FunctionName=name)
            failed.append(False)
        except botocore.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] in ("TooManyRequestsException", "ServiceException"), e.response
            failed.append(True)
    return failed


def test_a_seeded_share_of_calls_fails_the_same_way_each_time(stack):
    name = fn(stack)
    lam = no_retries(stack, "lambda")
    patterns = []
    try:
        for seed in (7, 7, 8):
            [fault] = stack.faults.inject_rate(0.3, seed=seed, services=("lambda",), callers=["harness"], match=name)
            patterns.append(outcomes(lam, name, 60))
            stack.faults.disarm(fault["id"])
        assert patterns[0] == patterns[1], "the same seed fails the same calls"
        assert patterns[0] != patterns[2], "another seed, other calls"
        assert 8 <= sum(patterns[0]) <= 30, sum(patterns[0])
        # The fault matched its function only, and the harness only when asked to.
        other = fn(stack)
        assert not any(outcomes(lam, other, 20))
        stack.faults.inject_rate(1.0, services=("lambda",), match=name)  # callers: all but the harness
        assert not any(outcomes(lam, name, 10))
        errors = stack.faults.state()["errors"]
        assert set(errors) <= {"TooManyRequestsException", "ServiceException"} and sum(errors.values()) == sum(
            sum(p) for p in patterns
        )
    finally:
        stack.faults.clear()


def test_a_chosen_call_is_delayed_past_the_attempt_timeout_and_still_lands(stack):
    name = fn(stack, versions=2, alias=True)
    lam = stack.client("lambda", retries={"total_max_attempts": 1}, read_timeout=1)
    # The 2nd UpdateAlias of this function is held 2 s: the client gives up after 1 s, the write lands.
    stack.faults.inject("UpdateAlias", delay_seconds=2, match=name, skip=1)
    try:
        lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="first")
        started = time.time()
        with pytest.raises(botocore.exceptions.ReadTimeoutError):
            lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", Description="second")
        assert time.time() - started < 1.8
        wait_until(
            lambda: stack.lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "2", timeout=20, what="it"
        )
    finally:
        stack.faults.clear()
    journal = [e for e in stack.journals.aliases() if e["function"] == name and e["operation"] == "UpdateAlias"]
    assert [(e["version"], e["writer"]) for e in journal] == [("1", "harness"), ("2", "harness")]


def test_a_function_crashes_or_times_out_on_its_nth_invocation_as_lambda_reports_it(stack):
    name = fn(stack)
    stack.function_faults.fail_invocation(name, "crash", nth=2)
    stack.function_faults.fail_invocation(name, "timeout", nth=4, seconds=0.5)
    stack.function_faults.fail_invocation(name, "timeout", nth=5, seconds=0, error_type=None)
    answers = []
    for _ in range(5):
        started = time.time()
        out = stack.lam.invoke(FunctionName=name, Payload=b'{"order": 1}')
        answers.append((out.get("FunctionError"), json.loads(out["Payload"].read()), time.time() - started))
    assert [a[0] for a in answers] == [None, "Unhandled", None, "Unhandled", "Unhandled"]
    assert answers[1][1]["errorType"] == "Runtime.ExitError"
    assert answers[1][1]["errorMessage"].endswith("Error: Runtime exited with error: exit status 1")
    assert answers[3][1]["errorType"] == "Sandbox.Timedout" and answers[3][2] >= 0.5
    assert answers[3][1]["errorMessage"].endswith("Task timed out after 30.00 seconds")
    assert set(answers[4][1]) == {"errorMessage"} and answers[4][1]["errorMessage"].endswith("after 30.00 seconds")
    fired = stack.function_faults.state()["fired"]
    assert [(f["kind"], f["invocation"]) for f in fired] == [("crash", 2), ("timeout", 4), ("timeout", 5)]
    assert stack.function_faults.state()["armed"] == []
    stack.function_faults.clear()


def machine(stack, definition: dict) -> str:
    return stack.sfn.create_state_machine(
        name=f"faults-{uuid.uuid4().hex[:8]}", roleArn=stack.role(), definition=json.dumps(definition)
    )["stateMachineArn"]


def invoke_task(function: str, **fields) -> dict:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload": {"deploymentId.$": "$$.Execution.Name"}},
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
        **fields,
    }


def test_step_functions_fails_a_crashed_or_timed_out_invocation_with_lambdas_error_names(stack):
    name = fn(stack)
    arn = machine(
        stack,
        {
            "StartAt": "Call",
            "States": {
                "Call": invoke_task(name, TimeoutSeconds=60, End=True),
                "Caught": {"Type": "Pass", "End": True},
            },
        },
    )
    expected = {
        "crash": ("TaskFailed", "Runtime.ExitError"),
        "timeout": ("TaskFailed", "Sandbox.Timedout"),
        "old-timeout": ("TaskFailed", "Lambda.Unknown"),
        "task-timeout": ("TaskTimedOut", "States.Timeout"),
    }
    for case, (event_type, error) in expected.items():
        execution = f"{case}-{uuid.uuid4().hex[:6]}"
        if case == "task-timeout":
            stack.function_faults.time_out_task("Call", deployment=execution, seconds=0.1)
        else:
            kind = "crash" if case == "crash" else "timeout"
            stack.function_faults.fail_invocation(
                name, kind, deployment=execution, seconds=0, error_type=None if case == "old-timeout" else ""
            )
        run = stack.sfn.start_execution(stateMachineArn=arn, name=execution, input="{}")["executionArn"]
        assert stack.wait(run)["status"] == "SUCCEEDED"
        events = stack.execution_history(run)
        [failed] = [e for e in events if e["type"] in ("TaskFailed", "TaskTimedOut")]
        details = failed.get("taskFailedEventDetails") or failed.get("taskTimedOutEventDetails")
        assert (failed["type"], details["error"]) == (event_type, error), (case, failed)
        if case == "old-timeout":
            assert details["cause"].startswith(
                "The cause could not be determined because Lambda did not return an error type. Returned payload: "
            )
        after = [e["type"] for e in events[events.index(failed) :]]
        assert after == [failed["type"], "TaskStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    stack.function_faults.clear()


def test_a_task_that_times_out_leaves_its_invocation_running(stack):
    """States.Timeout does not stop the function: what it does still happens, after the task ended."""
    name = fn(stack, versions=2, alias=True)
    # The function under the task: UpdateAlias of `name` held 1 s, so it lands after the timeout.
    stack.faults.inject("UpdateAlias", delay_seconds=1, match=name)
    arn = machine(
        stack,
        {
            "StartAt": "Move",
            "States": {
                "Move": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:lambda:updateAlias",
                    "Parameters": {"FunctionName": name, "Name": "live", "FunctionVersion": "2"},
                    "TimeoutSeconds": 60,
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Caught"}],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        },
    )
    try:
        stack.function_faults.time_out_task("Move", seconds=0.2)
        run = stack.sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
        d = stack.wait(run)
        ended = time.time()
        assert d["status"] == "SUCCEEDED"
        assert stack.lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1", "not yet"
        wait_until(
            lambda: stack.lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "2", timeout=20, what="it"
        )
        assert time.time() - ended < 3
        types = [e["type"] for e in stack.execution_history(run)]
        assert "TaskTimedOut" in types and "TaskSucceeded" not in types, types
    finally:
        stack.faults.clear()
        stack.function_faults.clear()


def test_another_writer_changes_an_alias_right_after_its_nth_write(stack):
    name = fn(stack, versions=3, alias=True)
    stack.moments.other_writer(stack.moments.after_alias_write(name, nth=2), name, "3", weights={"1": 0.25})
    lam = stack.lam
    first = lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={})
    second = lam.update_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
        RevisionId=first["RevisionId"],
    )
    # The answer is the caller's own write; the alias has moved on since.
    assert second["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}
    now = lam.get_alias(FunctionName=name, Name="live")
    assert (now["FunctionVersion"], now["RoutingConfig"]["AdditionalVersionWeights"]) == ("3", {"1": 0.25})
    assert now["RevisionId"] != second["RevisionId"]
    with pytest.raises(botocore.exceptions.ClientError) as stale:
        lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RevisionId=second["RevisionId"])
    assert stale.value.response["Error"]["Code"] == "PreconditionFailedException"
    journal = [
        (e["version"], e["writer"])
        for e in stack.journals.aliases()
        if e["function"] == name and e["operation"] == "UpdateAlias"
    ]
    assert journal == [("1", "harness"), ("1", "harness"), ("3", "moment")]
    [fired] = stack.moments.state()["fired"][-1:]
    assert fired["result"].startswith(f"{name}:live -> 3")


def test_an_execution_is_stopped_when_it_enters_a_chosen_state(stack, alarm):
    name = alarm()
    arn = machine(
        stack,
        {
            "StartAt": "Loop",
            "States": {
                "Loop": {"Type": "Wait", "Seconds": 1, "Next": "Again"},
                "Again": {"Type": "Pass", "Next": "Loop"},
            },
        },
    )
    execution = f"stop-{uuid.uuid4().hex[:6]}"
    stack.moments.alarm_at(stack.moments.on_state_entered("Again", execution, nth=2), name, "ALARM")
    stack.moments.stop_at(
        stack.moments.on_state_entered("Loop", execution, nth=3), error="Chosen", cause="stopped at a moment"
    )
    run = stack.sfn.start_execution(stateMachineArn=arn, name=execution, input="{}")["executionArn"]
    d = stack.wait(run, timeout=30)
    assert (d["status"], d.get("error"), d.get("cause")) == ("ABORTED", "Chosen", "stopped at a moment")
    types = [e["type"] for e in stack.execution_history(run)]
    assert types.count("WaitStateEntered") == 3 and types.count("PassStateEntered") == 2, types
    assert types[-2:] == ["WaitStateEntered", "ExecutionAborted"], types
    alarm_state = stack.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
    assert alarm_state == "ALARM"
    assert [e["state"] for e in stack.alarm_events.emitted(alarm=name)] == ["ALARM"]


def test_status_events_can_be_dropped_duplicated_or_delayed(stack):
    arn = machine(stack, {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    names = {action: f"{action}-{uuid.uuid4().hex[:6]}" for action in ("drop", "duplicate", "delay")}
    stack.status_events.drop(execution=names["drop"], status="SUCCEEDED")
    stack.status_events.duplicate(execution=names["duplicate"], status="SUCCEEDED")
    stack.status_events.delay(1.0, execution=names["delay"], status="SUCCEEDED")
    for name in names.values():
        run = stack.sfn.start_execution(stateMachineArn=arn, name=name, input="{}")["executionArn"]
        assert stack.wait(run)["status"] == "SUCCEEDED"
    time.sleep(1.5)
    for action, name in names.items():
        running, ended = stack.status_events.emitted(name)
        assert (running["status"], running["action"], len(running["deliveries"])) == ("RUNNING", "deliver", 1)
        assert (ended["status"], ended["action"]) == ("SUCCEEDED", action)
        assert len(ended["deliveries"]) == {"drop": 0, "duplicate": 2, "delay": 1}[action], ended
        if action == "delay":
            assert ended["deliveries"][0] - ended["emittedAt"] >= 1.0
    assert stack.status_events.armed() == []


def three(stack, target: str) -> list[dict] | None:
    mine = [d for d in stack.journals.deliveries() if d["target"] == target]
    return mine if len(mine) >= 3 else None


def test_eventbridge_retries_a_throttled_delivery_and_lambda_a_failed_invocation(stack):
    """EventBridge retries an Invoke that is throttled; Lambda retries an asynchronous invocation
    whose function fails, twice, 1 and 2 minutes later (1.2 s and 2.4 s at the session's scale)."""
    deliveries = {}
    for case, binary in (("throttled", "demo-ok"), ("failing", "hook-reject")):
        name = fn(stack, binary, versions=1, alias=True)
        alias_arn = stack.lam.get_alias(FunctionName=name, Name="live")["AliasArn"]
        kind = f"retry-{uuid.uuid4().hex[:8]}"
        stack.events.put_rule(Name=f"rule-{name}", EventPattern=json.dumps({"detail-type": [kind]}))
        stack.events.put_targets(Rule=f"rule-{name}", Targets=[{"Id": "fn", "Arn": alias_arn}])
        if case == "throttled":
            stack.faults.inject("Invoke", count=2, error="TooManyRequestsException", match=name, callers=["events"])
        stack.events.put_events(Entries=[{"Source": "sluice.test", "DetailType": kind, "Detail": "{}"}])
        deliveries[case] = wait_until(
            lambda alias_arn=alias_arn: three(stack, alias_arn), timeout=20, what=f"{case} deliveries"
        )
    stack.faults.clear()
    throttled = deliveries["throttled"]
    assert [d["attempt"] for d in throttled] == [1, 2, 3]
    assert [d.get("errorStatus") for d in throttled] == [429, 429, None]
    assert throttled[2]["statusCode"] == 202 and not throttled[2]["functionError"]
    failing = deliveries["failing"]
    assert [(d["attempt"], d["functionError"]) for d in failing] == [
        (1, "Unhandled"),
        (2, "Unhandled"),
        (3, "Unhandled"),
    ]
    gaps = [b["at"] - a["finishedAt"] for a, b in zip(failing, failing[1:], strict=False)]
    assert 60 * stack.time_scale * 0.9 <= gaps[0] < 60 * stack.time_scale + 1, gaps
    assert 120 * stack.time_scale * 0.9 <= gaps[1] < 120 * stack.time_scale + 1, gaps
    time.sleep(0.5)
    assert len([d for d in stack.journals.deliveries() if d["target"] == failing[0]["target"]]) == 3, "two retries"
