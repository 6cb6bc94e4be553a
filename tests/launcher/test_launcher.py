"""Each launcher patch does what its module's docstring says (tests/stack/launcher/): one test per patch.
The alarm evaluator's judgement has its own tests without the stack (test_alarm_judgement.py)."""

import json
import re
import time
import urllib.error
import urllib.request
import uuid

import botocore.exceptions
import pytest

from conftest import cbor_call, wait_until
from resources import create_alarm


def fn(stack, binary="demo-ok"):
    name = f"patch-{uuid.uuid4().hex[:8]}"
    stack.create_function(name, binary)
    return name


def test_invoke_runs_the_real_binary_and_honours_qualifier(stack):
    name = fn(stack)
    assert stack.lam.publish_version(FunctionName=name)["Version"] == "1"
    stack.set_code(name, "demo-broken")
    assert stack.lam.publish_version(FunctionName=name)["Version"] == "2"
    ok = stack.lam.invoke(FunctionName=name, Qualifier="1", Payload=b'{"order": 7}')
    assert json.loads(ok["Payload"].read()) == {"order": 7, "status": "accepted"}
    assert ok["ExecutedVersion"] == "1" and "FunctionError" not in ok
    bad = stack.lam.invoke(FunctionName=name, Qualifier="2", Payload=b"{}")
    assert bad["FunctionError"] == "Unhandled"
    assert json.loads(bad["Payload"].read())["errorType"] == "OrderStoreUnavailable"


def test_weighted_alias_picks_versions_by_weight(stack):
    name = fn(stack)
    stack.lam.publish_version(FunctionName=name)
    stack.set_code(name, "demo-ok")
    stack.lam.publish_version(FunctionName=name)
    stack.lam.create_alias(
        FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}}
    )
    seen = {"1": 0, "2": 0}
    for _ in range(300):
        seen[stack.lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")["ExecutedVersion"]] += 1
    # 30 % of 300 is 90; 55..125 is beyond 4 standard deviations either way.
    assert 55 <= seen["2"] <= 125, seen


def test_unnamed_executions_get_distinct_names(stack):
    request = json.dumps({"targets": [{"functionName": "x", "alias": "live"}], "strategy": "Nope"})
    a = stack.sfn.start_execution(stateMachineArn=stack.state_machine_arn, input=request)["executionArn"]
    b = stack.sfn.start_execution(stateMachineArn=stack.state_machine_arn, input=request)["executionArn"]
    assert a != b and not a.endswith(":None")
    stack.wait(a), stack.wait(b)


def test_update_alias_enforces_revision_and_validates_routing(stack):
    name = fn(stack)
    stack.lam.publish_version(FunctionName=name)
    stack.set_code(name, "demo-ok")
    stack.lam.publish_version(FunctionName=name)
    rev0 = stack.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")["RevisionId"]
    rev1 = stack.lam.update_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}},
        RevisionId=rev0,
    )["RevisionId"]
    assert rev1 != rev0, "every update gets a new RevisionId"
    with pytest.raises(botocore.exceptions.ClientError) as stale:
        stack.lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RevisionId=rev0)
    assert stale.value.response["Error"]["Code"] == "PreconditionFailedException"
    for routing in ({"2": 1.5}, {"9": 0.1}, {"1": 0.1}):
        with pytest.raises(botocore.exceptions.ClientError):
            stack.lam.update_alias(
                FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": routing}
            )
    assert stack.lam.get_alias(FunctionName=name, Name="live")["RevisionId"] == rev1, "refused updates change nothing"


def test_cloudwatch_speaks_rpc_v2_cbor(stack, alarm):
    name = alarm("ALARM")
    request = {"AlarmNames": [name], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    headers, doc = cbor_call(stack, "DescribeAlarms", request)
    assert headers["smithy-protocol"] == "rpc-v2-cbor"
    [a] = doc["MetricAlarms"]
    assert a["AlarmName"] == name and a["StateValue"] == "ALARM"
    # Timestamps travel as CBOR epoch timestamps (tag 1), which cbor2 reads as datetimes.
    assert hasattr(a["StateUpdatedTimestamp"], "year")


def test_waits_are_scaled(stack):
    assert stack.time_scale < 1
    # The canary's 300 s bake finishing quickly is asserted in e2e/test_deployments.py; here the
    # interpreter's Wait itself: a 100 s Wait state must not take 100 s.
    role = stack.role()
    machine = stack.sfn.create_state_machine(
        name=f"wait-{uuid.uuid4().hex[:8]}",
        roleArn=role,
        definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": True}}}),
    )["stateMachineArn"]
    started = time.time()
    arn = stack.sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert stack.wait(arn, timeout=60)["status"] == "SUCCEEDED"
    assert time.time() - started < 100 * stack.time_scale + 5


def test_alarms_evaluate_lambda_metrics_but_leave_hand_set_alarms_alone(stack):
    name = fn(stack, "demo-broken")
    stack.lam.publish_version(FunctionName=name)
    stack.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    alarm_name = f"{name}-errors"
    create_alarm(stack.cloudwatch, alarm_name, function=name, period=600, threshold=3)

    def state():
        return stack.cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]["StateValue"]

    stack.cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="ALARM", StateReason="by hand")
    time.sleep(1)
    assert state() == "ALARM", "no data: the evaluator leaves a hand-set state alone"
    stack.cloudwatch.set_alarm_state(AlarmName=alarm_name, StateValue="OK", StateReason="by hand")
    for _ in range(2):
        stack.lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
    time.sleep(1)
    assert state() == "OK", "2 errors stay under the threshold of 3"
    for _ in range(2):
        stack.lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
    deadline = time.time() + 5
    while state() != "ALARM" and time.time() < deadline:
        time.sleep(0.1)
    assert state() == "ALARM"
    reason = stack.cloudwatch.describe_alarms(AlarmNames=[alarm_name])["MetricAlarms"][0]["StateReason"]
    # The evaluator may judge between the third and the fourth error: either crosses 3.
    assert re.match(r"Errors Sum [34] over the last 600s crossed the threshold 3", reason), reason


def test_events_reach_lambda_targets_asynchronously(stack):
    """A delivery is observed in the deliveries journal: an asynchronous invoke answers its caller
    nothing, and the AWS/Lambda metrics would say that the function ran but not with what."""
    name = fn(stack)
    stack.lam.publish_version(FunctionName=name)
    alias_arn = stack.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")["AliasArn"]
    kind = f"ping-{uuid.uuid4().hex[:8]}"
    rule_arn = stack.events.put_rule(
        Name=f"rule-{name}", EventPattern=json.dumps({"source": ["sluice.test"], "detail-type": [kind]})
    )["RuleArn"]
    stack.events.put_targets(Rule=f"rule-{name}", Targets=[{"Id": "fn", "Arn": alias_arn}])
    # EventBridge does not wait for the function: hold its Invoke 2 s, put_events returns at once.
    stack.faults.inject("Invoke", delay_seconds=2)
    try:
        started = time.time()
        out = stack.events.put_events(
            Entries=[
                {"Source": "sluice.test", "DetailType": kind, "Detail": json.dumps({"order": 7}), "Resources": ["r1"]},
                {"Source": "sluice.test", "DetailType": "something-else", "Detail": "{}"},
            ]
        )
        assert time.time() - started < 1.5, "put_events waited for the function"
        assert out["FailedEntryCount"] == 0
        [delivery] = wait_until(
            lambda: [d for d in stack.journals.deliveries(rule=rule_arn) if d["rule"] == rule_arn],
            timeout=20,
            what="the delivery to the function",
            every=0.1,
        )
    finally:
        stack.faults.clear()
    assert delivery["finishedAt"] - started >= 2, "the delivery is the Invoke call the fault held"
    event = delivery["payload"]
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert event["version"] == "0" and event["id"] == out["Entries"][0]["EventId"]
    assert (event["source"], event["detail-type"], event["detail"]) == ("sluice.test", kind, {"order": 7})
    assert (event["account"], event["region"], event["resources"]) == ("123456789012", "us-east-1", ["r1"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"]), event["time"]
    # The real binary ran, through the alias.
    assert delivery["target"] == alias_arn and delivery["executedVersion"] == "1"
    assert delivery["statusCode"] == 202 and not delivery["functionError"]
    assert json.loads(delivery["response"]) == {"order": None, "status": "accepted"}  # demo-ok reads a top-level order
    time.sleep(0.5)
    assert len([d for d in stack.journals.deliveries(rule=rule_arn) if d["rule"] == rule_arn]) == 1, (
        "only the matching event"
    )


def test_step_functions_put_execution_status_events(stack):
    sqs = stack.client("sqs")
    queue = sqs.create_queue(QueueName=f"sfn-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    machines = {
        "succeeds": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}},
        "fails": {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "it broke"}}},
        "stopped": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": True}}},
        # The execution's own timeout is not scaled: 1 s, while the Wait takes 100 x time_scale.
        "times-out": {
            "TimeoutSeconds": 1,
            "StartAt": "W",
            "States": {"W": {"Type": "Wait", "Seconds": 500, "End": True}},
        },
    }
    arns = {
        k: stack.sfn.create_state_machine(
            name=f"{k}-{uuid.uuid4().hex[:8]}", roleArn=stack.role(), definition=json.dumps(d)
        )["stateMachineArn"]
        for k, d in machines.items()
    }
    rule = f"sfn-{uuid.uuid4().hex[:8]}"
    pattern = {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": list(arns.values())},
    }
    stack.events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    stack.events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])

    executions = {
        k: stack.sfn.start_execution(stateMachineArn=a, input='{"n": 1}')["executionArn"] for k, a in arns.items()
    }
    stack.sfn.stop_execution(executionArn=executions["stopped"], error="Halt", cause="stopped by the test")
    # StopExecution ends the execution at once, as on AWS.
    assert stack.sfn.describe_execution(executionArn=executions["stopped"])["status"] == "ABORTED"
    described = {k: stack.wait(e, timeout=30) for k, e in executions.items()}
    assert {k: d["status"] for k, d in described.items()} == {
        "succeeds": "SUCCEEDED",
        "fails": "FAILED",
        "stopped": "ABORTED",
        "times-out": "TIMED_OUT",
    }
    # The interpreter notices the stop when the Wait would have ended; it must not add an event.
    time.sleep(100 * stack.time_scale + 1)

    received: dict[str, list[dict]] = {}
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        for m in messages:
            event = json.loads(m["Body"])
            assert event["source"] == "aws.states"
            assert event["detail-type"] == "Step Functions Execution Status Change"
            assert event["resources"] == [event["detail"]["executionArn"]]
            received.setdefault(event["detail"]["executionArn"], []).append(event["detail"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    for kind, arn in executions.items():
        statuses = [d["status"] for d in received.get(arn, [])]
        assert statuses == ["RUNNING", described[kind]["status"]], (kind, statuses)
        running, ended = received[arn]
        for d in (running, ended):
            assert d["executionArn"] == arn and d["stateMachineArn"] == arns[kind]
            assert d["name"] == arn.rsplit(":", 1)[1] and d["input"] == '{"n":1}'
            assert d["inputDetails"] == {"included": True}
            assert d["startDate"] == int(described[kind]["startDate"].timestamp() * 1000)
        assert running["stopDate"] is None and running["output"] is None and running["error"] is None
        assert ended["stopDate"] >= ended["startDate"]
    ok = received[executions["succeeds"]][1]
    assert ok["output"] == '{"ok":1}' and ok["outputDetails"] == {"included": True}
    assert ok["error"] is None and ok["cause"] is None
    failed = received[executions["fails"]][1]
    assert (failed["error"], failed["cause"], failed["output"], failed["outputDetails"]) == (
        "Boom",
        "it broke",
        None,
        None,
    )
    aborted = received[executions["stopped"]][1]
    assert (aborted["error"], aborted["cause"]) == ("Halt", "stopped by the test")


def no_retries(stack, service):
    # botocore's retries["max_attempts"] counts retries after the first attempt; total_max_attempts
    # counts them all.
    return stack.client(service, retries={"total_max_attempts": 1})


def test_faults_throttle_the_next_calls_of_an_operation(stack):
    name = fn(stack)
    stack.lam.publish_version(FunctionName=name)
    alias = stack.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam = no_retries(stack, "lambda")
    armed = stack.faults.inject("UpdateAlias", count=3, error="TooManyRequestsException")
    assert (armed["status"], armed["remaining"]) == (429, 3)
    try:
        # Name, partial ARN and full ARN (boto3 URL-encodes its colons): the operation is what matches.
        for function in (name, f"123456789012:function:{name}", alias["AliasArn"].rsplit(":", 1)[0]):
            with pytest.raises(botocore.exceptions.ClientError) as throttled:
                lam.update_alias(FunctionName=function, Name="live", Description="x")
            assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
            assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        lam.get_alias(FunctionName=name, Name="live")  # other operations are untouched
        assert lam.update_alias(FunctionName=name, Name="live", Description="y")["Description"] == "y"
        faults = stack.faults.state()
        assert (faults["armed"], faults["injected"], faults["errors"]) == ([], {"UpdateAlias": 3}, {armed["error"]: 3})
    finally:
        stack.faults.clear()
    assert stack.faults.state() == {"armed": [], "injected": {}, "errors": {}}


def test_a_delay_fault_holds_the_call_then_answers_it(stack):
    name = fn(stack)
    stack.faults.inject("GetFunctionConfiguration", delay_seconds=1.5)
    try:
        started = time.time()
        assert stack.lam.get_function_configuration(FunctionName=name)["FunctionName"] == name
        assert time.time() - started >= 1.5
        started = time.time()
        stack.lam.get_function_configuration(FunctionName=name)
        assert time.time() - started < 1.5, "only the armed count is delayed"
    finally:
        stack.faults.clear()


def test_faults_speak_each_protocols_error_shape(stack, alarm):
    arn = stack.sfn.start_execution(stateMachineArn=stack.state_machine_arn, input="{}")["executionArn"]
    cases = [
        # awsJson 1.0
        ("dynamodb", "PutItem", "ProvisionedThroughputExceededException", 400),
        ("stepfunctions", "DescribeExecution", "ThrottlingException", 400),
        # awsJson 1.1
        ("events", "PutEvents", "InternalException", 500),
        # RPC-v2 CBOR (boto3 speaks it to CloudWatch, as the Rust SDK does)
        ("cloudwatch", "DescribeAlarms", "Throttling", 400),
    ]
    calls = {
        "PutItem": lambda c: c.put_item(TableName=stack.ledger_table, Item={"pk": {"S": f"FAULT#{uuid.uuid4()}"}}),
        "DescribeExecution": lambda c: c.describe_execution(executionArn=arn),
        "PutEvents": lambda c: c.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}]),
        "DescribeAlarms": lambda c: c.describe_alarms(AlarmNames=[alarm()]),
    }
    try:
        for service, operation, error, status in cases:
            client = no_retries(stack, service)
            stack.faults.inject(operation, error=error, status=status, message=f"{operation} refused")
            with pytest.raises(botocore.exceptions.ClientError) as failed:
                calls[operation](client)
            e = failed.value.response
            assert (e["Error"]["Code"], e["Error"]["Message"]) == (error, f"{operation} refused"), e
            assert e["ResponseMetadata"]["HTTPStatusCode"] == status
            calls[operation](client)  # count 1: the next call goes through
    finally:
        stack.faults.clear()
    stack.wait(arn)


def test_the_fault_endpoint_refuses_what_it_cannot_arm(stack):
    for spec in ({}, {"operation": "GetAlias"}, {"operation": "GetAlias", "error": "X", "count": 0}):
        req = urllib.request.Request(f"{stack.endpoint}/_sluice/faults", data=json.dumps(spec).encode(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req)
        assert refused.value.code == 400
    assert stack.faults.state()["armed"] == []
