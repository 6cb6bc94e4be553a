"""Operators' commands on running deployments, with the real CLI on the local stack: a gate in
the plan approved, rejected, or timed out (each onTimeout); pause then resume; promote mid-bake;
promote --full at 10 % (the alias at 100 %, the PostTraffic hook run); and approve racing the
gate's timeout, where exactly one wins and the ledger and the alias journal agree."""

import json
import time
import uuid

from scenario import ON_V1, ON_V2, W, finish, name_of, output, record
from test_cli import sluice

from conftest import wait_until


def request(app, strategy, **extra):
    return {"targets": [app.target()], "strategy": strategy, "analysis": False, **extra}


def gated(timeout, on_timeout="rollback"):
    return {
        "steps": [
            {"weight": 10, "bake": "1m"},
            {"approval": {"timeout": timeout, "onTimeout": on_timeout}},
            {"weight": 100},
        ]
    }


def rec(stack, arn) -> dict:
    """The deployment's record, or {} before validate wrote it."""
    key = {"pk": {"S": f"DEPLOYMENT#{name_of(arn)}"}}
    item = stack.dynamodb.get_item(TableName=stack.ledger_table, Key=key, ConsistentRead=True).get("Item")
    return json.loads(item["document"]["S"]) if item else {}


def start(stack, req):
    return stack.start_deployment(req, name=f"cmd-{uuid.uuid4().hex[:10]}")


def holding(stack, arn, kind):
    """Waits until the deployment's record says it holds (`Approval` or `Pause`)."""

    def held():
        hold = rec(stack, arn).get("bake", {}).get("hold")
        return hold and hold["kind"] == kind

    wait_until(held, what=f"the {kind} hold", timeout=90)


def said(stack, arn):
    return [e["message"] for e in record(stack, name_of(arn))["history"]]


def test_a_gate_approved_goes_on_and_one_rejected_rolls_back_naming_who_and_why(stack, app, alarm):
    me = stack.sts.get_caller_identity()["Arn"]
    a, b = app(), app(prefix="billing")
    name = alarm()
    good = start(stack, request(a, gated("2h"), alarms=[name]))
    bad = start(stack, request(b, gated("2h"), alarms=[name]))
    holding(stack, good, "approval")
    holding(stack, bad, "approval")
    assert a.journal() == [("1", W(10))], "the gate holds at the step before"

    out = sluice(stack, "status", name_of(good))
    assert "waiting for approval before step 2/2" in out.stdout, out.stdout
    out = sluice(stack, "approve", name_of(good), "--reason", "canary looks good")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f'approve by {me} ("canary looks good"): the gate is passed' in out.stdout, out.stdout
    d = finish(stack, good)
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("1", W(10)), ON_V2]

    out = sluice(stack, "reject", name_of(bad), "--reason", "p99 up 30%")
    assert out.returncode == 0, out.stdout + out.stderr
    d = finish(stack, bad)
    assert (d["status"], d["error"]) == ("FAILED", "Rejected"), d
    assert f'rejected at the gate before step 2/2: reject by {me} ("p99 up 30%")' in d["cause"], d["cause"]
    assert b.journal() == [("1", W(10)), ON_V1]
    assert record(stack, name_of(bad))["status"] == "RolledBack"

    # A command the deployment cannot take is refused, naming why, and changes nothing.
    out = sluice(stack, "approve", name_of(good))
    assert out.returncode == 1 and "has ended (Deployed)" in out.stderr, out.stdout + out.stderr


def test_a_gate_nobody_approves_does_what_its_on_timeout_says(stack, app):
    a, b = app(), app(prefix="billing")
    back = start(stack, request(a, gated("5m", "rollback")))
    on = start(stack, request(b, gated("5m", "promote")))
    d = finish(stack, back, timeout=180)
    assert (d["status"], d["error"]) == ("FAILED", "HoldTimedOut"), d
    assert "no approval before step 2/2 in 5m" in d["cause"], d["cause"]
    assert a.journal() == [("1", W(10)), ON_V1]
    d = finish(stack, on, timeout=180)
    assert d["status"] == "SUCCEEDED", d
    assert any("going on, as the gate's onTimeout says" in w for w in output(d)["warnings"]), output(d)
    assert b.journal() == [("1", W(10)), ON_V2]


def test_pause_holds_resume_goes_on_and_promote_skips_the_bake(stack, app, alarm):
    a = app()
    name = alarm()
    arn = start(stack, request(a, {"canary": {"percent": 10, "interval": "2h"}}, alarms=[name]))
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    wait_until(lambda: rec(stack, arn).get("status") == "Baking", what="the bake")
    out = sluice(stack, "pause", name_of(arn), "--reason", "a support ticket")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "paused by" in out.stdout, out.stdout
    r = record(stack, name_of(arn))
    assert r["bake"]["hold"]["kind"] == "pause", r["bake"]
    out = sluice(stack, "pause", name_of(arn))
    assert out.returncode == 1 and "is paused already" in out.stderr, out.stdout + out.stderr
    out = sluice(stack, "resume", name_of(arn))
    assert out.returncode == 0 and "resuming" in out.stdout, out.stdout + out.stderr
    assert "hold" not in record(stack, name_of(arn))["bake"]
    assert a.journal() == [("1", W(10))], "nothing moved while paused"
    out = sluice(stack, "promote", name_of(arn))
    assert out.returncode == 0 and "the rest of the bake" in out.stdout, out.stdout + out.stderr
    d = finish(stack, arn)
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("1", W(10)), ON_V2]
    r = record(stack, name_of(arn))
    assert r["commands"] == 3, r
    lines = said(stack, arn)
    for what in ("pause by", "resume by", "promote by"):
        assert any(m.startswith(what) for m in lines), (what, lines)


def test_promote_full_at_ten_percent_goes_to_one_hundred_and_runs_the_post_traffic_hook(stack, app, alarm):
    a, hook = app(), app(prefix="hook")
    name = alarm()
    arn = start(
        stack,
        request(a, "Linear10PercentEvery10Minutes", alarms=[name], hooks={"postTraffic": hook.name}),
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    wait_until(lambda: rec(stack, arn).get("status") == "Baking", what="the bake")
    out = sluice(stack, "promote", name_of(arn), "--full", "--reason", "hotfix verified")
    assert out.returncode == 0, out.stdout + out.stderr
    d = finish(stack, arn)
    assert d["status"] == "SUCCEEDED", d
    assert a.journal() == [("1", W(10)), ON_V2], "straight to 100%"
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in stack.execution_history(arn) if "stateEnteredEventDetails" in e
    ]
    assert "PostTrafficHook" in entered, entered
    assert any("promote --full by" in m for m in said(stack, arn))


def test_approve_racing_the_gates_timeout_has_exactly_one_winner(stack, app):
    outcomes = set()
    for delay in (0, 0.8, 1.1, 1.6):
        a = app()
        arn = start(stack, request(a, gated("1m", "rollback")))

        def at_gate_or_past(arn=arn):
            r = rec(stack, arn)
            return r and (r.get("bake", {}).get("hold") or r["status"] not in ("Ready", "Baking"))

        wait_until(at_gate_or_past, what="the gate", timeout=90)
        time.sleep(delay)
        # Approve as the gate runs out (its minute is 1.2 s here): the ledger decides.
        out = sluice(stack, "approve", name_of(arn))
        d = finish(stack, arn)
        if out.returncode == 0:
            assert d["status"] == "SUCCEEDED", (out.stdout, d)
            assert a.journal() == [("1", W(10)), ON_V2]
            outcomes.add("approved")
        else:
            assert "lost the race" in out.stderr or "is not baking" in out.stderr or "has ended" in out.stderr, (
                out.stderr
            )
            assert (d["status"], d["error"]) == ("FAILED", "HoldTimedOut"), d
            assert a.journal() == [("1", W(10)), ON_V1]
            assert not any("approve by" in m for m in said(stack, arn))
            outcomes.add("timed out")
    print("approve racing the gate's timeout:", sorted(outcomes))
    assert outcomes, "every run ended one way"
