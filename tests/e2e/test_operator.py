"""Operators in control, with the real CLI on the local stack: a freeze refuses a deployment
naming who froze and why; `sluice rollback` of a finished deployment puts the alias back on the
version the ledger recorded as live before it — through the freeze, with its alarm in ALARM —
as a deployment of its own; `sluice history` lists what the ledger knows."""

import json

from scenario import ON_V1, ON_V2, record
from test_cli import deployment_name, sluice


def deploy(stack, app, version, name, *extra):
    return sluice(
        stack,
        "deploy",
        "--function",
        app.name,
        "--alias",
        "live",
        "--target-version",
        version,
        "--strategy",
        "AllAtOnce",
        "--name",
        name,
        "--wait",
        *extra,
    )


def test_a_freeze_refuses_then_rollback_goes_back_through_it_with_the_alarm_firing(stack, app, alarm):
    a = app()
    first = deployment_name("release")
    out = deploy(stack, a, "2", first, "--reason", "release 2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert a.alias() == ON_V2
    me = stack.sts.get_caller_identity()["Arn"]
    assert record(stack, first)["requestedBy"] == me
    assert record(stack, first)["reason"] == "release 2"

    # Frozen: a new deployment of the function is refused, naming the freeze, who and why.
    out = sluice(stack, "freeze", "--function", a.name, "--reason", "INC-7 payments outage", "--until", "1h")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"frozen: function {a.name} frozen by {me}" in out.stdout
    refused = deployment_name("frozen")
    out = deploy(stack, a, "1", refused)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "Frozen" in out.stdout and '"INC-7 payments outage"' in out.stdout and me in out.stdout, out.stdout
    assert a.alias() == ON_V2, "a refused deployment moves nothing"
    listed = sluice(stack, "freeze", "--list")
    assert listed.returncode == 0 and a.name in listed.stdout, listed.stdout + listed.stderr

    # The release's alarm fires: roll it back. The freeze and the firing alarm do not stop it.
    name = alarm("ALARM")
    back = deployment_name("rollback")
    out = sluice(
        stack,
        "rollback",
        f"{a.name}:live",
        "--alarm",
        name,
        "--reason",
        "errors after release 2",
        "--name",
        back,
        "--wait",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{a.name}:live: version 2 -> 1 (undoing deployment {first}" in out.stdout, out.stdout
    assert a.alias() == ON_V1
    r = record(stack, back)
    assert r["status"] == "Deployed"
    assert (r["rollbackOf"], r["reason"], r["requestedBy"]) == (first, "errors after release 2", me)
    said = [e["message"] for e in r["history"]]
    assert any("frozen by" in m and "overridden by the request" in m for m in said), said
    assert any(f"alarm {name} is in ALARM as the deployment starts" in m for m in said), said

    # The history: the rollback, then the release (the refused one moved nothing: not there).
    out = sluice(stack, "history", f"{a.name}:live", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    rows = json.loads(out.stdout)
    assert [(x["deploymentId"], x["previousVersion"], x["targetVersion"], x["status"]) for x in rows] == [
        (back, "2", "1", "Deployed"),
        (first, "1", "2", "Deployed"),
    ]
    assert rows[0]["rollbackOf"] == first and rows[0]["requestedBy"] == me
    text = sluice(stack, "history", f"{a.name}:live")
    assert text.returncode == 0 and f"rollback of {first}" in text.stdout, text.stdout + text.stderr

    # Rolling back again undoes the rollback; lifting the freeze lets deployments start again.
    out = sluice(stack, "unfreeze", "--function", a.name)
    assert out.returncode == 0 and "lifted: function" in out.stdout, out.stdout + out.stderr
    out = sluice(stack, "unfreeze", "--function", a.name)
    assert out.returncode == 0 and "was not frozen" in out.stdout, out.stdout + out.stderr
    out = deploy(stack, a, "2", deployment_name("again"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert a.alias() == ON_V2


def test_rollback_refuses_what_it_cannot_undo_and_says_why(stack, app):
    a = app()
    # Nothing in the journal: name the version.
    out = sluice(stack, "rollback", f"{a.name}:live")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "--to VERSION" in out.stderr, out.stderr
    # The alias changed outside sluice after its last deployment: refused, nothing started.
    out = deploy(stack, a, "2", deployment_name("release"))
    assert out.returncode == 0, out.stdout + out.stderr
    stack.lam.update_alias(FunctionName=a.name, Name="live", FunctionVersion="1")
    out = sluice(stack, "rollback", f"{a.name}:live")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "serves version 1, not 2" in out.stderr, out.stderr
    # --to a version it serves: nothing to do, exit 0, nothing started.
    out = sluice(stack, "rollback", f"{a.name}:live", "--to", "1")
    assert out.returncode == 0 and "already serves version 1" in out.stdout, out.stdout + out.stderr
    out = sluice(stack, "rollback", f"{a.name}:live", "--to", "2", "--wait")
    assert out.returncode == 0, out.stdout + out.stderr
    assert a.alias() == ON_V2
