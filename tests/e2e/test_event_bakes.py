"""Event-driven bakes: an alarm that goes to ALARM stops the bake through CloudWatch's state-change
event (EventBridge -> alarm-event -> SendTaskFailure on the bake's watch), the backstop catches what
an event missed, the history stays small at any bake length, and duplicate, late and unwatched
events change nothing. The reaction-time tests run on a stack without time scaling."""

import datetime
import json
import statistics
import time
import uuid
from pathlib import Path

import pytest
from scenario import (
    EVENT_CAUSE,
    ON_V1,
    ON_V2,
    REACTION_PLANS,
    WATCH_CAUSE,
    W,
    alarm_to_rollback,
    finish,
    output,
    rolled_back_at,
    run,
    watch_began,
    watched,
)

from conftest import App, wait_until
from resources import create_alarm
from stack import LocalStack


def deliveries_for(stack, alarm: str) -> list[dict]:
    return [
        d
        # This stack's rule only: test_template deploys another sluice into the same moto.
        for d in stack.journals.deliveries(rule=stack.sluice.rules["AlarmEventFunctionAlarmWentToAlarm"].arn)
        if d["payload"].get("detail", {}).get("alarmName") == alarm
    ]


def alarm_event(alarm: str, state: str, at: datetime.datetime) -> dict:
    """A CloudWatch Alarm State Change event as CloudWatch puts it on the default bus."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    detail = {
        "alarmName": alarm,
        "state": {"value": state, "reason": "replayed by the test", "timestamp": stamp},
        "previousState": {"value": "OK", "reason": "", "timestamp": stamp},
        "configuration": {"metrics": []},
    }
    return {
        "Source": "aws.cloudwatch",
        "DetailType": "CloudWatch Alarm State Change",
        "Resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"],
        "Detail": json.dumps(detail),
    }


def test_an_alarm_event_stops_a_long_bake_at_once_and_rolls_back(stack, app, alarm):
    """A 30-minute canary (36 s here) with the default 5-minute backstop (6 s): the alarm's event
    rolls it back long before any check would have."""
    a = app()
    name = alarm()
    arn = stack.start_deployment({"targets": [a.target()], "strategy": "Canary10Percent30Minutes", "alarms": [name]})
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    wait_until(lambda: watch_began(stack, arn), what="the bake's watch")
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="5 errors in 1 minute")
    d = finish(stack, arn)
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    assert d["cause"].startswith(
        f"alarm {name} went to ALARM (5 errors in 1 minute) at step 1/2 (10% on the new version"
    ), d["cause"]
    assert EVENT_CAUSE in d["cause"] and d["cause"].endswith(f"Rolled back: {a.name}:live back on version 1"), d[
        "cause"
    ]
    assert a.journal() == [("1", W(10)), ON_V1]
    assert watched(stack, name) == set(), "the rollback took the watch off the alarm"


def test_an_alarm_that_fires_and_clears_with_its_event_lost_is_caught_by_the_next_backstop_check(stack, app, alarm):
    a = app()
    name = alarm()
    # The first check comes 1 minute (1.2 s here) into a 5-minute bake.
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": "Canary10Percent5Minutes", "alarms": [name], "checkInterval": "1m"}
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    # The watch has read the alarms: the alarm fires and clears after.
    wait_until(lambda: watch_began(stack, arn), what="the bake's watch")
    stack.alarm_events.drop(1, alarm=name)
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="a short burst of errors")
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="errors stopped")
    d = finish(stack, arn)
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    assert f"alarm {name} went to ALARM at " in d["cause"], d["cause"]
    assert "(a short burst of errors) and out of it again before this check" in d["cause"], d["cause"]
    assert EVENT_CAUSE not in d["cause"]
    assert [e for e in stack.alarm_events.emitted(alarm=name) if e["state"] == "ALARM"][0]["dropped"]
    assert deliveries_for(stack, name) == [], "the event never reached alarm-event"
    assert a.journal() == [("1", W(10)), ON_V1]


def test_an_alarm_that_fires_and_clears_while_shift_retries_with_its_event_lost_rolls_back(stack, app, alarm):
    """The move from 10 % to 50 % is throttled past the SDK's own retries, so Step Functions
    retries Shift; meanwhile the alarm fires and clears, its events lost. The next step's first
    backstop check reads the alarm's history from the previous step's last check on (the windows
    are contiguous from the start of traffic), so it sees the burst and rolls back. When the window
    started at Shift's last attempt the burst was never counted and the deployment went on."""
    a = app()
    name = alarm()
    steps = [{"weight": 10, "bake": "1m"}, {"weight": 50, "bake": "5m"}, {"weight": 100}]
    stack.faults.clear()
    # The first UpdateAlias (to 10 %) passes; the next six are throttled: two Shift attempts fail.
    stack.faults.inject("UpdateAlias", 6, "TooManyRequestsException", 429, match=a.name, callers=["sluice"], skip=1)
    stack.alarm_events.drop(2, alarm=name)
    try:
        arn = stack.start_deployment(
            {"targets": [a.target()], "strategy": {"steps": steps}, "alarms": [name], "checkInterval": "1m"}
        )
        wait_until(lambda: stack.faults.state()["injected"].get("UpdateAlias", 0) >= 1, what="the throttled shift")
        stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors during the shift")
        stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="errors stopped")
        d = finish(stack, arn)
    finally:
        stack.faults.clear()
    failed_shifts = [
        e
        for e in stack.execution_history(arn)
        if e["type"] == "TaskFailed" and e["taskFailedEventDetails"].get("resourceType") == "lambda"
    ]
    assert failed_shifts, "Shift was retried"
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    assert f"alarm {name} went to ALARM at " in d["cause"], d["cause"]
    assert "(errors during the shift) and out of it again before this check" in d["cause"], d["cause"]
    assert all(e["dropped"] for e in stack.alarm_events.emitted(alarm=name)), "no event reached alarm-event"
    assert a.journal() == [("1", W(10)), ("1", W(50)), ON_V1]


def composite_of(stack, *alarms: str) -> str:
    """A composite alarm in ALARM when any of `alarms` is; returns its name."""
    name = f"any-{uuid.uuid4().hex[:8]}"
    rule = " OR ".join(f'ALARM("{a}")' for a in alarms)
    stack.cloudwatch.put_composite_alarm(AlarmName=name, AlarmRule=rule)
    return name


def test_a_composite_alarm_stops_the_bake_by_its_event(stack, app, alarm):
    a = app()
    errors, latency = alarm(), alarm()
    name = composite_of(stack, errors, latency)
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": "Canary10Percent30Minutes", "alarms": [name], "checkInterval": "30m"}
    )
    wait_until(lambda: watch_began(stack, arn), what="the bake's watch")
    stack.cloudwatch.set_alarm_state(AlarmName=latency, StateValue="ALARM", StateReason="slow")
    d = finish(stack, arn)
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    assert EVENT_CAUSE in d["cause"] and f"alarm {name} " in d["cause"], d["cause"]
    assert a.journal() == [("1", W(10)), ON_V1]


def test_a_composite_alarm_that_fired_and_cleared_with_its_event_lost_is_caught_by_the_backstop(stack, app, alarm):
    """The backstop asks CloudWatch's history for composite alarms too (without AlarmTypes it
    answers for metric alarms only, and the burst was never seen)."""
    a = app()
    errors = alarm()
    name = composite_of(stack, errors)
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": "Canary10Percent5Minutes", "alarms": [name], "checkInterval": "1m"}
    )
    wait_until(lambda: watch_began(stack, arn), what="the bake's watch")
    stack.alarm_events.drop(1, alarm=name)
    stack.cloudwatch.set_alarm_state(AlarmName=errors, StateValue="ALARM", StateReason="a burst")
    stack.cloudwatch.set_alarm_state(AlarmName=errors, StateValue="OK", StateReason="over")
    d = finish(stack, arn)
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    assert f"alarm {name} went to ALARM at " in d["cause"] and "out of it again before this check" in d["cause"], d[
        "cause"
    ]
    assert [e for e in stack.alarm_events.emitted(alarm=name) if e["state"] == "ALARM"][0]["dropped"]
    assert a.journal() == [("1", W(10)), ON_V1]


def test_a_half_hour_canary_on_alarms_alone_writes_at_most_120_history_events(stack, app, alarm):
    """Alarm events and the 5-minute backstop, the canary analysis off: the cost of issue 8's shape
    (the analysis' own cost is counted in test_analysis_costs)."""
    a = app()
    arn, d = run(
        stack,
        {"targets": [a.target()], "strategy": "Canary10Percent30Minutes", "alarms": [alarm()], "analysis": False},
        timeout=180,
    )
    assert d["status"] == "SUCCEEDED", d
    events = stack.execution_history(arn)
    cost = output(d)["cost"]
    print(f"\nCanary10Percent30Minutes on alarms alone: {len(events)} history events, {cost}")
    assert len(events) <= 120
    assert len(events) == cost["events"], [e["type"] for e in events]
    entered = [e for e in events if e["type"].endswith("StateEntered")]
    assert len(entered) == cost["transitions"]
    assert a.journal() == [("1", W(10)), ON_V2]


def test_a_week_of_bake_at_the_defaults_is_accepted_with_a_stretched_backstop(stack, app, alarm):
    a = app()
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "168h"}}, "alarms": [alarm()]}
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    doc = None

    def baking():
        nonlocal doc
        for e in reversed(stack.execution_history(arn)):
            if e["type"] == "ParallelStateEntered":
                doc = json.loads(e["stateEnteredEventDetails"]["input"])
                return True
        return False

    wait_until(baking, what="the bake")
    assert doc["checkIntervalSeconds"] == 976
    # The analysis is on by default: its 1-minute checks are what is stretched.
    assert doc["checkIntervalNote"].startswith("the bake is checked every 16m16s instead of the default 1m")
    assert doc["cost"]["worstCaseEvents"] < 25_000
    stack.sfn.stop_execution(executionArn=arn)
    wait_until(lambda: a.alias() == ON_V1, what="the safety net's rollback")


def test_a_duplicated_event_rolls_back_once(stack, app, alarm):
    a = app()
    name = alarm()
    arn = stack.start_deployment({"targets": [a.target()], "strategy": "Canary10Percent30Minutes", "alarms": [name]})
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    wait_until(lambda: watch_began(stack, arn), what="the bake's watch")
    stack.alarm_events.duplicate(1, alarm=name)
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors")
    d = finish(stack, arn)
    assert d["status"] == "FAILED" and EVENT_CAUSE in d["cause"], d
    [emitted] = [e for e in stack.alarm_events.emitted(alarm=name) if e["state"] == "ALARM"]
    assert len(emitted["deliveries"]) == 2, emitted
    wait_until(lambda: len(deliveries_for(stack, name)) == 2, timeout=180, what="both deliveries answered")
    answers = [json.loads(x["response"]) for x in deliveries_for(stack, name)]
    assert sorted(len(x["stopped"]) for x in answers) == [0, 1], answers
    assert a.journal() == [("1", W(10)), ON_V1], "one rollback"
    assert watched(stack, name) == set()


def test_late_and_unwatched_events_change_nothing(stack, app, alarm):
    """While a deployment bakes: an ALARM event from before it started (a late delivery of an
    earlier deployment's alarm), an ALARM event of an alarm nobody watches, and an OK event of its
    own alarm. It goes on to succeed."""
    a = app()
    name = alarm()
    started = datetime.datetime.now(datetime.timezone.utc)
    arn = stack.start_deployment({"targets": [a.target()], "strategy": "Canary10Percent5Minutes", "alarms": [name]})
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    wait_until(lambda: watch_began(stack, arn), what="the bake's watch")
    stranger = f"stranger-{uuid.uuid4().hex[:8]}"
    stack.events.put_events(
        Entries=[
            alarm_event(name, "ALARM", started - datetime.timedelta(minutes=5)),
            alarm_event(stranger, "ALARM", datetime.datetime.now(datetime.timezone.utc)),
        ]
    )
    wait_until(lambda: deliveries_for(stack, name) and deliveries_for(stack, stranger), what="the deliveries")
    late = json.loads(deliveries_for(stack, name)[0]["response"])
    assert late["stopped"] == [] and late["notAbout"] == [arn.rsplit(":", 1)[-1]], late
    assert json.loads(deliveries_for(stack, stranger)[0]["response"])["stopped"] == []
    d = finish(stack, arn)
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("1", W(10)), ON_V2]
    assert watched(stack, name) == set(), "the bake's last check released the watch"
    # And an event for the deployment that has ended: nothing to stop, nothing written.
    before = a.journal()
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="after the end")
    wait_until(lambda: len(deliveries_for(stack, name)) == 2, what="the delivery after the end")
    assert json.loads(deliveries_for(stack, name)[1]["response"])["stopped"] == []
    assert a.journal() == before


# ---- Reaction time, on a stack without time scaling, at the default settings ----


@pytest.fixture(scope="module")
def realtime():
    # Its own logs: tests/.stack keeps the session stack's.
    with LocalStack(time_scale=1.0, log_dir=Path(__file__).resolve().parents[1] / ".stack" / "realtime") as s:
        yield s


def test_alarm_to_every_alias_restored_takes_under_2s_median_and_3s_max(realtime):
    """Ten deployments of two aliases each, the alarm set at a different point of a different bake
    (default check interval: no backstop check is due). Measured from set_alarm_state to the last
    alias written back, after one warm-up deployment: cargo-lambda's emulator builds and starts each
    function on its first invocation, which AWS does not."""
    plans = REACTION_PLANS
    times = []
    for strategy, delay in plans:
        seconds, d, apps = alarm_to_rollback(realtime, strategy, delay)
        times.append(seconds)
        assert d["status"] == "FAILED" and (EVENT_CAUSE in d["cause"] or WATCH_CAUSE in d["cause"]), d
        assert "before this check" not in d["cause"], "stopped by the alarm, not by a backstop check"
        assert all(x.alias() == ON_V1 for x in apps)
    times = times[1:]
    median, worst = statistics.median(times), max(times)
    print(
        f"\nalarm -> every alias restored over {len(times)} runs: median {median:.2f}s, max {worst:.2f}s; "
        + str([round(t, 2) for t in times])
    )
    assert median < 2.0 and worst < 3.0, times


def test_a_broken_release_trips_its_alarm_from_metrics_and_is_rolled_back_by_the_event(realtime):
    """The demo's broken version under live traffic: the launcher's evaluator moves the alarm from
    the Errors metric, and its event rolls the alias back. Measured from the alarm's state change
    (as CloudWatch stamps it) to the alias written back."""
    app = App(realtime, f"broken-{uuid.uuid4().hex[:8]}", v2_binary="demo-broken")
    name = f"{app.name}-errors"
    create_alarm(realtime.cloudwatch, name, function=app.name, period=10, threshold=1, TreatMissingData="notBreaching")
    since = len(realtime.journals.aliases())
    arn = realtime.start_deployment(
        {"targets": [app.target()], "strategy": "Canary10Percent10Minutes", "alarms": [name]}
    )
    wait_until(lambda: app.alias()[1], what="the first shift")
    deadline = time.time() + 30
    while time.time() < deadline and not rolled_back_at(app, since):
        realtime.lam.invoke(FunctionName=app.name, Qualifier="live", Payload=b"{}")
        time.sleep(0.02)
    d = finish(realtime, arn)
    assert d["status"] == "FAILED" and EVENT_CAUSE in d["cause"], d
    state = realtime.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    assert state["StateValue"] == "ALARM"
    latency = rolled_back_at(app, since) - state["StateUpdatedTimestamp"].timestamp()
    print(f"\nmetric alarm -> alias restored: {latency:.2f}s")
    assert latency < 3.0
    assert app.alias() == ON_V1


def test_a_lost_watch_is_recorded_and_shown(stack, app, alarm):
    """The bake's watch crashes: the bake goes on under the backstop alone (which catches what no
    event told: test_an_alarm_that_fires_and_clears_with_its_event_lost_...), the document says so
    (watchLost), and `sluice status` shows it during the bake."""
    from test_cli import sluice  # the CLI as the e2e CLI tests run it

    a, name = app(), alarm()
    deployment = f"lost-watch-{uuid.uuid4().hex[:8]}"
    stack.function_faults.fail_invocation("WatchFunction", "crash", deployment=deployment)
    arn = stack.start_deployment(
        {
            "targets": [a.target()],
            "strategy": {"canary": {"percent": 10, "interval": "15m"}},
            "alarms": [name],
            "checkInterval": "1m",
        },
        name=deployment,
    )

    def shown():
        out = sluice(stack, "status", deployment)
        return "alarm events not watched since" in out.stdout and out.stdout

    status = wait_until(shown, what="the lost watch in sluice status", timeout=60, every=0.5)
    assert "Runtime.ExitError" in status and "the backstop checks every 1m only" in status, status
    end = stack.wait(arn, timeout=120)
    assert end["status"] == "SUCCEEDED", end
    assert a.alias() == ON_V2
    record = json.loads(
        stack.dynamodb.get_item(TableName=stack.ledger_table, Key={"pk": {"S": f"DEPLOYMENT#{deployment}"}})["Item"][
            "document"
        ]["S"]
    )
    assert record["watchLost"]["step"] == 0, record.get("watchLost")
    assert record["watchLost"]["failure"]["Error"] == "Runtime.ExitError", record["watchLost"]
