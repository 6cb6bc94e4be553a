"""Races on one alias, each made to happen rather than hoped for: a fault holds one AWS call (the
launcher's delay faults) while the other party moves. Each asserts the end state (the alias on
one version with no weights, the lock free, a rolled-back deployment's record settled once with a
plain cause), that every alias write was conditional on the revision just before it (the
journal's chain), and says in its docstring which protection makes it hold: the test fails with
that protection removed (each was checked so).

- two deployments started at once on one alias: validate's lock;
- a stop while Rollback writes: the ledger settles a record once (its conditional PutItem);
- the safety net and Rollback at once (a duplicated FAILED event while Rollback writes): the
  write conditional on RevisionId;
- Rollback's late write after the safety net, once the next deployment has the alias: the lock
  checked after every read of the alias;
- an alarm while Shift writes: the bake's watch, registered before it reads the alarms."""

import datetime
import json
import threading
import time
import uuid

import pytest
from scenario import (
    ON_V1,
    ON_V2,
    RAW_ERROR_MARKERS,
    WATCH_CAUSE,
    W,
    finish,
    lock,
    name_of,
    record,
    sweeper_paused,
    watch_began,
    watched,
)

from conftest import App, wait_until
from resources import create_alarm

# How long a race holds the call it races: long enough for the other party to act, shorter than
# the functions' 10 s SDK attempt timeout (a longer hold would be retried, not raced).
HOLD = 8.0


@pytest.fixture(scope="module", autouse=True)
def warm(stack):
    """Every function runs once before the races: cargo-lambda starts a function on its first
    invocation (seconds, which AWS does not take), and a race's timing must not hang on it."""
    stack.faults.clear()
    a = App(stack, f"warm-{uuid.uuid4().hex[:8]}")
    name = create_alarm(stack.cloudwatch, state="OK")
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": "Canary10Percent30Minutes", "alarms": [name], "checkInterval": "1m"}
    )
    wait_until(lambda: watched(stack, name), what="the warm-up's watch")
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="warm-up")
    finish(stack, arn)
    b = App(stack, f"warm-{uuid.uuid4().hex[:8]}")
    arn = stack.start_deployment({"targets": [b.target()], "strategy": "Canary10Percent30Minutes"})
    wait_until(lambda: b.journal() == [("1", W(10))], what="the warm-up's shift")
    stack.sfn.stop_execution(executionArn=arn)
    wait_until(
        lambda: [x for x in stack.journals.deliveries() if x["payload"].get("detail", {}).get("executionArn") == arn],
        what="the warm-up's safety net",
    )


@pytest.fixture
def faults(stack):
    """The stack's fault endpoint, cleared before and after the test."""
    stack.faults.clear()
    yield stack
    stack.faults.clear()


def revision(app: App) -> str:
    return app.stack.lam.get_alias(FunctionName=app.name, Name="live")["RevisionId"]


def assert_chain(app: App, initial: str) -> None:
    """Every write on app's alias was conditional on the revision the alias had just before it:
    sluice wrote only with the RevisionId it last saw, and no write escaped the journal."""
    before = initial
    for w in app.writes():
        assert w["expectedRevisionId"] == before, f"an unconditional or stale write: {w}\nall: {app.writes()}"
        before = w["revisionId"]


def held(stack, operation: str = "UpdateAlias", calls: int = 1, timeout: float = 60) -> float:
    """Waits until `calls` calls of `operation` met the armed fault; returns when the last did."""
    wait_until(
        lambda: stack.faults.state()["injected"].get(operation, 0) >= calls, timeout=timeout, what=f"{operation} held"
    )
    return time.time()


def settlements(doc: dict) -> list[str]:
    """The history lines that settle a deployment's rollback."""
    return [
        e["message"] for e in doc["history"] if "Rolled back:" in e["message"] or "Rollback INCOMPLETE" in e["message"]
    ]


def assert_settled_once(doc: dict, cause_starts: str) -> None:
    assert doc["status"] == "RolledBack", doc["status"]
    cause = doc["failure"]["Cause"]
    assert cause.startswith(cause_starts), cause
    assert not [m for m in RAW_ERROR_MARKERS if m in cause], f"not plain text: {cause}"
    assert settlements(doc) == [cause], settlements(doc)


def status_event(stack, arn: str, status: str, error: str, cause: str) -> dict:
    """A "Step Functions Execution Status Change" event as Step Functions puts it on the bus."""
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)
    detail = {
        "executionArn": arn,
        "stateMachineArn": stack.state_machine_arn,
        "name": name_of(arn),
        "status": status,
        "startDate": now - 60_000,
        "stopDate": now,
        "input": "{}",
        "inputDetails": {"included": True},
        "output": None,
        "outputDetails": None,
        "error": error,
        "cause": cause,
    }
    return {
        "Source": "aws.states",
        "DetailType": "Step Functions Execution Status Change",
        "Resources": [arn],
        "Detail": json.dumps(detail),
    }


def baking_at_ten(stack, app: App, alarm: str) -> str:
    """A 30-minute canary of app watching `alarm`, started and baking at 10 %."""
    arn = stack.start_deployment({"targets": [app.target()], "strategy": "Canary10Percent30Minutes", "alarms": [alarm]})
    wait_until(lambda: app.journal() == [("1", W(10))], what="the 10% shift")
    wait_until(lambda: watch_began(stack, arn), what="the bake's watch")
    return arn


def test_two_deployments_started_at_once_on_one_alias_only_one_proceeds(stack, app):
    """Protection: validate's lock (taken conditionally, all or none). Without it both validates
    pass, both shift (the second finds its step already there) and both succeed."""
    a = app()
    initial = revision(a)
    request = {"targets": [a.target()], "strategy": {"steps": [{"weight": 50, "bake": "5m"}, {"weight": 100}]}}
    arns = [None, None]
    barrier = threading.Barrier(2)

    def start(i):
        barrier.wait()
        arns[i] = stack.start_deployment(request)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = [finish(stack, arn) for arn in arns]
    statuses = sorted(d["status"] for d in results)
    assert statuses == ["FAILED", "SUCCEEDED"], results
    winner, loser = (0, 1) if results[0]["status"] == "SUCCEEDED" else (1, 0)
    assert results[loser]["error"] == "AliasBusy", results[loser]
    assert f"being deployed by {name_of(arns[winner])} (execution {arns[winner]}" in results[loser]["cause"]
    assert a.journal() == [("1", W(50)), ON_V2], "only the winner wrote"
    assert_chain(a, initial)
    assert lock(stack, a.name) is None


def test_a_stop_while_rollback_writes_is_settled_once(faults, app, alarm):
    """An alarm starts Rollback; its UpdateAlias is held; the operator stops the execution. The
    safety net restores the alias and settles the record while Rollback's write is in flight;
    that write then meets a new RevisionId (412), Rollback finds the alias back already and its
    record is refused. Protection: the ledger settles a record once (PutItem conditional on
    `settled = false`); without it Rollback's late record replaces the safety net's."""
    stack = faults
    a = app()
    initial = revision(a)
    name = alarm()
    arn = baking_at_ten(stack, a, name)
    stack.faults.inject("UpdateAlias", delay_seconds=HOLD)
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors")
    released = held(stack) + HOLD
    assert a.journal() == [("1", W(10))], "Rollback's write is held"
    stack.sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped during the rollback")
    wait_until(lambda: a.alias() == ON_V1 and lock(stack, a.name) is None, timeout=HOLD, what="the safety net")
    assert time.time() < released, "the safety net settled it while Rollback's write was held"
    settled = record(stack, name_of(arn))
    # Rollback's write lands now (refused: stale revision); Rollback ends within a second.
    time.sleep(max(0.0, released - time.time()) + 3)
    assert stack.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert a.alias() == ON_V1 and lock(stack, a.name) is None
    assert a.journal() == [("1", W(10)), ON_V1], "one restoring write: the safety net's"
    assert_chain(a, initial)
    doc = record(stack, name_of(arn))
    assert doc == settled, "the record stays as the safety net settled it"
    assert_settled_once(
        doc,
        "the execution was stopped (ABORTED) at step 1/2 (10% on the new version); sluice's safety net rolled it "
        f"back. Rolled back: {a.name}:live back on version 1",
    )


def test_the_safety_net_and_rollback_at_once_write_only_conditionally(faults, app, alarm):
    """An alarm starts Rollback; its UpdateAlias is held; meanwhile an ending of the execution
    reaches the safety net twice (a FAILED event delivered while Rollback still runs, as when
    its task timed out, and duplicated). The safety net restores; Rollback's held write, on the
    revision it read before, is refused, and Rollback finds the alias back. Protection: the write
    conditional on RevisionId (the journal's chain); without it Rollback's write lands blind."""
    stack = faults
    a = app()
    initial = revision(a)
    name = alarm()
    arn = baking_at_ten(stack, a, name)
    stack.faults.inject("UpdateAlias", delay_seconds=HOLD)
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors")
    released = held(stack) + HOLD
    ended = status_event(stack, arn, "FAILED", "States.Timeout", "Task timed out after 120.00 seconds")
    out = stack.events.put_events(Entries=[ended, ended])
    assert out["FailedEntryCount"] == 0, out
    wait_until(lambda: a.alias() == ON_V1 and lock(stack, a.name) is None, timeout=HOLD, what="the safety net")
    assert time.time() < released, "the safety net settled it while Rollback's write was held"
    d = finish(stack, arn)
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    assert d["cause"].endswith(f"Rolled back: {a.name}:live already on version 1"), d["cause"]
    journal = a.journal()
    # The safety net's restore, and at most one fence by its duplicate: never Rollback's write.
    assert journal[0] == ("1", W(10)) and journal[1:] in ([ON_V1], [ON_V1, ON_V1]), journal
    assert_chain(a, initial)
    assert a.alias() == ON_V1 and lock(stack, a.name) is None
    assert_settled_once(
        record(stack, name_of(arn)),
        "the execution failed with States.Timeout (Task timed out after 120.00 seconds) (FAILED) at step 1/2 "
        f"(10% on the new version); sluice's safety net rolled it back. Rolled back: {a.name}:live back on version 1",
    )


def test_a_late_rollback_write_leaves_the_next_deployment_alone(faults, app, alarm):
    """An alarm starts Rollback; its UpdateAlias is held; the operator stops the execution; the
    safety net restores the alias and releases the lock; the next deployment locks it and shifts
    it to 10 %, a routing the first deployment's plan has too. Then Rollback's write lands,
    refused (stale revision), and Rollback reads the alias again. Protection: the lock, read after
    every read of the alias: the alias is the next deployment's now, and Rollback leaves it. With
    the lock read once before the first read (as sluice did), the second try took 10 % of version
    2 for its own step and wrote the alias back under the next deployment, which then failed."""
    stack = faults
    a = app()
    initial = revision(a)
    name = alarm()
    first = baking_at_ten(stack, a, name)
    stack.faults.inject("UpdateAlias", delay_seconds=HOLD)
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors")
    released = held(stack) + HOLD
    stack.sfn.stop_execution(executionArn=first, error="Operator", cause="stopped during the rollback")
    wait_until(lambda: a.alias() == ON_V1 and lock(stack, a.name) is None, timeout=HOLD, what="the safety net")
    # A 10-minute canary (12 s here): it bakes at 10 % well past the release of the held write.
    second = stack.start_deployment({"targets": [a.target()], "strategy": "Canary10Percent10Minutes"})
    wait_until(lambda: a.journal() == [("1", W(10)), ON_V1, ("1", W(10))], timeout=HOLD, what="the next deployment")
    assert time.time() < released, "the next deployment shifted while the first one's Rollback write was held"
    # The held write lands (refused: stale revision) and Rollback decides again, within a second.
    time.sleep(max(0.0, released - time.time()) + 3)
    assert a.journal() == [("1", W(10)), ON_V1, ("1", W(10))], "the first deployment wrote nothing more"
    d = finish(stack, second)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    assert a.journal() == [("1", W(10)), ON_V1, ("1", W(10)), ON_V2]
    assert_chain(a, initial)
    assert a.alias() == ON_V2 and lock(stack, a.name) is None
    assert_settled_once(
        record(stack, name_of(first)),
        "the execution was stopped (ABORTED) at step 1/2 (10% on the new version); sluice's safety net rolled it "
        f"back. Rolled back: {a.name}:live back on version 1",
    )
    assert record(stack, name_of(second))["status"] == "Deployed"


def test_an_alarm_while_shift_writes_rolls_back_every_alias_at_once(faults, app, alarm, stack):
    """Shift's first UpdateAlias (of two targets) is held and the alarm fires meanwhile: its event
    finds no bake watching (the bake starts after Shift), so it stops nothing. Shift ends, both
    aliases at 10 %; the bake's watch registers, then reads the alarm: ALARM, and Rollback puts
    both back, long before the bake's only backstop check (at its end, 36 s here). Protection:
    the watch registers before it reads the alarms (an alarm that fires before the registration
    is read, one after it is heard), with the backstop's read of state and history behind it.
    Shift and Rollback never overlap within an execution (Rollback runs from Shift's Catch, after
    its task ended), so no RevisionId condition is at stake here."""
    a, b = app(), app(prefix="billing")
    initial = {x.name: revision(x) for x in (a, b)}
    name = alarm()
    stack.faults.inject("UpdateAlias", delay_seconds=3)
    arn = stack.start_deployment(
        {
            "targets": [a.target(), b.target()],
            "strategy": "Canary10Percent30Minutes",
            "alarms": [name],
            "checkInterval": "30m",
        }
    )
    held(stack)
    assert a.journal() == [] and b.journal() == [], "Shift's first write is held"
    fired = time.time()
    stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors during the shift")
    d = finish(stack, arn, timeout=90)
    took = time.time() - fired
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    assert WATCH_CAUSE in d["cause"], d["cause"]
    assert d["cause"].endswith(f"Rolled back: {a.name}:live back on version 1; {b.name}:live back on version 1"), d[
        "cause"
    ]
    checks = [
        e for e in stack.execution_history(arn) if e.get("stateEnteredEventDetails", {}).get("name") == "CheckAlarms"
    ]
    assert checks == [], "no backstop check ran: the watch's read stopped the bake"
    assert took < 20, f"rolled back {took:.1f}s after the alarm"
    events = [e for e in stack.alarm_events.emitted(alarm=name) if e["state"] == "ALARM"]
    assert len(events) == 1 and events[0]["emittedAt"] < fired + 1, events
    [delivery] = [x for x in stack.journals.deliveries() if x["payload"].get("detail", {}).get("alarmName") == name]
    assert json.loads(delivery["response"])["stopped"] == [], "the event came while no bake watched"
    for x in (a, b):
        assert x.journal() == [("1", W(10)), ON_V1], (x.name, x.journal())
        assert_chain(x, initial[x.name])
        assert x.alias() == ON_V1 and lock(stack, x.name) is None
    assert watched(stack, name) == set()


def test_a_stop_while_shift_writes_then_an_immediate_restart_ends_on_one_version(faults, app):
    """The README's advice for a busy alias, taken at the worst moment: the first deployment's
    Shift UpdateAlias is held (Step Functions does not stop a running Lambda), the operator stops
    it and starts the next deployment at once, before the safety net has run. The held write
    lands late. Once everything has settled the alias serves one version with no weights, no
    lock is left, the first deployment is rolled back and the second deployed, and no record
    blames "someone else". Protection: validate settles an ended holder's deployment (restore and
    fence: the late write meets a new RevisionId) before it takes the lock, and reads the alias
    under the lock. Without it (the lock taken over at once, the alias read before locking) the
    late 10 % landed under the second deployment's lock, which rolled back as changed by someone
    else, and the first's safety net left the alias weighted."""
    stack = faults
    a = app()
    hook = f"{a.name}-slow"
    stack.create_function(hook, "hook-slow")
    initial = revision(a)
    stack.faults.inject("UpdateAlias", delay_seconds=HOLD, match=a.name, callers=["sluice"])
    with sweeper_paused(stack):
        first = stack.start_deployment({"targets": [a.target()], "strategy": "Canary10Percent30Minutes"})
        released = held(stack) + HOLD
        # Its status event comes late (delivered best effort): no safety net has run when the
        # second deployment starts.
        stack.status_events.delay(30, execution=name_of(first), status="ABORTED")
        stack.sfn.stop_execution(executionArn=first, error="Operator", cause="stopped to start again")
        # The second deployment's PreTraffic hook takes 8 s: the held write lands while it runs,
        # after the second deployment has read the alias and before it shifts.
        second = stack.start_deployment(
            {"targets": [a.target()], "strategy": "AllAtOnce", "hooks": {"preTraffic": hook}}
        )
        d = finish(stack, second)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    # The held write has landed (or been refused) by now; nothing moves after it.
    time.sleep(max(0.0, released - time.time()) + 3)
    assert a.alias() == ON_V2, a.journal()
    assert lock(stack, a.name) is None
    assert_chain(a, initial)
    assert a.journal()[-1] == ON_V2, a.journal()
    assert stack.sfn.describe_execution(executionArn=first)["status"] == "ABORTED"
    stopped = record(stack, name_of(first))
    assert stopped["status"] == "RolledBack", stopped["status"]
    assert stopped["failure"]["Cause"].startswith("the execution was stopped (ABORTED)"), stopped["failure"]
    deployed = record(stack, name_of(second))
    assert deployed["status"] == "Deployed", deployed["status"]
    # The version the second deployment rolls back to is the one that was live and settled.
    assert deployed["targets"][0]["previousVersion"] == "1", deployed["targets"]
    for doc in (stopped, deployed):
        assert not [e for e in doc["history"] if "someone else" in e["message"]], doc["history"]
