"""End to end: the alarm policies a request controls. An alarm already firing refuses a
deployment unless `allowFiringAlarms` names it (the fix for what it reports must get through);
then it is ignored while it stays in ALARM and guards again once it has left ALARM.
`insufficientData` says what an alarm without data counts as."""

from scenario import EVENT_CAUSE, ON_V1, ON_V2, W, finish, output, run, watch_began

from conftest import wait_until


def request(app, name, **extra):
    return {
        "targets": [app.target()],
        "strategy": {"canary": {"percent": 10, "interval": "20m"}},
        "alarms": [name],
        "checkInterval": "5m",
        **extra,
    }


def test_an_alarm_already_firing_refuses_a_deployment_unless_it_is_allowed(stack, app, alarm):
    a = app()
    name = alarm("ALARM")
    _, d = run(stack, request(a, name))
    assert (d["status"], d["error"]) == ("FAILED", "AlarmBreached"), d
    assert d["cause"].startswith(f"alarm {name} is in ALARM"), d["cause"]
    assert "before any traffic moved" in d["cause"], d["cause"]
    assert a.journal() == []

    # Allowed: the deployment proceeds, and the alarm, still in ALARM all along, stops nothing.
    _, d = run(stack, request(a, name, allowFiringAlarms=[name]), timeout=180)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    assert a.journal() == [("1", W(10)), ON_V2]
    doc = output(d)
    assert doc["warnings"][0].startswith(f"alarm {name} is in ALARM as the deployment starts"), doc["warnings"]
    assert doc["lastCheck"]["excused"] == [name], doc["lastCheck"]


def test_an_allowed_alarm_that_returns_to_ok_and_fires_again_rolls_back(stack, app, alarm):
    a = app()
    name = alarm("ALARM")
    arn = stack.start_deployment(request(a, name, allowFiringAlarms=[name]))
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    wait_until(lambda: watch_began(stack, arn), what="the bake's watch")
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="the fix works")
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors again")
    d = finish(stack, arn)
    assert (d["status"], d["error"]) == ("FAILED", "AlarmBreached"), d
    assert f"alarm {name} went to ALARM" in d["cause"] and "errors again" in d["cause"], d["cause"]
    assert EVENT_CAUSE in d["cause"], d["cause"]
    assert a.journal() == [("1", W(10)), ON_V1]


def test_an_alarm_without_data_passes_with_a_warning_or_breaches_as_the_request_says(stack, app, alarm):
    a = app()
    name = alarm("INSUFFICIENT_DATA")
    _, d = run(stack, request(a, name), timeout=180)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    warnings = output(d)["warnings"]
    assert any(w.startswith(f"alarm {name} had no data (INSUFFICIENT_DATA) at step 1/2") for w in warnings), warnings

    # "breach": an alarm without data refuses the deployment before any traffic moves, as one in
    # ALARM does; and one that loses its data during the bake rolls it back.
    a = app()
    _, d = run(stack, request(a, name, insufficientData="breach"), timeout=180)
    assert (d["status"], d["error"]) == ("FAILED", "AlarmBreached"), d
    assert d["cause"].startswith(f"alarm {name} has no data (INSUFFICIENT_DATA)"), d["cause"]
    assert "before any traffic moved" in d["cause"], d["cause"]
    assert a.journal() == []
    a = app()
    name = alarm("OK")
    arn = stack.start_deployment(request(a, name, insufficientData="breach"))
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="INSUFFICIENT_DATA", StateReason="no data")
    d = finish(stack, arn)
    assert (d["status"], d["error"]) == ("FAILED", "AlarmBreached"), d
    assert f"alarm {name} has no data (INSUFFICIENT_DATA)" in d["cause"], d["cause"]
    assert a.journal() == [("1", W(10)), ON_V1]
