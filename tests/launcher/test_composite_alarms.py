"""Composite alarms (launcher/composite_alarms.py): PutCompositeAlarm over the JSON and RPC-v2 CBOR
protocols, the rule evaluated whenever an alarm it names changes state, each change a StateUpdate
history item and a "CloudWatch Alarm State Change" event in AWS's shape for composite alarms, and
DescribeAlarms / DescribeAlarmHistory answering composite alarms only when AlarmTypes asks."""

import datetime
import json
import re

import botocore.exceptions
import pytest

import resources
from conftest import cbor_call
from resources import create_alarm

COMPOSITE = ["CompositeAlarm"]
CLOUDWATCH_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000"


def arn(name: str) -> str:
    return f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"


def composite(stack, name: str) -> dict:
    [alarm] = stack.cloudwatch.describe_alarms(AlarmNames=[name], AlarmTypes=COMPOSITE)["CompositeAlarms"]
    return alarm


def test_a_composite_alarm_follows_its_rule_as_its_alarms_change(stack):
    cw = stack.cloudwatch
    errors, latency = create_alarm(cw, prefix="errors"), create_alarm(cw, prefix="latency")
    name = f"either-{errors}"
    events = resources.Queue(
        stack.client("sqs"), stack.events, {"source": ["aws.cloudwatch"], "resources": [arn(name)]}, prefix="composite"
    )
    try:
        # Both alarms start OK: the rule is false.
        rule = f'ALARM("{errors}") OR (ALARM({arn(latency)}) AND NOT OK({errors}))'
        cw.put_composite_alarm(AlarmName=name, AlarmRule=rule, AlarmDescription="either one")
        created = composite(stack, name)
        assert (created["StateValue"], created["AlarmRule"], created["AlarmDescription"]) == ("OK", rule, "either one")
        assert created["StateReason"] == f"{arn(name)} was created and its alarm rule evaluates to OK"
        assert json.loads(created["StateReasonData"]) == {
            "triggeringAlarms": [
                {"arn": arn(errors), "state": {"value": "OK", "timestamp": json_time(stack, errors)}},
                {"arn": arn(latency), "state": {"value": "OK", "timestamp": json_time(stack, latency)}},
            ]
        }

        cw.set_alarm_state(AlarmName=latency, StateValue="ALARM", StateReason="slow")  # NOT OK(errors) is false
        assert composite(stack, name)["StateValue"] == "OK"
        cw.set_alarm_state(AlarmName=errors, StateValue="ALARM", StateReason="failing")
        to_alarm = composite(stack, name)
        assert to_alarm["StateValue"] == "ALARM"
        assert re.fullmatch(
            rf"{arn(errors)} transitioned to ALARM at \w+day \d\d \w+, \d{{4}} \d\d:\d\d:\d\d UTC",
            to_alarm["StateReason"],
        ), to_alarm["StateReason"]
        triggering = json.loads(to_alarm["StateReasonData"])["triggeringAlarms"]
        assert [t["arn"] for t in triggering] == [arn(errors), arn(latency)], "what makes the rule true"
        cw.set_alarm_state(AlarmName=errors, StateValue="INSUFFICIENT_DATA", StateReason="no data")
        assert composite(stack, name)["StateValue"] == "ALARM", "ALARM(latency) AND NOT OK(errors)"
        cw.set_alarm_state(AlarmName=latency, StateValue="OK", StateReason="fast")
        assert composite(stack, name)["StateValue"] == "OK"

        received = events.receive()
    finally:
        events.close()
    assert [(e["detail"]["previousState"]["value"], e["detail"]["state"]["value"]) for e in received] == [
        ("INSUFFICIENT_DATA", "OK"),
        ("OK", "ALARM"),
        ("ALARM", "OK"),
    ]
    event = received[1]
    assert (event["source"], event["detail-type"], event["resources"]) == (
        "aws.cloudwatch",
        "CloudWatch Alarm State Change",
        [arn(name)],
    )
    detail = event["detail"]
    assert list(detail) == ["alarmName", "state", "previousState", "configuration"]
    assert detail["configuration"] == {"alarmRule": rule, "description": "either one"}
    assert set(detail["state"]) == {"value", "reason", "reasonData", "timestamp"}
    assert json.loads(detail["state"]["reasonData"])["triggeringAlarms"] == triggering
    assert re.fullmatch(CLOUDWATCH_TIME, detail["state"]["timestamp"])
    assert detail["previousState"]["reason"] == created["StateReason"]

    # History: composite items only when AlarmTypes asks for them, as AWS documents.
    assert cw.describe_alarm_history(AlarmName=name)["AlarmHistoryItems"] == []
    items = cw.describe_alarm_history(AlarmName=name, AlarmTypes=COMPOSITE, ScanBy="TimestampAscending")
    assert [(i["AlarmType"], i["HistorySummary"]) for i in items["AlarmHistoryItems"]] == [
        ("CompositeAlarm", "Alarm updated from INSUFFICIENT_DATA to OK"),
        ("CompositeAlarm", "Alarm updated from OK to ALARM"),
        ("CompositeAlarm", "Alarm updated from ALARM to OK"),
    ]
    both = cw.describe_alarm_history(AlarmName=errors, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    assert len(both["AlarmHistoryItems"]) == 2 == len(cw.describe_alarm_history(AlarmName=errors)["AlarmHistoryItems"])


def json_time(stack, alarm: str) -> str:
    """The alarm's StateUpdatedTimestamp as CloudWatch writes it in reason data."""
    stamp = stack.cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateUpdatedTimestamp"]
    stamp = stamp.astimezone(datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


def test_describe_alarms_answers_composite_alarms_only_when_asked(stack):
    cw = stack.cloudwatch
    metric = create_alarm(cw, prefix="kinds", state="ALARM")
    name = f"{metric}-composite"
    cw.put_composite_alarm(AlarmName=name, AlarmRule=f"ALARM({metric})")
    by_default = cw.describe_alarms(AlarmNamePrefix=metric)
    assert [a["AlarmName"] for a in by_default["MetricAlarms"]] == [metric] and by_default["CompositeAlarms"] == []
    only = cw.describe_alarms(AlarmNamePrefix=metric, AlarmTypes=COMPOSITE)
    assert only["MetricAlarms"] == [] and [a["AlarmName"] for a in only["CompositeAlarms"]] == [name]
    both = cw.describe_alarms(AlarmNames=[metric, name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    assert (len(both["MetricAlarms"]), len(both["CompositeAlarms"])) == (1, 1)
    # Filters apply together (moto applied only the first one given).
    assert cw.describe_alarms(AlarmNames=[metric], StateValue="OK")["MetricAlarms"] == []
    assert (
        len(cw.describe_alarms(AlarmNamePrefix=metric, StateValue="ALARM", AlarmTypes=COMPOSITE)["CompositeAlarms"])
        == 1
    )


def test_composite_alarms_of_composite_alarms_and_updates(stack):
    cw = stack.cloudwatch
    child = create_alarm(cw, prefix="nested")
    inner, outer = f"{child}-inner", f"{child}-outer"
    cw.put_composite_alarm(AlarmName=inner, AlarmRule=f"ALARM({child})")
    cw.put_composite_alarm(AlarmName=outer, AlarmRule=f"ALARM({inner}) AND TRUE")
    cw.set_alarm_state(AlarmName=child, StateValue="ALARM", StateReason="x")
    assert [composite(stack, n)["StateValue"] for n in (inner, outer)] == ["ALARM", "ALARM"]
    assert composite(stack, outer)["StateReason"].startswith(f"{arn(inner)} transitioned to ALARM at ")

    # An update replaces the configuration, and the new rule decides the state.
    cw.put_composite_alarm(AlarmName=outer, AlarmRule="FALSE", AlarmDescription="off")
    updated = composite(stack, outer)
    assert (updated["StateValue"], updated["AlarmRule"], updated["AlarmDescription"]) == ("OK", "FALSE", "off")
    assert updated["StateReason"] == f"{arn(outer)} was updated and its alarm rule evaluates to OK"
    # A cycle (AWS allows one) is evaluated once around, not forever.
    cw.put_composite_alarm(AlarmName=inner, AlarmRule=f"ALARM({child}) OR ALARM({outer})")
    cw.put_composite_alarm(AlarmName=outer, AlarmRule=f"ALARM({inner})")
    cw.set_alarm_state(AlarmName=child, StateValue="OK", StateReason="y")
    assert [composite(stack, n)["StateValue"] for n in (inner, outer)] == ["ALARM", "ALARM"]


@pytest.mark.parametrize("rule", ["ALARM(a) AND", "alarm(a)", "ALARM(a) XOR OK(b)", "x" * 10241])
def test_put_composite_alarm_refuses_what_is_not_a_rule(stack, rule):
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        stack.cloudwatch.put_composite_alarm(AlarmName="refused", AlarmRule=rule)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert stack.cloudwatch.describe_alarms(AlarmNames=["refused"], AlarmTypes=COMPOSITE)["CompositeAlarms"] == []


def test_composite_alarms_over_rpc_v2_cbor(stack):
    """What the Rust SDK sends (aws-sdk-cloudwatch >= 1.100 speaks RPC-v2 CBOR)."""
    child = create_alarm(stack.cloudwatch, prefix="cbor", state="ALARM")
    name = f"{child}-composite"
    cbor_call(stack, "PutCompositeAlarm", {"AlarmName": name, "AlarmRule": f'ALARM("{child}")'})  # raises unless 2xx
    _, doc = cbor_call(stack, "DescribeAlarms", {"AlarmNames": [name, child], "AlarmTypes": COMPOSITE})
    [alarm] = doc["CompositeAlarms"]
    assert doc.get("MetricAlarms", []) == []
    assert (alarm["AlarmName"], alarm["StateValue"], alarm["AlarmRule"]) == (name, "ALARM", f'ALARM("{child}")')
    assert hasattr(alarm["StateUpdatedTimestamp"], "year"), "a CBOR timestamp (tag 1)"
    _, history = cbor_call(stack, "DescribeAlarmHistory", {"AlarmName": name, "AlarmTypes": COMPOSITE})
    assert [i["HistorySummary"] for i in history["AlarmHistoryItems"]] == [
        "Alarm updated from INSUFFICIENT_DATA to ALARM"
    ]
