"""Traffic hooks that take their time (issue 19, part 1): an invoked hook that answers InProgress
is called again with the state it returned until it answers or its timeout runs out; a callback
hook reports with its task token (SendTaskSuccess / SendTaskFailure, through sluice-hook's
Reporter in the demo's hooks) within its timeout. Every ending: success, failure, timeout,
crash."""

import re
import time

from scenario import ON_V1, ON_V2, W, name_of, output, record, run

from executions import history


def test_an_invoked_hook_in_progress_three_times_then_succeeded_passes(stack, app):
    a = app()
    hook = f"{a.name}-smoke"
    stack.create_function(hook, "hook-progress")  # fails unless its state comes back as it left it
    request = {
        "targets": [a.target()],
        "strategy": "AllAtOnce",
        "hooks": {"preTraffic": {"function": hook, "timeout": "1m"}},
    }
    arn, d = run(stack, request)
    assert d["status"] == "SUCCEEDED", d
    assert a.alias() == ON_V2
    said = [e["message"] for e in record(stack, name_of(arn))["history"]]
    for call in (1, 2, 3):
        # A minute's hook is called at most every 2 s, whatever retryAfterSeconds (1) asks.
        line = f"PreTraffic hook {hook} in progress (call {call}): smoke test {call} of 3 running; called again in 2s"
        assert line in said, said
    assert any(m.startswith(f"PreTraffic hook {hook} passed after 4 calls over ") for m in said), said
    # Four calls, each CallHook, JudgeHook and HookNext, with three HookWaits between: the
    # success path's count (one call) and three calls more, within the worst case budgeted.
    events = history(stack.sfn, arn)
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "TaskStateEntered"]
    calls = [name for name in entered if name == "CallHook"]
    assert len(calls) == 4
    cost = output(d)["cost"]
    assert len(events) == cost["events"] + 3 * (5 + 5 + 2 + 2), [e["type"] for e in events]
    assert len(events) < cost["worstCaseEvents"]


def test_an_invoked_hook_that_never_finishes_times_out_and_rolls_back(stack, app):
    a = app()
    hook = f"{a.name}-forever"
    stack.create_function(hook, "hook-forever")  # InProgress at every call
    request = {
        "targets": [a.target()],
        "strategy": {"canary": {"percent": 10, "interval": "5s"}},
        "hooks": {"postTraffic": {"function": hook, "timeout": "12s"}},
    }
    arn, d = run(stack, request)
    assert (d["status"], d["error"]) == ("FAILED", "HookFailed"), d
    # 12 s of waits asked (the local stack's Waits are shorter; the calls take real time): about
    # 13 calls, one a second, whatever the clock says.
    said = re.match(
        rf"PostTraffic hook {hook} failed: it was still in progress after 1[2-9]s "
        rf"\((\d+) calls; its timeout is 12s\)\. "
        rf"Rolled back: {a.name}:live back on version 1",
        d["cause"],
    )
    assert said and 2 <= int(said.group(1)) <= 13, d["cause"]
    assert a.journal() == [("1", W(10)), ON_V2, ON_V1]
    assert record(stack, name_of(arn))["status"] == "RolledBack"


def test_an_invoked_hook_that_answers_failed_after_taking_its_time_rolls_back_with_its_reason(stack, app):
    a = app()
    hook = f"{a.name}-load"
    stack.create_function(hook, "hook-progress-fails")  # InProgress, then Failed
    request = {
        "targets": [a.target()],
        "strategy": {"canary": {"percent": 10, "interval": "5s"}},
        "hooks": {"postTraffic": {"function": hook, "timeout": "1m"}},
    }
    arn, d = run(stack, request)
    assert (d["status"], d["error"]) == ("FAILED", "HookFailed"), d
    assert d["cause"].startswith(
        f"PostTraffic hook {hook} failed: it answered Failed: load test: p99 1.4 s at 200 rps, over its 800 ms. "
        f"Rolled back: {a.name}:live back on version 1"
    ), d["cause"]
    assert a.journal() == [("1", W(10)), ON_V2, ON_V1]
    said = [e["message"] for e in record(stack, name_of(arn))["history"]]
    assert f"PostTraffic hook {hook} in progress (call 1); called again in 2s" in said, said


def callback(function, timeout):
    return {"function": function, "mode": "callback", "timeout": timeout}


def test_a_callback_hook_answered_by_send_task_success_passes(stack, app):
    a = app()
    hook = f"{a.name}-qa"
    stack.create_function(hook, "hook-callback-approve")
    request = {"targets": [a.target()], "strategy": "AllAtOnce", "hooks": {"preTraffic": callback(hook, "2h")}}
    arn, d = run(stack, request)
    assert d["status"] == "SUCCEEDED", d
    assert a.alias() == ON_V2
    events = history(stack.sfn, arn)
    assert len(events) == output(d)["cost"]["events"], [e["type"] for e in events]
    scheduled = [
        e
        for e in events
        if e["type"] == "TaskScheduled" and "waitForTaskToken" in e["taskScheduledEventDetails"]["resource"]
    ]
    assert len(scheduled) == 1
    assert '"taskToken"' in scheduled[0]["taskScheduledEventDetails"]["parameters"]


def test_a_callback_hook_answered_by_send_task_failure_rolls_back_with_its_cause(stack, app):
    a = app()
    hook = f"{a.name}-qa"
    stack.create_function(hook, "hook-callback-reject")
    request = {
        "targets": [a.target()],
        "strategy": {"canary": {"percent": 10, "interval": "5s"}},
        "hooks": {"postTraffic": callback(hook, "2h")},
    }
    _, d = run(stack, request)
    assert (d["status"], d["error"]) == ("FAILED", "HookFailed"), d
    assert d["cause"].startswith(
        f"PostTraffic hook {hook} failed: it reported QaRejected: QA found the checkout button missing on "
        f"{a.name} version 2. Rolled back: {a.name}:live back on version 1"
    ), d["cause"]
    assert a.journal() == [("1", W(10)), ON_V2, ON_V1]


def test_a_callback_hook_that_never_reports_times_out(stack, app):
    a = app()
    hook = f"{a.name}-qa"
    stack.create_function(hook, "hook-callback-silent")
    request = {"targets": [a.target()], "strategy": "AllAtOnce", "hooks": {"preTraffic": callback(hook, "4s")}}
    started = time.monotonic()
    _, d = run(stack, request)
    assert (d["status"], d["error"]) == ("FAILED", "HookFailed"), d
    assert time.monotonic() - started >= 4, "it waited out the hook's timeout"
    assert d["cause"].startswith(
        f"PreTraffic hook {hook} failed, so no traffic was shifted: it did not report within its timeout of 4s "
        "(SendTaskSuccess or SendTaskFailure with the taskToken it was handed). "
    ), d["cause"]
    assert a.journal() == [] and a.alias() == ON_V1


def test_a_hook_that_crashes_fails_at_once_in_either_mode(stack, app):
    a = app()
    hook = f"{a.name}-buggy"
    stack.create_function(hook, "hook-panic")  # index out of bounds at every call
    for mode in ("invoke", "callback"):
        started = time.monotonic()
        request = {
            "targets": [a.target()],
            "strategy": "AllAtOnce",
            "hooks": {"preTraffic": {"function": hook, "mode": mode, "timeout": "1h"}},
        }
        _, d = run(stack, request)
        assert (d["status"], d["error"]) == ("FAILED", "HookFailed"), (mode, d)
        assert time.monotonic() - started < 60, f"{mode}: a crash does not wait for the hour"
        shifted_nothing = f"PreTraffic hook {hook} failed, so no traffic was shifted: it raised "
        assert d["cause"].startswith(shifted_nothing), d["cause"]
        assert "it raised Lambda panicked: index out of bounds" in d["cause"], d["cause"]
        assert "alloc::" not in d["cause"], "a panic's type path says nothing to a person"
    assert a.journal() == [] and a.alias() == ON_V1
