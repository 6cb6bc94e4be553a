"""A check hook (`hooks.check`): the user's own function asked at every check of every bake,
beside the alarms and the analysis. Its `Failed` is a breach: the deployment rolls back, its
reason in the cause."""

from scenario import ON_V1, W, name_of, record, run


def test_a_check_hook_failing_at_step_2_rolls_back_with_its_reason(stack, app):
    a = app()
    hook = f"{a.name}-check"
    stack.create_function(hook, "check-step2")  # passes step 1's checks, fails step 2's
    strategy = {"steps": [{"weight": 10, "bake": "1m"}, {"weight": 50, "bake": "1m"}, {"weight": 100}]}
    request = {"targets": [a.target()], "strategy": strategy, "hooks": {"check": hook}, "analysis": False}
    arn, d = run(stack, request, timeout=120)
    assert (d["status"], d["error"]) == ("FAILED", "HookFailed"), d
    assert f"the check hook {hook} failed: step 2: the smoke test's p99 is 900 ms, over its 500 ms" in d["cause"], d
    assert "at step 2/3 (50% on the new version" in d["cause"], d["cause"]
    assert a.alias() == ON_V1
    assert a.journal() == [("1", W(10)), ("1", W(50)), ("1", {})], "step 1 passed; step 2 rolled back"
    doc = record(stack, name_of(arn))
    assert doc["status"] == "RolledBack" and doc["hooks"]["check"] == hook
