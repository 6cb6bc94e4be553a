"""Lambda's asynchronous invocation configuration and destinations (launcher/lambda_async.py, through
events_to_lambda's deliveries): PutFunctionEventInvokeConfig and its kin per function and qualifier
as AWS documents them; an EventBridge delivery whose function fails retries as the configuration of
the target's qualifier says, then sends Lambda's invocation record to the OnFailure queue
(RetriesExhausted, EventAgeExceeded), a successful one to the OnSuccess queue; and SAM's
EventInvokeConfig deploys on the alias, with the queues of the template."""

import json
import re
import time
import uuid

import botocore.exceptions
import pytest

import resources
from conftest import aliased_function, function_resource, wait_until, write_template

RECORD_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def queue(stack) -> resources.Queue:
    return resources.Queue(stack.client("sqs"), prefix="destination")


def test_event_invoke_config_is_kept_per_function_and_qualifier(stack):
    lam = stack.lam
    name, alias_arn = aliased_function(stack, prefix="config")
    failures = "arn:aws:sqs:us-east-1:123456789012:failures"
    put = lam.put_function_event_invoke_config(
        FunctionName=name,
        Qualifier="live",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failures}},
    )
    assert put["FunctionArn"] == alias_arn
    assert (put["MaximumRetryAttempts"], put["DestinationConfig"]) == (
        1,
        {"OnSuccess": {}, "OnFailure": {"Destination": failures}},
    )
    # The unqualified function ($LATEST) has a configuration of its own, or none.
    with pytest.raises(botocore.exceptions.ClientError) as none:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert none.value.response["Error"]["Code"] == "ResourceNotFoundException"
    lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=600)
    latest = lam.get_function_event_invoke_config(FunctionName=name)
    assert latest["FunctionArn"].endswith(f":function:{name}:$LATEST") and latest["MaximumEventAgeInSeconds"] == 600
    assert lam.get_function_event_invoke_config(FunctionName=name, Qualifier="live")["MaximumRetryAttempts"] == 1

    # Update changes what it names; Put replaces everything (what it omits is gone).
    updated = lam.update_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumEventAgeInSeconds=60)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (1, 60)
    assert updated["DestinationConfig"]["OnFailure"] == {"Destination": failures}
    lam.put_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumRetryAttempts=0)
    replaced = lam.get_function_event_invoke_config(FunctionName=name, Qualifier="live")
    assert replaced["MaximumRetryAttempts"] == 0 and "MaximumEventAgeInSeconds" not in replaced
    assert replaced["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    # The function's ARN with a qualifier names the same configuration.
    assert lam.get_function_event_invoke_config(FunctionName=alias_arn)["FunctionArn"] == alias_arn
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert sorted(c["FunctionArn"].rsplit(":", 1)[1] for c in listed) == ["$LATEST", "live"]

    lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="live")
    with pytest.raises(botocore.exceptions.ClientError):
        lam.get_function_event_invoke_config(FunctionName=name, Qualifier="live")
    assert lam.get_function_event_invoke_config(FunctionName=name)["MaximumEventAgeInSeconds"] == 600


@pytest.mark.parametrize(
    "args, code",
    [
        ({"MaximumRetryAttempts": 3}, "ValidationException"),
        ({"MaximumEventAgeInSeconds": 21601}, "ValidationException"),
        ({"Qualifier": "nope"}, "ResourceNotFoundException"),
        ({"Qualifier": "7"}, "ResourceNotFoundException"),
    ],
)
def test_event_invoke_config_refuses_what_aws_refuses(stack, args, code):
    name, _ = aliased_function(stack, prefix="config")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        stack.lam.put_function_event_invoke_config(FunctionName=name, **args)
    assert refused.value.response["Error"]["Code"] == code


def send_event(stack, alias_arn: str) -> tuple[str, str]:
    """A rule matching one new kind of event, targeting `alias_arn`, and one such event put on the
    bus; returns (rule ARN, the event's id)."""
    kind = f"async-{uuid.uuid4().hex[:8]}"
    rule = f"rule-{kind}"
    rule_arn = stack.events.put_rule(Name=rule, EventPattern=json.dumps({"detail-type": [kind]}))["RuleArn"]
    stack.events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": alias_arn}])
    out = stack.events.put_events(Entries=[{"Source": "sluice.test", "DetailType": kind, "Detail": '{"order": 3}'}])
    return rule_arn, out["Entries"][0]["EventId"]


def settled(stack, rule_arn: str, attempts: int):
    """The rule's deliveries once `attempts` happened and the last says what became of the record."""
    found = [d for d in stack.journals.deliveries(rule=rule_arn) if d["rule"] == rule_arn]
    return found if len(found) >= attempts and "destination" in found[attempts - 1] else None


def test_a_failed_asynchronous_invocation_sends_its_record_to_the_on_failure_queue(stack):
    failures = queue(stack)
    name, alias_arn = aliased_function(stack, "hook-reject", prefix="failing")
    stack.lam.put_function_event_invoke_config(
        FunctionName=name,
        Qualifier="live",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failures.arn}},
    )
    rule_arn, event_id = send_event(stack, alias_arn)
    attempts = wait_until(lambda: settled(stack, rule_arn, 2), timeout=20, what="two attempts and the record")
    [record] = failures.receive()
    time.sleep(60 * stack.time_scale + 0.5)
    assert len([d for d in stack.journals.deliveries(rule=rule_arn) if d["rule"] == rule_arn]) == 2, "one retry"

    assert [(d["attempt"], d["functionError"]) for d in attempts] == [(1, "Unhandled"), (2, "Unhandled")]
    assert attempts[1]["at"] - attempts[0]["finishedAt"] >= 60 * stack.time_scale * 0.9, "Lambda's 1-minute wait"
    assert list(record) == [
        "version",
        "timestamp",
        "requestContext",
        "requestPayload",
        "responseContext",
        "responsePayload",
    ]
    assert record["version"] == "1.0" and re.fullmatch(RECORD_TIME, record["timestamp"]), record["timestamp"]
    context = record["requestContext"]
    assert set(context) == {"requestId", "functionArn", "condition", "approximateInvokeCount"}
    assert (context["functionArn"], context["condition"], context["approximateInvokeCount"]) == (
        alias_arn,
        "RetriesExhausted",
        2,
    )
    assert record["requestPayload"]["id"] == event_id and record["requestPayload"] == attempts[0]["payload"]
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "1", "functionError": "Unhandled"}
    assert record["responsePayload"] == json.loads(attempts[1]["response"])
    assert record["responsePayload"]["errorType"], "the function's error, as it answered"
    noted = attempts[1]["destination"]
    assert (noted["condition"], noted["destination"], noted["record"]) == ("RetriesExhausted", failures.arn, record)
    assert noted["messageId"] and "destination" not in attempts[0]


def test_retries_event_age_and_on_success_follow_the_qualifiers_configuration(stack):
    """No retry at all (MaximumRetryAttempts 0); an event too old for its first retry (a maximum age
    of 60 s, and Lambda waits 60 s before it): EventAgeExceeded; and a success with an OnSuccess
    queue. The unqualified function's configuration does not apply to the alias."""
    failures, successes = queue(stack), queue(stack)
    cases = {}
    for case, binary, config in (
        ("no retry", "hook-reject", {"MaximumRetryAttempts": 0}),
        ("too old", "hook-reject", {"MaximumEventAgeInSeconds": 60}),
        ("success", "demo-ok", {}),
    ):
        name, alias_arn = aliased_function(stack, binary, prefix="async")
        destinations = {"OnFailure": {"Destination": failures.arn}, "OnSuccess": {"Destination": successes.arn}}
        stack.lam.put_function_event_invoke_config(
            FunctionName=name, Qualifier="live", DestinationConfig=destinations, **config
        )
        # The function's own ($LATEST) configuration would retry twice: not the alias's.
        stack.lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2)
        cases[case] = (alias_arn, *send_event(stack, alias_arn))
    for case, (_alias, rule_arn, _event) in cases.items():
        cases[case] += (wait_until(lambda r=rule_arn: settled(stack, r, 1), timeout=20, what=case),)
    records = {r["requestContext"]["functionArn"]: r for r in failures.receive() + successes.receive()}
    time.sleep(60 * stack.time_scale + 0.5)

    for case, condition, error in (
        ("no retry", "RetriesExhausted", "Unhandled"),
        ("too old", "EventAgeExceeded", "Unhandled"),
        ("success", "Success", None),
    ):
        alias_arn, rule_arn, event_id, [attempt] = cases[case]
        assert len([d for d in stack.journals.deliveries(rule=rule_arn) if d["rule"] == rule_arn]) == 1, case
        record = records[alias_arn]
        assert (record["requestContext"]["condition"], record["requestContext"]["approximateInvokeCount"]) == (
            condition,
            1,
        ), case
        assert record["requestPayload"]["id"] == event_id
        assert record["responseContext"].get("functionError") == error, case
        assert attempt["destination"]["destination"] == (successes.arn if error is None else failures.arn)
    # demo-ok answers the top-level order it was given (none: the order is in the detail).
    assert records[cases["success"][0]]["responsePayload"] == {"order": None, "status": "accepted"}
    assert len(records) == 3


def test_sam_event_invoke_config_is_put_on_the_alias_with_the_templates_queue(stack, tmp_path):
    template = write_template(
        tmp_path,
        {
            "Failures": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": 1209600}},
            "WorkerFunction": function_resource(
                "hook-reject",
                AutoPublishAlias="live",
                EventInvokeConfig={
                    "MaximumRetryAttempts": 0,
                    "DestinationConfig": {
                        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["Failures", "Arn"]}}
                    },
                },
                Events={
                    "Work": {
                        "Type": "EventBridgeRule",
                        "Properties": {"Pattern": {"detail-type": [f"work-{uuid.uuid4().hex[:8]}"]}},
                    }
                },
            ),
        },
        outputs={
            "QueueUrl": {"Ref": "Failures"},
            "QueueArn": {"Fn::GetAtt": ["Failures", "Arn"]},
            "QueueName": {"Fn::GetAtt": ["Failures", "QueueName"]},
        },
    )
    prefix = f"dest-{uuid.uuid4().hex[:6]}"
    deployed = stack.deploy_template(template, prefix)
    rule = deployed.rules["WorkerFunctionWork"]
    try:
        failures = deployed.queues["Failures"]
        assert failures.name == f"{prefix}-Failures"
        assert deployed.outputs() == {"QueueUrl": failures.url, "QueueArn": failures.arn, "QueueName": failures.name}
        sqs = stack.client("sqs")
        attributes = sqs.get_queue_attributes(QueueUrl=failures.url, AttributeNames=["All"])["Attributes"]
        assert attributes["MessageRetentionPeriod"] == "1209600"
        fn = deployed.functions["WorkerFunction"]
        config = stack.lam.get_function_event_invoke_config(FunctionName=fn.name, Qualifier="live")
        assert config["FunctionArn"] == fn.alias_arn
        assert config["MaximumRetryAttempts"] == 0
        assert config["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": failures.arn}}
        with pytest.raises(botocore.exceptions.ClientError):
            stack.lam.get_function_event_invoke_config(FunctionName=fn.name)

        kind = rule.pattern["detail-type"][0]
        stack.events.put_events(Entries=[{"Source": "sluice.test", "DetailType": kind, "Detail": "{}"}])
        wait_until(lambda: settled(stack, rule.arn, 1), timeout=20, what="the failed delivery")
        [record] = resources.receive(sqs, failures.url)
        assert record["requestContext"]["condition"] == "RetriesExhausted"
    finally:
        stack.events.disable_rule(Name=rule.name)
