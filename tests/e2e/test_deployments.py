"""End to end: the real statemachine/deployment.asl.json executed by moto's ASL interpreter,
its tasks served by the real Rust phase functions, against Lambda aliases and CloudWatch alarms
of the local stack. Each scenario asserts on every write the alias received and on its end state;
every execution ends through finish(), which holds a FAILED one to a plain-text cause."""

import re
import threading
import time

from scenario import ON_V1, ON_V2, W, finish, output, run

from conftest import wait_until
from resources import create_alarm


def test_canary_custom_seconds(stack, app):
    a = app()
    arn, d = run(stack, {"targets": [a.target()], "strategy": {"canary": {"percent": 25, "interval": "20s"}}})
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("1", W(25)), ON_V2]
    assert a.alias() == ON_V2


def test_real_preset_canary_under_time_scaling(stack, app):
    a = app()
    started = time.time()
    _, d = run(
        stack,
        {"targets": [a.target()], "strategy": "CodeDeployDefault.LambdaCanary10Percent5Minutes", "checkInterval": "1m"},
    )
    elapsed = time.time() - started
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("1", W(10)), ON_V2]
    doc = output(d)
    assert doc["plan"] == [{"weight": 10, "bakeSeconds": 300}, {"weight": 100, "bakeSeconds": 0}]
    # 300 s of bake in Wait seconds, far less wall time: the launcher scales Waits.
    assert elapsed < 300 * stack.time_scale + 30, elapsed


def test_linear_preset(stack, app):
    a = app()
    _, d = run(stack, {"targets": [a.target()], "strategy": "Linear10PercentEvery1Minute", "checkInterval": "1m"})
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("1", W(p)) for p in range(10, 100, 10)] + [ON_V2]
    assert a.alias() == ON_V2


def test_explicit_steps(stack, app):
    a = app()
    steps = [
        {"weight": 1, "bake": "10s"},
        {"weight": 25, "bake": "10s"},
        {"weight": 50, "bake": "10s"},
        {"weight": 100},
    ]
    _, d = run(stack, {"targets": [a.target()], "strategy": {"steps": steps}})
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("1", W(1)), ("1", W(25)), ("1", W(50)), ON_V2]


def test_all_at_once_and_publishing_the_current_code(stack, app):
    a = app()
    stack.set_code(a.name, "demo-broken")  # new code, not yet published
    target = {"functionName": a.name, "alias": "live"}  # no targetVersion: sluice publishes version 3
    _, d = run(stack, {"targets": [target], "strategy": "AllAtOnce"})
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("3", {})]
    assert output(d)["targets"][0]["targetVersion"] == "3"


def test_alarm_during_bake_rolls_back(stack, app, alarm):
    a = app()
    name = alarm()
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": "Canary10Percent5Minutes", "alarms": [name], "checkInterval": "10s"}
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="5 errors in 1 minute")
    d = finish(stack, arn)
    assert d["status"] == "FAILED"
    assert d["error"] == "AlarmBreached"
    assert f"alarm {name} is in ALARM (5 errors in 1 minute)" in d["cause"]
    assert "Rolled back: " in d["cause"] and f"{a.name}:live back on version 1" in d["cause"]
    assert a.journal() == [("1", W(10)), ON_V1]
    assert a.alias() == ON_V1


def test_an_alarm_already_firing_refuses_the_deployment(stack, app, alarm):
    a = app()
    firing = alarm("ALARM")
    _, d = run(stack, {"targets": [a.target()], "strategy": "Canary10Percent5Minutes", "alarms": [alarm(), firing]})
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    assert d["cause"] == (
        f"alarm {firing} is in ALARM (set by the test) already, before any traffic moved; nothing was shifted"
    )
    assert a.journal() == [] and a.alias() == ON_V1


def test_broken_version_trips_its_alarm_from_real_errors(stack, app):
    """No hand-flipped alarm: traffic through the alias reaches the broken version, its errors
    become AWS/Lambda metrics, and the alarm on them fires."""
    a = app("demo-broken")
    name = f"{a.name}-errors"
    create_alarm(stack.cloudwatch, name, function=a.name, period=60, threshold=1)
    stop = threading.Event()

    def traffic():
        lam = stack.lam
        while not stop.is_set():
            lam.invoke(FunctionName=a.name, Qualifier="live", Payload=b'{"order": 1}')

    t = threading.Thread(target=traffic, daemon=True)
    t.start()
    try:
        _, d = run(
            stack,
            {
                "targets": [a.target()],
                "strategy": {"canary": {"percent": 50, "interval": "10m"}},
                "alarms": [name],
                "checkInterval": "10s",
            },
        )
    finally:
        stop.set()
        t.join(timeout=10)
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    # Its event, or a check that got there first.
    assert re.search(rf"alarm {name} (is in|went to) ALARM \(Errors Sum", d["cause"]), d["cause"]
    assert a.journal() == [("1", W(50)), ON_V1]


def test_pre_traffic_hook_failure_shifts_nothing(stack, app):
    a = app()
    hook = f"{a.name}-pre"
    stack.create_function(hook, "hook-reject")
    _, d = run(stack, {"targets": [a.target()], "strategy": "AllAtOnce", "hooks": {"preTraffic": hook}})
    assert d["status"] == "FAILED" and d["error"] == "HookFailed", d
    assert f"PreTraffic hook {hook} failed, so no traffic was shifted" in d["cause"]
    assert "PreTraffic smoke test: GET /orders/42 returned 500" in d["cause"]
    assert a.journal() == []
    assert a.alias() == ON_V1


def test_post_traffic_hook_failure_rolls_back(stack, app):
    a = app()
    pre, post = f"{a.name}-pre", f"{a.name}-post"
    stack.create_function(pre, "hook-check")
    stack.create_function(post, "hook-reject")
    _, d = run(
        stack,
        {
            "targets": [a.target()],
            "strategy": {"canary": {"percent": 10, "interval": "5s"}},
            "hooks": {"preTraffic": pre, "postTraffic": post},
        },
    )
    assert d["status"] == "FAILED" and d["error"] == "HookFailed", d
    assert d["cause"].startswith(
        f"PostTraffic hook {post} failed: it raised SmokeTestFailed: "
        "PostTraffic smoke test: GET /orders/42 returned 500. "
        f"Rolled back: {a.name}:live back on version 1"
    ), d["cause"]
    assert a.journal() == [("1", W(10)), ON_V2, ON_V1]
    assert a.alias() == ON_V1


def test_hooks_receive_the_versions_and_weight(stack, app):
    a = app()
    hook = f"{a.name}-check"
    stack.create_function(hook, "hook-check")  # fails unless the payload carries all it needs
    _, d = run(
        stack, {"targets": [a.target()], "strategy": "AllAtOnce", "hooks": {"preTraffic": hook, "postTraffic": hook}}
    )
    assert d["status"] == "SUCCEEDED", d
    assert a.alias() == ON_V2


def test_two_targets_shift_in_lockstep_and_roll_back_together(stack, app, alarm):
    a, b = app(), app(prefix="billing")
    name = alarm()
    arn = stack.start_deployment(
        {
            "targets": [a.target(), b.target()],
            "strategy": {"linear": {"percent": 20, "interval": "1m"}},
            "alarms": [name],
            "checkInterval": "20s",
        }
    )
    wait_until(lambda: len(b.journal()) >= 2, what="the second step on both")
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="billing errors")
    d = finish(stack, arn)
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    for x in (a, b):
        j = x.journal()
        assert j[:2] == [("1", W(20)), ("1", W(40))], j
        assert j[-1] == ON_V1 and x.alias() == ON_V1
    # Lockstep: every write to a was followed by the same write to b before the next step.
    assert [w for w in a.journal()] == [w for w in b.journal()]


def test_nothing_to_deploy(stack, app):
    a = app()
    started = time.time()
    _, d = run(stack, {"targets": [a.target("1")], "strategy": "Canary10Percent30Minutes"})
    assert d["status"] == "SUCCEEDED", d
    assert output(d)["status"] == "NothingToDeploy"
    assert time.time() - started < 15
    assert a.journal() == [] and a.alias() == ON_V1


def test_second_deployment_on_a_busy_alias_is_refused(stack, app):
    a = app()
    first = stack.start_deployment(
        {"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "10m"}}, "checkInterval": "1m"}
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the first deployment's 10% shift")
    _, second = run(stack, {"targets": [a.target()], "strategy": "AllAtOnce"})
    assert second["status"] == "FAILED" and second["error"] == "AliasBusy", second
    # The running deployment's lock answers first, naming it (a weighted alias nobody holds is
    # refused too: sluice-core's start tests).
    assert f"{a.name}:live is being deployed by {first.rsplit(':', 1)[-1]} (execution {first}" in second["cause"]
    assert a.journal() == [("1", W(10))], "the refused deployment wrote nothing"
    d = finish(stack, first)
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("1", W(10)), ON_V2]


def test_an_alias_edit_by_someone_else_is_a_conflict_and_is_not_clobbered(stack, app):
    a = app()
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "5m"}}, "checkInterval": "10s"}
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    # Someone moves the alias by hand mid-deployment.
    stack.lam.update_alias(
        FunctionName=a.name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.42}}
    )
    d = finish(stack, arn)
    assert d["status"] == "FAILED" and d["error"] == "AliasConflict", d
    assert f"{a.name}:live was changed by someone else" in d["cause"]
    assert "Rollback INCOMPLETE" in d["cause"]
    assert a.journal() == [("1", W(10)), ("1", W(42))], "sluice wrote nothing after the foreign edit"
    assert a.alias() == ("1", W(42))


def test_invalid_request_names_the_field_and_touches_nothing(stack, app):
    a = app()
    versions = len(stack.lam.list_versions_by_function(FunctionName=a.name)["Versions"])
    stack.set_code(a.name, "demo-broken")
    _, d = run(
        stack,
        {
            "targets": [{"functionName": a.name, "alias": "live"}],
            "strategy": {"canary": {"percent": 120, "interval": "5m"}},
        },
    )
    assert d["status"] == "FAILED" and d["error"] == "InvalidRequest", d
    assert d["cause"] == "strategy.canary.percent: 120 is not a percent between 0 and 100"
    _, d = run(
        stack,
        {"targets": [{"functionName": a.name, "alias": "live"}], "strategy": "AllAtOnce", "alarms": ["no-such-alarm"]},
    )
    assert d["status"] == "FAILED" and d["error"] == "InvalidRequest", d
    assert "alarms: no CloudWatch alarm named no-such-alarm" in d["cause"]
    assert a.journal() == [] and a.alias() == ON_V1
    assert len(stack.lam.list_versions_by_function(FunctionName=a.name)["Versions"]) == versions, (
        "nothing was published"
    )


def test_a_burst_of_throttles_on_the_phases_invocations_is_waited_out(stack, app):
    """Lambda throttles Step Functions' invocations (the account's concurrency spent elsewhere):
    after Validate, nine in a row, which meet the PreTraffic hook, more than the three tries it
    once had (it then failed as HookFailed, a healthy deployment refused). Each task waits (full
    jitter, 10 tries) and the deployment succeeds."""
    a = app()
    hook = f"{a.name}-pre"
    stack.create_function(hook, "hook-check")
    stack.faults.clear()
    stack.faults.inject("Invoke", 9, "TooManyRequestsException", 429, match=a.name, callers=["states"], skip=1)
    try:
        arn, d = run(
            stack,
            {"targets": [a.target()], "strategy": "Canary10Percent5Minutes", "hooks": {"preTraffic": hook}},
        )
        injected = stack.faults.state()["injected"].get("Invoke", 0)
    finally:
        stack.faults.clear()
    assert injected == 9, injected
    throttled = [
        e
        for e in stack.execution_history(arn)
        if e["type"] == "TaskFailed" and e["taskFailedEventDetails"]["error"] == "Lambda.TooManyRequestsException"
    ]
    assert len(throttled) == 9, throttled
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    assert a.journal() == [("1", W(10)), ON_V2]
