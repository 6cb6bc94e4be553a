"""What every end-to-end scenario shares: running a deployment to its end (holding a FAILED one
to a plain-text cause), waiting for a condition, the alias states as Lambda stores them, and the
ledger's items (locks, records, watches)."""

import contextlib
import json
import time
import uuid

from conftest import App, wait_until
from resources import create_alarm

# The sweeper's schedule rule, as SAM names it (the function's logical id and the event's).
SWEEP_RULE = "SweeperFunctionSweep"

ON_V1 = ("1", {})
ON_V2 = ("2", {})
# What a raw Lambda error (or any JSON) in a cause looks like: a cause is written for people.
RAW_ERROR_MARKERS = ("errorType", "stackTrace", '{"')
# What a rolled-back deployment's cause says when the alarm's event stopped the bake, or when an
# alarm already firing as the bake's watch began was found by the watch's own read.
EVENT_CAUSE = "CloudWatch's alarm event stopped the bake"
WATCH_CAUSE = "found as the bake's watch began"
# Reaction-time runs (tests/e2e/test_event_bakes.py, tests/bench/stack_figures.py): (strategy,
# seconds into the first bake the alarm is set), bakes from 5 minutes to 7 days. The first is a
# warm-up, not counted.
REACTION_PLANS = [
    ("Canary10Percent5Minutes", 1.0),
    ("Canary10Percent5Minutes", 0.2),
    ("Canary10Percent10Minutes", 0.6),
    ("Canary10Percent15Minutes", 1.0),
    ("Canary10Percent30Minutes", 1.5),
    ("Linear10PercentEvery1Minute", 2.0),
    ("Linear10PercentEvery2Minutes", 2.5),
    ("Linear10PercentEvery3Minutes", 3.0),
    ("Linear10PercentEvery10Minutes", 4.0),
    ({"canary": {"percent": 10, "interval": "24h"}}, 5.0),
    ({"canary": {"percent": 25, "interval": "168h"}}, 6.0),
]


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


def rolled_back_at(app, since: int) -> float | None:
    """When the alias journal shows app's alias back on version 1 with no weights (after entry
    `since`), by the launcher's clock."""
    for e in app.stack.journals.aliases()[since:]:
        if e["function"] == app.name and e["alias"] == "live" and e["version"] == "1" and not e["weights"]:
            return e["at"]
    return None


def alarm_to_rollback(stack, strategy, delay: float) -> tuple[float, dict, list]:
    """One reaction run at the stack's settings: two fresh aliases (versions 1 and 2, live on 1)
    deployed with `strategy` under one new alarm in OK; once both carry weight, `delay` seconds,
    then the alarm set to ALARM. Returns the seconds from just before SetAlarmState to the last of
    the two aliases written back (the alias journal's clock: the same machine), the execution's
    description once it ended, and the two apps."""
    apps = [App(stack, f"rt-{uuid.uuid4().hex[:8]}") for _ in range(2)]
    alarm = create_alarm(stack.cloudwatch, state="OK")
    since = len(stack.journals.aliases())
    arn = stack.start_deployment({"targets": [x.target() for x in apps], "strategy": strategy, "alarms": [alarm]})
    wait_until(lambda: all(x.alias()[1] for x in apps), timeout=30, what="the first shift")
    time.sleep(delay)
    fired = time.time()
    stack.cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="errors")
    wait_until(lambda: all(rolled_back_at(x, since) for x in apps), timeout=30, what="every alias restored")
    seconds = max(rolled_back_at(x, since) for x in apps) - fired
    return seconds, finish(stack, arn, timeout=60), apps


def sweep_period(stack) -> float:
    """The sweeper's period on this stack, in real seconds (SweepMinutes, scaled like Waits)."""
    minutes = stack.sluice.template.parameters["SweepMinutes"]["Default"]
    return minutes * 60 * stack.time_scale


@contextlib.contextmanager
def sweeper_paused(stack):
    """The sweeper's rule disabled for the block: a race that takes seconds on AWS, where the
    sweeper comes every few minutes, is not closed by it here (where it comes every few seconds)."""
    rule = stack.sluice.rules[SWEEP_RULE].name
    stack.events.disable_rule(Name=rule)
    try:
        yield
    finally:
        stack.events.enable_rule(Name=rule)
