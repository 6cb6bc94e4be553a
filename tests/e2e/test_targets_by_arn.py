"""Targets and hooks named by full ARN and by partial ARN, deployed through the real state machine:
sluice's Lambda calls carry the function as the request named it (URL-encoded in the path), and
every alias write still goes through the local stack's RevisionId check and its journal. A
write by someone else that lands between sluice's read and its write makes sluice report AliasConflict
rather than overwrite it."""

import pytest
from scenario import ON_V1, W, finish, lock, name_of, record, run

from conftest import wait_until
from local_aws import ACCOUNT

FORMS = ["full ARN", "partial ARN"]


def named(stack, function: str, form: str) -> str:
    if form == "full ARN":
        return stack.lam.get_function_configuration(FunctionName=function)["FunctionArn"]
    return f"{ACCOUNT}:function:{function}"


def revision(app) -> str:
    return app.stack.lam.get_alias(FunctionName=app.name, Name="live")["RevisionId"]


def assert_chain(app, initial: str) -> None:
    """Every write on app's alias was in the journal and conditional on the revision before it."""
    before = initial
    for w in app.writes():
        assert w["operation"] == "UpdateAlias" and w["expectedRevisionId"] == before, app.writes()
        before = w["revisionId"]


@pytest.mark.parametrize("form", FORMS)
def test_a_target_and_hooks_named_by_arn_deploy_with_every_write_conditional(stack, app, form):
    a = app()
    initial = revision(a)
    check = f"{a.name}-check"
    stack.create_function(check, "hook-check")
    stack.set_code(a.name, "demo-ok")  # new code: sluice publishes it as version 3, by the ARN
    request = {
        "targets": [{"functionName": named(stack, a.name, form), "alias": "live"}],
        "strategy": {"steps": [{"weight": 25, "bake": "1m"}, {"weight": 100}]},
        "hooks": {"preTraffic": named(stack, check, form), "postTraffic": named(stack, check, form)},
    }
    arn, d = run(stack, request)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    assert a.journal() == [("1", {"3": 0.25}), ("3", {})]
    assert_chain(a, initial)
    assert lock(stack, a.name) is None
    assert record(stack, name_of(arn))["status"] == "Deployed"


@pytest.mark.parametrize("form", FORMS)
def test_a_write_by_someone_else_racing_a_target_named_by_arn_is_a_conflict(stack, app, form):
    a = app()
    initial = revision(a)
    target = {"functionName": named(stack, a.name, form), "alias": "live", "targetVersion": "2"}
    arn = stack.start_deployment(
        {"targets": [target], "strategy": {"steps": [{"weight": 10, "bake": "2m"}, {"weight": 100}]}}
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    stack.faults.clear()
    # Shift's last write is held after sluice read the alias; meanwhile someone moves it (by name,
    # conditionally on what they read: a careful operator).
    stack.faults.inject("UpdateAlias", delay_seconds=3)
    try:
        wait_until(lambda: stack.faults.state()["injected"].get("UpdateAlias") == 1, what="sluice's last write, held")
        stack.lam.update_alias(
            FunctionName=a.name,
            Name="live",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.42}},
            RevisionId=revision(a),
        )
        d = finish(stack, arn)
    finally:
        stack.faults.clear()
    assert d["status"] == "FAILED" and d["error"] == "AliasConflict", d
    assert f"{target['functionName']}:live was changed by someone else" in d["cause"], d["cause"]
    assert "Rollback INCOMPLETE" in d["cause"], d["cause"]
    assert a.journal() == [("1", W(10)), ("1", W(42))], "sluice's held write was refused, and it wrote nothing after"
    assert a.alias() == ("1", W(42)) != ON_V1
    assert_chain(a, initial)
    assert lock(stack, a.name) is None
