"""What the soak found in sluice, each reproduced deterministically on the session stack with the
fault injector, and fixed: each test failed before its fix."""

import json
import time
import uuid


def lock(stack, function: str) -> str | None:
    key = {"pk": {"S": f"LOCK#arn:aws:lambda:us-east-1:123456789012:function:{function}#live"}}
    item = stack.dynamodb.get_item(TableName=stack.ledger_table, Key=key, ConsistentRead=True).get("Item")
    return item and item["executionArn"]["S"]


def record(stack, deployment: str) -> dict | None:
    key = {"pk": {"S": f"DEPLOYMENT#{deployment}"}}
    item = stack.dynamodb.get_item(TableName=stack.ledger_table, Key=key, ConsistentRead=True).get("Item")
    return item and json.loads(item["document"]["S"])


def test_a_stop_while_validate_runs_leaves_no_lock(stack, app):
    """Found by the soak (seed 1127): the stop's safety net ran before Validate recorded anything,
    then Validate recorded and locked. Fixed: Validate looks again once its record exists."""
    a = app()
    name = f"stop-in-validate-{uuid.uuid4().hex[:6]}"
    # Validate's writes are held 1 s; the execution is stopped 0.3 s after it entered Validate.
    stack.faults.inject("PutItem", delay_seconds=1, match=a.name, callers=["sluice"])
    try:
        stack.moments.stop_at(
            stack.moments.on_state_entered("Validate", name), cause="operator abort", delay_seconds=0.3
        )
        arn = stack.start_deployment({"targets": [a.target()], "strategy": "Canary10Percent5Minutes"}, name=name)
        assert stack.wait(arn)["status"] == "ABORTED"
        time.sleep(4)  # Validate finishes; the safety net ran at the stop
    finally:
        stack.faults.clear()
    assert a.alias() == ("1", {})
    assert lock(stack, a.name) is None, "the lock of an ABORTED execution"
    assert (record(stack, name) or {}).get("status") in (None, "RolledBack"), record(stack, name)


def test_a_deployment_refused_as_busy_is_recorded_as_refused(stack, app):
    """Two deployments of one alias validating at once (on AWS they run in parallel): the loser read
    no lock and then lost the lock to the winner. Found by the soak (seed 1127): the loser had
    recorded itself first, and the safety net then called it RollbackIncomplete. Fixed: Validate
    locks before it records. Here the winner's lock is put in place while the loser's lock write is
    held."""
    a, other = app(), app(prefix="other")
    winner = stack.start_deployment({"targets": [other.target()], "strategy": "Canary10Percent30Minutes"})
    loser = f"busy-{uuid.uuid4().hex[:6]}"
    stack.faults.inject("PutItem", delay_seconds=2, match=loser, callers=["sluice"])  # its lock write
    try:
        arn = stack.start_deployment({"targets": [a.target()], "strategy": "AllAtOnce"}, name=loser)
        time.sleep(1)  # past its read of the lock, its lock write held
        stack.dynamodb.put_item(
            TableName=stack.ledger_table,
            Item={
                "pk": {"S": f"LOCK#arn:aws:lambda:us-east-1:123456789012:function:{a.name}#live"},
                "kind": {"S": "lock"},
                "deploymentId": {"S": winner.rsplit(":", 1)[-1]},
                "executionArn": {"S": winner},
                "since": {"S": "2026-01-01T00:00:00Z"},
            },
        )
        d = stack.wait(arn)
    finally:
        stack.faults.clear()
        stack.sfn.stop_execution(executionArn=winner)
    assert d["status"] == "FAILED" and d["error"] == "AliasBusy", d
    assert a.alias() == ("1", {})
    time.sleep(2)  # the safety net's answer to the refused execution's FAILED event
    refused = record(stack, loser)
    assert refused is None or refused["failure"]["Error"] == "AliasBusy", refused
