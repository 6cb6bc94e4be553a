"""End to end: the canary analysis judges the new version on its own AWS/Lambda metrics (recorded
per ExecutedVersion by the local stack's Lambda, read with GetMetricData), with no alarm in the
request. Live traffic runs on the alias (tests/stack/traffic.py).

Time scaling shortens Waits, not the traffic: a check interval of 8m waits ~10 s of real time here,
so each check sees the calls of ~10 s. The canary serves half the traffic, so the default
minInvocations (30) is reached at the first check at the stack's ~6 invokes a second."""

from scenario import ON_V1, ON_V2, W, finish, name_of, output, record, run

from traffic import Traffic

# Each check sees INTERVAL (Wait seconds) x TIME_SCALE seconds of traffic.
INTERVAL = "8m"


def request(app, bake: str, **extra) -> dict:
    return {
        "targets": [app.target()],
        "strategy": {"canary": {"percent": 50, "interval": bake}},
        "checkInterval": INTERVAL,
        **extra,
    }


def checks(stack, arn) -> int:
    """How many backstop checks the execution ran."""
    return sum(
        1
        for e in stack.execution_history(arn)
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "CheckAlarms"
    )


def traffic(stack, app) -> Traffic:
    return Traffic(stack, app.name, "live", per_second=8, payload={"order": 42})


def test_a_version_failing_a_fifth_of_its_calls_is_rolled_back_by_the_analysis_alone(stack, app):
    a = app(v2_binary="demo-flaky")
    with traffic(stack, a) as t:
        arn = stack.start_deployment(request(a, "40m"))
        d = finish(stack, arn, timeout=180)
    assert d["status"] == "FAILED", d
    assert d["error"] == "AnalysisFailed", d
    cause = d["cause"]
    assert cause.startswith(f"{a.name}:live: v2 error rate "), cause
    assert " vs v1 0% (0 of " in cause and "v2 served " in cause, cause
    assert "at step 1/2 (50% on the new version" in cause, cause
    assert checks(stack, arn) <= 2, f"{checks(stack, arn)} checks: {cause}"
    assert a.journal() == [("1", W(50)), ON_V1]
    seen = t.by_version()
    assert seen.get("2", {}).get("errors", 0) > 0, seen


def test_a_good_version_under_the_same_traffic_succeeds_every_time(stack, app):
    """Ten deployments of a version no worse than the stable one, each judged at two checks: no
    false rollback. Half of them clean on both sides, half failing one call in five on both sides
    (demo-flaky for both versions), where only the statistics keep a good version from a
    rollback."""
    verdicts = []
    for i in range(10):
        flaky = i % 2 == 1
        a = app(v1_binary="demo-flaky", v2_binary="demo-flaky") if flaky else app()
        with traffic(stack, a):
            arn = stack.start_deployment(request(a, "16m"))
            d = finish(stack, arn, timeout=180)
        assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
        assert a.alias() == ON_V2
        doc = output(d)
        # The bake's last verdict is in the document: both versions' figures.
        judged = [line["message"] for line in doc["history"] if "baked" in line["message"]]
        verdicts.append(judged[-1])
        assert ("v2 error rate 0% (0 of " in judged[-1]) != flaky, judged
        assert not doc.get("warnings"), doc.get("warnings")
    print("\n".join(verdicts))


def test_a_good_version_with_too_little_traffic_follows_the_inconclusive_policy(stack, app):
    # Default: pass, with the warning in the document and the history.
    a = app()
    arn, d = run(stack, request(a, INTERVAL), timeout=120)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    doc = output(d)
    assert doc["warnings"] == [
        f"step 1/2: passed without a verdict ({a.name}:live: v2 served 0 of 0 invocations (50% asked); "
        "at least 30 are needed for a verdict), as analysis.inconclusive says"
    ], doc["warnings"]
    last = record(stack, name_of(arn))["history"][-1]["message"]
    assert last.endswith("(1 warning: see warnings)"), last
    # "fail": rolled back, saying why.
    a = app()
    _, d = run(stack, request(a, INTERVAL, analysis={"inconclusive": "fail"}), timeout=120)
    assert (d["status"], d["error"]) == ("FAILED", "AnalysisFailed"), d
    assert d["cause"].startswith(f"no verdict on the new version ({a.name}:live: v2 served 0 of 0"), d["cause"]
    assert a.journal() == [("1", W(50)), ON_V1]


def test_the_old_versions_errors_do_not_roll_back_a_clean_canary(stack, app):
    a = app(v1_binary="demo-flaky", v2_binary="demo-ok")
    with traffic(stack, a):
        arn = stack.start_deployment(request(a, "16m"))
        d = finish(stack, arn, timeout=180)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    passed = [line["message"] for line in output(d)["history"] if "baked" in line["message"]][-1]
    assert "v2 error rate 0% (0 of " in passed and " vs v1 " in passed, passed
    assert " vs v1 0% " not in passed, f"the stable version failed calls too: {passed}"


def test_with_the_analysis_off_the_same_flaky_version_goes_through(stack, app):
    """What the analysis adds: without it (and without alarms) a bake is only a wait."""
    a = app(v2_binary="demo-flaky")
    with traffic(stack, a) as t:
        _, d = run(stack, request(a, INTERVAL, analysis=False), timeout=120)
    assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
    doc = output(d)
    assert "analysis" not in doc and not doc.get("lastCheck", {}).get("analysis"), doc.get("lastCheck")
    assert t.by_version().get("2", {}).get("errors", 0) > 0, t.by_version()


def test_analysis_costs_at_the_defaults_counted_from_real_executions(stack, app, alarm):
    """The history budget with the analysis at its defaults (checks every minute), with an alarm
    too, equal to what validate estimated; the figures go to docs/benchmarks.md."""
    for strategy, checks_expected in (("Canary10Percent30Minutes", 30), ("Linear10PercentEvery10Minutes", 90)):
        a = app()
        arn, d = run(stack, {"targets": [a.target()], "strategy": strategy, "alarms": [alarm()]}, timeout=300)
        assert d["status"] == "SUCCEEDED", (d.get("error"), d.get("cause"))
        events = stack.execution_history(arn)
        cost = output(d)["cost"]
        entered = [e for e in events if e["type"].endswith("StateEntered")]
        n = checks(stack, arn)
        print(
            f"\n{strategy}, analysis at the defaults and one alarm: {len(events)} history events, "
            f"{len(entered)} state transitions (${len(entered) * 0.000025:.4f}), {n} checks, "
            f"{n * 8} GetMetricData metrics (${n * 8 * 0.00001:.4f}); estimated {cost}"
        )
        assert n == cost["checks"] == checks_expected
        assert len(events) == cost["events"], [e["type"] for e in events]
        assert len(entered) == cost["transitions"]
