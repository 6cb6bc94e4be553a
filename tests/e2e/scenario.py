"""What every end-to-end scenario shares: running a deployment to its end (holding a FAILED one
to a plain-text cause), waiting for a condition, the alias states as Lambda stores them, and the
ledger's items (locks, records, watches)."""

import json
import time

ON_V1 = ("1", {})
ON_V2 = ("2", {})
# What a raw Lambda error (or any JSON) in a cause looks like: a cause is written for people.
RAW_ERROR_MARKERS = ("errorType", "stackTrace", '{"')


def W(percent):
    """Version 2 at `percent` %, as Lambda stores an alias's weights."""
    return {"2": percent / 100}


def finish(stack, arn, timeout=120):
    """Waits for the execution to end; every scenario's execution ends here, so each FAILED one
    is checked for a plain-text cause."""
    d = stack.wait(arn, timeout)
    if d["status"] == "FAILED":
        cause = d.get("cause", "")
        raw = [m for m in RAW_ERROR_MARKERS if m in cause]
        assert not raw, f"{d.get('error')} cause is not plain text (contains {raw}): {cause}"
    return d


def run(stack, request, timeout=120):
    arn = stack.start_deployment(request)
    return arn, finish(stack, arn, timeout)


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def output(description) -> dict:
    return json.loads(description["output"])


def name_of(arn: str) -> str:
    """An execution's name (the deployment id), from its ARN."""
    return arn.rsplit(":", 1)[-1]


def lock_key(stack, function: str, alias: str = "live") -> str:
    arn = stack.lam.get_function_configuration(FunctionName=function)["FunctionArn"]
    return f"LOCK#{':'.join(arn.split(':')[:7])}#{alias}"


def lock(stack, function: str):
    """The lock item on function:live, or None."""
    key = {"pk": {"S": lock_key(stack, function)}}
    return stack.dynamodb.get_item(TableName=stack.ledger_table, Key=key, ConsistentRead=True).get("Item")


def holder(stack, function: str):
    item = lock(stack, function)
    return item and item["executionArn"]["S"]


def record(stack, deployment_id: str) -> dict:
    key = {"pk": {"S": f"DEPLOYMENT#{deployment_id}"}}
    item = stack.dynamodb.get_item(TableName=stack.ledger_table, Key=key, ConsistentRead=True)["Item"]
    return json.loads(item["document"]["S"])


def watched(stack, alarm: str) -> set[str]:
    """The deployment ids whose watch is registered against `alarm` in the ledger."""
    key = {"pk": {"S": f"WATCH#{alarm}"}}
    item = stack.dynamodb.get_item(TableName=stack.ledger_table, Key=key, ConsistentRead=True).get("Item")
    return set((item or {}).get("watches", {}).get("M", {}).keys())


def watch_began(stack, execution_arn: str) -> bool:
    """Whether a bake's watch has begun: its Lambda registered the task token and read the alarms
    once, and its task waits (Step Functions wrote TaskSubmitted). Registered alone (`watched`) is
    not enough for a test that means an alarm to be heard by its event, not by that first read."""
    return any(e["type"] == "TaskSubmitted" for e in stack.execution_history(execution_arn))
