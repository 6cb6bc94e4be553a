"""sluice's lifecycle events on EventBridge (source `sluice`, the default bus), heard the way a
user hears them: a rule on the bus sends them to an SQS queue. A successful, a rolled-back and a
stopped deployment each tell their story in order, and every event matches the JSON Schema of its
detail-type in docs/events/."""

import json
import time
import uuid

import jsonschema
import pytest
from scenario import W, finish, name_of, run

from conftest import wait_until
from processes import ROOT

SCHEMAS = {
    p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in (ROOT / "docs" / "events").glob("*.json")
}
SUCCESS = ["DeploymentStarted", "TrafficShifted", "CheckCompleted", "TrafficShifted", "DeploymentSucceeded"]


@pytest.fixture
def heard(stack):
    """Every sluice event on the default bus, by deployment id, in the order the queue got them."""
    sqs, events = stack.client("sqs"), stack.client("events")
    name = f"sluice-events-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["sluice"]}))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    got: list[dict] = []

    def of(deployment_id: str) -> list[dict]:
        while True:
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                break
            for m in batch:
                got.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return [e for e in got if e["detail"].get("deploymentId") == deployment_id]

    yield of
    events.remove_targets(Rule=name, Ids=["queue"])
    events.delete_rule(Name=name)
    sqs.delete_queue(QueueUrl=url)


def last(events: list[dict]) -> str | None:
    return events[-1]["detail-type"] if events else None


def story(events: list[dict]) -> list[str]:
    """The detail-types in order, each CheckCompleted run folded into one."""
    kinds = []
    for e in events:
        if not (kinds and kinds[-1] == e["detail-type"] == "CheckCompleted"):
            kinds.append(e["detail-type"])
    return kinds


def conforms(events: list[dict]) -> None:
    for e in events:
        assert e["source"] == "sluice"
        jsonschema.validate(e["detail"], SCHEMAS[e["detail-type"]])
    ats = [e["detail"]["at"] for e in events if "at" in e["detail"]]
    assert ats == sorted(ats), f"not in order: {ats}"


def test_a_successful_deployment_tells_its_story_in_order(stack, app, heard):
    a = app()
    arn, d = run(stack, {"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "1m"}}})
    assert d["status"] == "SUCCEEDED", d
    wait_until(lambda: last(heard(name_of(arn))) == "DeploymentSucceeded", what="the last event")
    events = heard(name_of(arn))
    assert story(events) == SUCCESS, story(events)
    conforms(events)
    shifted = [e["detail"] for e in events if e["detail-type"] == "TrafficShifted"]
    assert [(s["step"], s["weight"]) for s in shifted] == [(1, 10.0), (2, 100.0)]
    assert events[0]["detail"]["targets"][0] == {
        "functionName": a.name,
        "alias": "live",
        "action": "shift",
        "fromVersion": "1",
        "toVersion": "2",
    }
    assert all(e["detail"]["check"]["healthy"] for e in events if e["detail-type"] == "CheckCompleted")


def test_a_rolled_back_and_a_stopped_deployment_tell_theirs(stack, app, alarm, heard):
    a, b = app(), app(prefix="billing")
    name = alarm()
    bad = stack.start_deployment(
        {"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "10m"}}, "alarms": [name]}
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors in the test")
    assert finish(stack, bad)["status"] == "FAILED"
    wait_until(lambda: last(heard(name_of(bad))) == "DeploymentRolledBack", what="the rollback's event")
    events = heard(name_of(bad))
    assert story(events)[:2] == ["DeploymentStarted", "TrafficShifted"], story(events)
    assert story(events)[-1] == "DeploymentRolledBack", story(events)
    conforms(events)
    rolled = events[-1]["detail"]
    assert rolled["error"] == "AlarmBreached" and "errors in the test" in rolled["cause"], rolled

    stopped = stack.start_deployment(
        {"targets": [b.target()], "strategy": {"canary": {"percent": 10, "interval": "30m"}}}
    )
    wait_until(lambda: b.journal() == [("1", W(10))], what="the 10% shift")
    stack.sfn.stop_execution(executionArn=stopped, cause="stopped by the test")
    wait_until(lambda: last(heard(name_of(stopped))) == "SafetyNetRepaired", what="the safety net's event", timeout=60)
    events = heard(name_of(stopped))
    assert story(events)[:2] == ["DeploymentStarted", "TrafficShifted"], story(events)
    conforms(events)
    repaired = events[-1]["detail"]
    assert (repaired["settlement"], repaired["status"]) == ("rollBack", "RolledBack"), repaired
    assert "stopped" in repaired["cause"], repaired


def test_a_refused_request_is_a_deployment_failed(stack, app, heard):
    a = app()
    arn = stack.start_deployment({"targets": [a.target("9")], "strategy": "AllAtOnce"})
    assert finish(stack, arn)["status"] == "FAILED"
    wait_until(lambda: heard(name_of(arn)), what="the refusal's event")
    (event,) = heard(name_of(arn))
    assert event["detail-type"] == "DeploymentFailed"
    conforms([event])
    assert event["detail"]["error"] == "InvalidRequest" and "version 9" in event["detail"]["cause"], event
    time.sleep(0.5)
    assert len(heard(name_of(arn))) == 1, "said once"


def test_an_event_bus_that_fails_or_hangs_never_fails_nor_holds_a_deployment(stack, app):
    stack.faults.clear()
    try:
        # Every PutEvents fails: the deployment goes through all the same.
        stack.faults.inject("PutEvents", 1000, "InternalException", 500, callers=["sluice"])
        a = app()
        _, d = run(stack, {"targets": [a.target()], "strategy": "AllAtOnce"})
        assert d["status"] == "SUCCEEDED", d
        assert a.alias() == ("2", {})
        assert stack.faults.state()["injected"].get("PutEvents", 0) >= 3, "validate, shift and finish tried"
        # Every PutEvents hangs 20 s: each phase gives up on it after 2 s.
        stack.faults.clear()
        stack.faults.inject("PutEvents", 1000, delay_seconds=20, callers=["sluice"])
        b = app(prefix="billing")
        started = time.monotonic()
        _, d = run(stack, {"targets": [b.target()], "strategy": "AllAtOnce"})
        took = time.monotonic() - started
        assert d["status"] == "SUCCEEDED", d
        assert took < 30, f"{took:.1f}s: the events held the deployment"
    finally:
        stack.faults.clear()
