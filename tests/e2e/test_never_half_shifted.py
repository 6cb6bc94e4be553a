"""Never half-shifted: the endings no Catch sees (a stop), a deployment meeting another's lock (the
races themselves are in test_races.py), locks left by dead executions, the history limit,
rollbacks that meet AWS failures, first deployments, and upgrades of sluice mid-deployment. Each
asserts the alias journal, the final alias and the ledger."""

import time

import pytest
from scenario import (
    ON_V1,
    ON_V2,
    W,
    finish,
    holder,
    lock,
    lock_key,
    name_of,
    output,
    record,
    run,
    sweep_period,
)

from conftest import wait_until


def test_a_stop_during_a_bake_is_rolled_back_and_unlocked_within_10s(stack, app):
    a = app()
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "30m"}}, "checkInterval": "5m"}
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    assert holder(stack, a.name) == arn, "the running deployment holds the alias"
    stopped = time.time()
    stack.sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by the test")
    wait_until(lambda: a.alias() == ON_V1 and lock(stack, a.name) is None, timeout=10, what="the safety net")
    took = time.time() - stopped
    print(f"stop -> alias restored and unlocked in {took:.2f}s")
    assert took < 10, took
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert a.journal() == [("1", W(10)), ON_V1]
    doc = record(stack, name_of(arn))
    assert doc["status"] == "RolledBack"
    assert doc["failure"]["Cause"].startswith("the execution was stopped (ABORTED) at step 1/2"), doc["failure"]


def test_a_stop_whose_status_event_is_lost_is_settled_by_the_sweeper_within_its_period(stack, app):
    """Step Functions delivers status events best effort: with the ABORTED event dropped, reconcile
    never runs. The sweeper, on its schedule, finds the unsettled record of an ended execution and
    settles it as the safety net would: within one period the alias is back and the lock free, and
    the record says why. Without the sweeper the alias stayed weighted and locked."""
    a = app()
    arn = stack.start_deployment({"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "30m"}}})
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    stack.status_events.drop(1, execution=name_of(arn), status="ABORTED")
    stopped = time.time()
    stack.sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by the test")
    period = sweep_period(stack)
    # One period, and the sweep's own few seconds (cargo-lambda's first start of the sweeper).
    wait_until(lambda: a.alias() == ON_V1 and lock(stack, a.name) is None, timeout=period + 10, what="the sweeper")
    took = time.time() - stopped
    print(f"stop with its status event lost -> alias restored and unlocked in {took:.2f}s (period {period:.1f}s)")
    [event] = stack.status_events.emitted(execution=name_of(arn))[-1:]
    assert event["status"] == "ABORTED" and event["dropped"], event
    assert a.journal() == [("1", W(10)), ON_V1]
    doc = record(stack, name_of(arn))
    assert doc["status"] == "RolledBack"
    assert doc["failure"]["Cause"] == (
        "the execution was stopped (ABORTED) at step 1/2 (10% on the new version); sluice's safety net rolled it "
        f"back. Rolled back: {a.name}:live back on version 1"
    ), doc["failure"]


@pytest.mark.parametrize(
    "steps, baking",
    [
        ([{"weight": 10, "bake": "5m"}, {"weight": 100}], [("1", W(10))]),
        # The final bake: every alias on the new version, Finish next. Redriven, it used to end
        # SUCCEEDED ("deployed") with the alias rolled back.
        ([{"weight": 50, "bake": "1m"}, {"weight": 100, "bake": "5m"}], [("1", W(50)), ON_V2]),
    ],
    ids=["at-10-percent", "in-the-final-bake"],
)
def test_a_redriven_rolled_back_deployment_does_not_end_succeeded(stack, app, steps, baking):
    """Anyone may redrive a stopped execution: it resumes in its bake (same ARN, same input) after
    the safety net rolled it back. It must not shift again nor end SUCCEEDED: the record is
    settled, so the phases refuse and the execution fails saying so."""
    a = app()
    arn = stack.start_deployment({"targets": [a.target()], "strategy": {"steps": steps}})
    wait_until(lambda: a.journal() == baking, what="the bake")
    stack.sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by the test")
    wait_until(lambda: record(stack, name_of(arn))["status"] == "RolledBack", what="the safety net")
    settled = record(stack, name_of(arn))
    assert a.alias() == ON_V1
    stack.sfn.redrive_execution(executionArn=arn)
    d = finish(stack, arn)
    assert stack.sfn.describe_execution(executionArn=arn)["redriveCount"] == 1
    assert d["status"] == "FAILED", (d["status"], d.get("error"), d.get("cause"))
    assert d["error"] == "AlreadySettled", (d.get("error"), d.get("cause"))
    assert "was settled as RolledBack" in d["cause"] and "nothing was changed" in d["cause"], d["cause"]
    assert a.alias() == ON_V1 and lock(stack, a.name) is None
    assert a.journal() == baking + [ON_V1], "the redriven execution moved nothing"
    assert record(stack, name_of(arn)) == settled, "the record stays as the safety net settled it"


def test_a_second_deployment_during_the_pre_traffic_hook_is_busy(stack, app):
    a = app()
    hook = f"{a.name}-slow"
    stack.create_function(hook, "hook-slow")  # takes 8 s
    first = stack.start_deployment({"targets": [a.target()], "strategy": "AllAtOnce", "hooks": {"preTraffic": hook}})
    wait_until(lambda: holder(stack, a.name) == first, what="the first deployment's lock")
    assert a.journal() == [], "still in its PreTraffic hook"
    # The alias carries no weights yet: only the lock tells that a deployment is under way.
    _, second = run(stack, {"targets": [a.target()], "strategy": "AllAtOnce"})
    assert second["status"] == "FAILED" and second["error"] == "AliasBusy", second
    assert f"being deployed by {name_of(first)}" in second["cause"]
    assert finish(stack, first)["status"] == "SUCCEEDED"
    assert a.journal() == [ON_V2]


def test_a_second_deployment_during_the_final_bake_is_busy(stack, app):
    a = app()
    steps = [{"weight": 50, "bake": "1m"}, {"weight": 100, "bake": "15m"}]
    first = stack.start_deployment({"targets": [a.target()], "strategy": {"steps": steps}})
    wait_until(lambda: a.journal() == [("1", W(50)), ON_V2], what="the last shift")
    # The alias carries no weights now: only the lock tells that a deployment still watches it.
    _, second = run(stack, {"targets": [a.target("1")], "strategy": "AllAtOnce"})
    assert second["status"] == "FAILED" and second["error"] == "AliasBusy", second
    assert f"being deployed by {name_of(first)}" in second["cause"]
    assert finish(stack, first)["status"] == "SUCCEEDED"
    assert a.journal() == [("1", W(50)), ON_V2]


def test_a_lock_left_by_a_killed_execution_is_taken_over(stack, app):
    a, other = app(), app(prefix="other")
    # An execution of this state machine that has ended, as a killed one would have; its lock
    # on a's alias is left behind (what a crash between locking and releasing leaves).
    dead, d = run(stack, {"targets": [other.target()], "strategy": "AllAtOnce"})
    assert d["status"] == "SUCCEEDED", d
    item = {
        "pk": {"S": lock_key(stack, a.name)},
        "kind": {"S": "lock"},
        "deploymentId": {"S": name_of(dead)},
        "executionArn": {"S": dead},
        "since": {"S": "2026-01-01T00:00:00Z"},
    }
    stack.dynamodb.put_item(TableName=stack.ledger_table, Item=item)
    arn, d = run(stack, {"targets": [a.target()], "strategy": "AllAtOnce"})
    assert d["status"] == "SUCCEEDED", d
    assert a.alias() == ON_V2
    history = [e["message"] for e in record(stack, name_of(arn))["history"]]
    assert any(f"took over the lock of deployment {name_of(dead)}" in m for m in history), history
    assert lock(stack, a.name) is None


def test_a_plan_over_the_history_budget_is_refused_naming_the_interval_that_fits(stack, app, alarm):
    a = app()
    request = {
        "targets": [a.target()],
        "strategy": "Linear10PercentEvery10Minutes",
        "alarms": [alarm()],
        "checkInterval": "1s",
    }
    _, d = run(stack, request)
    assert d["status"] == "FAILED" and d["error"] == "InvalidRequest", d
    assert d["cause"].startswith("checkInterval: checking the alarms every 1s would take up to"), d["cause"]
    assert d["cause"].endswith('Use "10s" or longer'), d["cause"]
    assert a.journal() == []


def test_the_history_of_a_real_execution_matches_the_estimate(stack, app, alarm):
    a = app()
    check = f"{a.name}-check"
    stack.create_function(check, "hook-check")
    steps = [{"weight": 10, "bake": "30s"}, {"weight": 50, "bake": "25s"}, {"weight": 100}]
    arn, d = run(
        stack,
        {
            "targets": [a.target()],
            "strategy": {"steps": steps},
            "alarms": [alarm()],
            "checkInterval": "10s",
            "hooks": {"preTraffic": check, "postTraffic": check},
        },
    )
    assert d["status"] == "SUCCEEDED", d
    events = []
    page = {"executionArn": arn, "maxResults": 1000}
    while True:
        out = stack.sfn.get_execution_history(**page)
        events += out["events"]
        if not out.get("nextToken"):
            break
        page["nextToken"] = out["nextToken"]
    cost = output(d)["cost"]
    assert cost["checks"] == 3 + 3
    assert len(events) == cost["events"], [e["type"] for e in events]
    entered = [e for e in events if e["type"].endswith("StateEntered")]
    assert len(entered) == cost["transitions"]


def test_a_rollback_meeting_a_long_run_of_throttles_still_restores_the_alias(stack, app, alarm):
    a = app()
    name = alarm()
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "30m"}}, "alarms": [name]}
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    # 45 throttles: 15 rollback attempts of 3 SDK tries each, more than a rollback that gives up
    # after a dozen attempts (as sluice's did) survives.
    stack.faults.inject(operation="UpdateAlias", count=45, error="TooManyRequestsException", status=429)
    try:
        stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors")
        d = finish(stack, arn, timeout=240)
        assert stack.faults.state()["injected"].get("UpdateAlias") == 45, stack.faults.state()
    finally:
        stack.faults.clear()
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    assert a.alias() == ON_V1
    assert a.journal() == [("1", W(10)), ON_V1]


def test_a_first_deployment_whose_pre_traffic_hook_fails_creates_no_alias(stack, app):
    fresh = f"fresh-{int(time.time() * 1000) % 10**9}"
    stack.create_function(fresh, "demo-ok")
    stack.lam.publish_version(FunctionName=fresh)
    reject = f"{fresh}-reject"
    stack.create_function(reject, "hook-reject")
    target = {"functionName": fresh, "alias": "live", "targetVersion": "1"}
    _, d = run(stack, {"targets": [target], "strategy": "Canary10Percent5Minutes", "hooks": {"preTraffic": reject}})
    assert d["status"] == "FAILED" and d["error"] == "HookFailed", d
    aliases = stack.lam.list_aliases(FunctionName=fresh)["Aliases"]
    assert aliases == [], aliases
    assert lock(stack, fresh) is None
    # With a hook that passes, the first deployment creates the alias, on the new version at once.
    check = f"{fresh}-check"
    stack.create_function(check, "hook-check")
    _, d = run(stack, {"targets": [target], "strategy": "Canary10Percent5Minutes", "hooks": {"preTraffic": check}})
    assert d["status"] == "SUCCEEDED", d
    alias = stack.lam.get_alias(FunctionName=fresh, Name="live")
    assert alias["FunctionVersion"] == "1" and not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")


def test_upgrading_sluice_mid_bake_leaves_the_running_deployment_on_its_code(stack, app):
    a = app()
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "10m"}}, "checkInterval": "1m"}
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    # The upgrade's code fails every call: only executions started after it may run it.
    broken = {logical: "hook-reject" for logical in ("ShiftFunction", "CheckAlarmsFunction", "RollbackFunction")}
    stack.sluice.redeploy(broken)
    try:
        d = finish(stack, arn)
    finally:
        stack.sluice.redeploy()
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("1", W(10)), ON_V2]
    # The upgrade back gave every function its own code again: the next deployment runs on it.
    b = app()
    _, d = run(stack, {"targets": [b.target()], "strategy": "AllAtOnce"})
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    assert b.journal() == [ON_V2]
