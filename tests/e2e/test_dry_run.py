"""Dry runs, with the real CLI on the local stack: `sluice deploy --dry-run` runs validation, both
hooks, every bake with its alarms and analysis, and the plan's gates, but writes no alias (every
alias revision unchanged, nothing in the alias journal) and takes no lock; it reports what each
step would have done, and exits as the deployment would have ended. A real deployment of the same
alias goes through while a dry run bakes."""

import json
import threading

from scenario import ON_V1, ON_V2, lock, record
from test_cli import deployment_name, sluice

from conftest import wait_until
from executions import history


def revision(stack, app) -> str:
    return stack.lam.get_alias(FunctionName=app.name, Name="live")["RevisionId"]


def dry_run(stack, app, name, strategy, *extra):
    return sluice(
        stack,
        "deploy",
        "--function",
        app.name,
        "--alias",
        "live",
        "--target-version",
        "2",
        "--strategy",
        json.dumps(strategy) if isinstance(strategy, dict) else strategy,
        "--name",
        name,
        "--dry-run",
        "--wait",
        *extra,
    )


def baking(stack, name, step):
    """Waits until the dry run's record bakes step `step` (0-based)."""

    def at_step():
        try:
            r = record(stack, name)
        except KeyError:
            return False
        return r["status"] == "Baking" and r.get("step") == step

    wait_until(at_step, what=f"the dry run baking step {step + 1}", timeout=90)


def test_a_dry_run_writes_no_alias_takes_no_lock_and_reports_each_step(stack, app, alarm):
    a = app()
    hook = f"{a.name}-hook"
    stack.create_function(hook, "hook-check")  # fails unless the payload says dryRun (and the rest)
    name = alarm()
    before = revision(stack, a)
    strategy = {
        "steps": [
            {"weight": 10, "bake": "1m"},
            {"approval": {"timeout": "4h", "onTimeout": "rollback"}},
            {"weight": 50, "bake": "1m"},
            {"weight": 100},
        ]
    }
    dry = deployment_name("dry")
    seen_locks = []

    def look_for_locks():
        baking(stack, dry, 0)
        seen_locks.append(lock(stack, a.name))

    looking = threading.Thread(target=look_for_locks, daemon=True)
    looking.start()
    out = dry_run(stack, a, dry, strategy, "--alarm", name, "--pre-traffic", hook, "--post-traffic", hook)
    looking.join(timeout=5)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"dry run {dry} started: no alias will be written" in out.stdout, out.stdout
    assert f"{dry} SUCCEEDED: dry run passed (no alias was written)" in out.stdout, out.stdout

    # Both hooks ran, told it was a dry run.
    arn = next(line.split()[-1] for line in out.stdout.splitlines() if line.strip().startswith("execution:"))
    events = history(stack.sfn, arn)
    calls = {e["id"] for e in events if e.get("stateEnteredEventDetails", {}).get("name") == "CallHook"}
    payloads = [
        json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"]
        for e in events
        if e["type"] == "TaskScheduled" and e["previousEventId"] in calls
    ]
    assert sorted(p["phase"] for p in payloads) == ["PostTraffic", "PreTraffic"], payloads
    assert all(p["dryRun"] is True for p in payloads), payloads

    # Nothing written: the revision is the one before, no alias write landed, no lock was taken.
    assert revision(stack, a) == before
    assert a.alias() == ON_V1
    assert a.journal() == []
    assert seen_locks == [None], "no lock while it baked"
    assert lock(stack, a.name) is None

    # The report: each step, what a real deployment would have done there, and why it went on.
    report = out.stdout.split("dry run report (no alias was written):", 1)[1]
    for line in (
        f"PreTraffic hook {hook} passed",
        "step 1/3: dry run, no alias written; a real deployment would put 10% of traffic on the new version "
        f"here ({a.name}:live to version 1 with 10% on version 2), baking 1m",
        "step 1/3 baked 1m with no alarm",
        "dry run: a real deployment would wait here for approval before step 2/3 at 10% (up to 4h, then "
        "rollback); passed without waiting",
        "step 2/3: dry run, no alias written; a real deployment would put 50% of traffic",
        "step 3/3: dry run, no alias written; a real deployment would put 100% of traffic on the new version "
        f"here ({a.name}:live to version 2)",
        f"PostTraffic hook {hook} passed",
        f"dry run passed, no alias written: a real deployment would have deployed {a.name}:live on version 2",
    ):
        assert line in report, f"{line!r} not in:\n{report}"
    # Its analysis judged every bake and found no traffic to judge, saying so.
    assert report.count("a dry run routes it no traffic") == 2, report

    r = record(stack, dry)
    assert (r["dryRun"], r["status"]) == (True, "Deployed")
    # The alias journal does not list it: `sluice history` has nothing, `sluice rollback` nothing to undo.
    out = sluice(stack, "history", f"{a.name}:live", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert dry not in out.stdout, out.stdout


def test_a_dry_run_that_would_roll_back_says_so_and_exits_as_a_rollback(stack, app, alarm):
    a = app()
    name = alarm()
    before = revision(stack, a)
    dry = deployment_name("dry-breach")

    def fire():
        baking(stack, dry, 0)
        stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors in the dry run")

    firing = threading.Thread(target=fire, daemon=True)
    firing.start()
    out = dry_run(stack, a, dry, {"canary": {"percent": 10, "interval": "10m"}}, "--alarm", name)
    firing.join(timeout=5)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "errors in the dry run" in out.stdout, out.stdout
    assert (
        f"Dry run over, no alias written; a real deployment would have rolled back: {a.name}:live would go "
        "back to version 1" in out.stdout
    ), out.stdout
    assert "some alias may not be back" not in out.stdout
    assert revision(stack, a) == before
    assert a.journal() == []
    assert record(stack, dry)["status"] == "RolledBack"


def test_a_real_deployment_goes_through_while_a_dry_run_bakes(stack, app):
    a = app()
    dry = deployment_name("dry-long")
    real = deployment_name("real")
    outcome = {}

    def dry_running():
        outcome["dry"] = dry_run(stack, a, dry, {"canary": {"percent": 10, "interval": "20m"}}, "--no-analysis")

    running = threading.Thread(target=dry_running, daemon=True)
    running.start()
    baking(stack, dry, 0)
    out = sluice(
        stack,
        "deploy",
        "--function",
        a.name,
        "--alias",
        "live",
        "--target-version",
        "2",
        "--strategy",
        "AllAtOnce",
        "--name",
        real,
        "--wait",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert a.alias() == ON_V2
    assert record(stack, dry)["status"] == "Baking", "the dry run still bakes"
    running.join(timeout=120)
    out = outcome["dry"]
    # It went on, saying the alias moved under it: a dry run holds no lock.
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{a.name}:live changed (it routes to version 2 now) during the dry run" in out.stdout, out.stdout
    assert a.journal() == [("2", {})], "only the real deployment wrote"
    history = sluice(stack, "history", f"{a.name}:live", "--json")
    assert real in history.stdout and dry not in history.stdout, history.stdout


def test_a_frozen_function_lets_a_dry_run_through_and_it_says_a_deployment_would_be_refused(stack, app):
    a = app()
    out = sluice(stack, "freeze", "--function", a.name, "--reason", "quarter close", "--until", "1h")
    assert out.returncode == 0, out.stdout + out.stderr
    try:
        dry = deployment_name("dry-frozen")
        out = dry_run(stack, a, dry, "AllAtOnce", "--no-analysis")
        # Every check passed, but the real deployment would be refused: the exit code says so.
        assert out.returncode == 3, out.stdout + out.stderr
        assert (
            f"{dry} dry run over (no alias was written): every check passed, but a real deployment would have "
            f"been refused: function {a.name} frozen by" in out.stdout
        ), out.stdout
        assert '"quarter close"' in out.stdout, out.stdout
        assert a.journal() == [] and a.alias() == ON_V1
    finally:
        sluice(stack, "unfreeze", "--function", a.name)
