"""EventBridge schedule rules (launcher/events_schedule.py): a rate(...) rule invokes its Lambda
targets once a scaled period with AWS's Scheduled Event (or the target's Input), through the
deliveries journal; schedules are validated as AWS validates them; a scheduled rule hears no event
of the bus; and a SAM Schedule event deploys as SAM makes it."""

import json
import re
import time
import uuid

import botocore.exceptions
import pytest

from conftest import aliased_function, function_resource, wait_until, write_template

# rate(1 minute) at the session's scale: 60 s x 0.02 = 1.2 s.
MINUTE = "rate(1 minute)"


def deliveries(stack, rule_arn: str) -> list[dict]:
    return [d for d in stack.journals.deliveries(rule=rule_arn) if d["rule"] == rule_arn]


def test_a_rate_rule_invokes_its_lambda_targets_each_period_with_the_scheduled_event(stack):
    name, alias_arn = aliased_function(stack, prefix="scheduled")
    rule = f"every-minute-{uuid.uuid4().hex[:8]}"
    created = time.time()
    rule_arn = stack.events.put_rule(Name=rule, ScheduleExpression=MINUTE)["RuleArn"]
    stack.events.put_targets(
        Rule=rule,
        Targets=[{"Id": "event", "Arn": alias_arn}, {"Id": "input", "Arn": alias_arn, "Input": '{"order": 42}'}],
    )
    period = 60 * stack.time_scale
    try:
        fired = wait_until(
            lambda: (d := deliveries(stack, rule_arn)) and len(d) >= 6 and d,
            timeout=30,
            what="three periods' deliveries",
        )
        # A bus event never reaches a scheduled rule (moto's empty pattern matched every one).
        stack.events.put_events(Entries=[{"Source": "sluice.test", "DetailType": "anything", "Detail": "{}"}])
        stack.events.disable_rule(Name=rule)
        disabled = time.time()
        time.sleep(3 * period)
        after = deliveries(stack, rule_arn)
    finally:
        stack.events.remove_targets(Rule=rule, Ids=["event", "input"])
        stack.events.delete_rule(Name=rule)

    events = [d for d in fired if d["targetId"] == "event"]
    inputs = [d for d in fired if d["targetId"] == "input"]
    first = events[0]["payload"]
    assert set(first) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert (first["version"], first["detail-type"], first["source"]) == ("0", "Scheduled Event", "aws.events")
    assert (first["account"], first["region"], first["resources"], first["detail"]) == (
        "123456789012",
        "us-east-1",
        [rule_arn],
        {},
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["time"]), first["time"]
    assert len({d["payload"]["id"] for d in events}) == len(events), "each firing is a new event"
    # The target's Input replaces the event; both targets get each firing, as one event.
    assert [d["payload"] for d in inputs] == [{"order": 42}] * len(inputs)
    assert {d["eventId"] for d in inputs} <= {d["eventId"] for d in events}
    assert all(d["executedVersion"] == "1" and not d["functionError"] for d in fired)

    # The first firing one period after the rule was created, then one each period.
    starts = sorted({d["eventId"]: d["at"] for d in fired}.values())
    assert period * 0.9 <= starts[0] - created < period + 1, starts[0] - created
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(period * 0.8 <= g < period * 1.5 for g in gaps), gaps
    assert all(d["at"] < disabled + 0.2 for d in after), "a disabled rule does not fire"
    assert not [d for d in after if d["payload"].get("detail-type") == "anything"]


@pytest.mark.parametrize(
    "expression",
    ["rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(1.5 hours)", "rate(2 weeks)", "rate(-1 days)"],
)
def test_rates_aws_refuses_are_refused(stack, expression):
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        stack.events.put_rule(Name=f"bad-{uuid.uuid4().hex[:8]}", ScheduleExpression=expression)
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationException", "Parameter ScheduleExpression is not valid.")


def test_valid_rates_are_accepted_and_cron_is_refused_clearly(stack):
    for expression in ("rate(1 hour)", "rate(5 minutes)", "rate(1 day)", "rate(2 days)", "rate(10 hours)"):
        rule = f"valid-{uuid.uuid4().hex[:8]}"
        stack.events.put_rule(Name=rule, ScheduleExpression=expression, State="DISABLED")
        assert stack.events.describe_rule(Name=rule)["ScheduleExpression"] == expression
        stack.events.delete_rule(Name=rule)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        stack.events.put_rule(Name=f"cron-{uuid.uuid4().hex[:8]}", ScheduleExpression="cron(0 12 * * ? *)")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "rate(...) schedules only" in refused.value.response["Error"]["Message"]


def test_a_sam_schedule_event_is_a_rule_on_the_alias(stack, tmp_path):
    """Events: {Sweep: {Type: Schedule, Properties: {Schedule, Input}}} as SAM deploys it: a rule
    named after the function and event, its one target the function's `live` alias, with the
    Input; Enabled: false is a DISABLED rule."""
    template = write_template(
        tmp_path,
        {
            "SweeperFunction": function_resource(
                "demo-ok",
                AutoPublishAlias="live",
                Events={
                    "Sweep": {"Type": "Schedule", "Properties": {"Schedule": MINUTE, "Input": '{"order": 5}'}},
                    "Paused": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)", "Enabled": False}},
                },
            )
        },
        outputs={
            "SweepRule": {"Ref": "SweeperFunctionSweep"},
            "SweepArn": {"Fn::GetAtt": ["SweeperFunctionSweep", "Arn"]},
        },
    )
    prefix = f"sched-{uuid.uuid4().hex[:6]}"
    deployed = stack.deploy_template(template, prefix)
    sweep, paused = deployed.rules["SweeperFunctionSweep"], deployed.rules["SweeperFunctionPaused"]
    fn = deployed.functions["SweeperFunction"]
    try:
        assert sweep.name == f"{prefix}-SweeperFunctionSweep"
        assert deployed.outputs() == {"SweepRule": sweep.name, "SweepArn": sweep.arn}
        described = stack.events.describe_rule(Name=sweep.name)
        assert (described["ScheduleExpression"], described["State"]) == (MINUTE, "ENABLED")
        assert "EventPattern" not in described
        [target] = stack.events.list_targets_by_rule(Rule=sweep.name)["Targets"]
        assert target == {"Id": "SweeperFunctionSweepLambdaTarget", "Arn": fn.alias_arn, "Input": '{"order": 5}'}
        assert stack.events.describe_rule(Name=paused.name)["State"] == "DISABLED"

        [delivery] = wait_until(lambda: deliveries(stack, sweep.arn)[:1], timeout=20, what="the sweep")
        assert delivery["payload"] == {"order": 5} and delivery["executedVersion"] == "1"
        assert json.loads(delivery["response"])["order"] == 5  # demo-ok answers the order it was given
    finally:
        for rule in deployed.rules.values():
            stack.events.disable_rule(Name=rule.name)
    time.sleep(0.5)
    assert deliveries(stack, paused.arn) == []
