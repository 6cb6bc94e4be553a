"""`sluice report`, the real CLI, on deployments of the local stack, each page loaded in Debian's
Chromium (headless, through Playwright) with every network request refused: a canary rolled back
by an alarm under live traffic (and its snapshot while it still baked), a successful two-step
deployment, and a paused one. Each page must load without a console error or a request, and draw
as many weight steps, checks and alarm moves as the execution's own history holds. A screenshot
of each is written to tests/.stack/ for a person to look at."""

import shutil
import time
import uuid
from pathlib import Path

from scenario import ON_V1, ON_V2, W, finish, name_of
from test_cli import sluice
from test_commands import rec

from conftest import wait_until
from traffic import Traffic

# scripts/test.sh installs Debian's chromium (scripts/lib.sh: ensure_chromium); missing, these fail.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def load(path: Path, screenshot: Path) -> dict:
    """The page as Chromium shows it: console errors, refused requests, and a count of what it
    drew (by the classes the report gives its marks)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "no chromium: scripts/test.sh installs it (apt-get install chromium)"
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1040, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def refuse(route):
            if route.request.url != path.as_uri():
                requests.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        page.route("**/*", refuse)
        page.goto(path.as_uri())
        counts = page.evaluate(
            """() => {
                const n = (s) => document.querySelectorAll(s).length;
                return {
                    timeline: n('svg#timeline'), shifts: n('#timeline .shift'), rollbacks: n('#timeline .rollback'),
                    checks: n('#timeline .check'), breaches: n('#timeline .check.breach'),
                    toAlarm: n('#timeline .alarm-change.to-alarm'),
                    pauses: n('#timeline .pause'), gates: n('#timeline .gate'),
                    bakes: n('#timeline .bake'), endingGood: n('#timeline .ending.good'),
                    endingBad: n('#timeline .ending.bad'), charts: n('svg.chart'),
                    stableLines: n('svg.chart .series.stable'), newLines: n('svg.chart .series.new'),
                    verdict: document.querySelector('#verdict').textContent,
                    verdictClass: document.querySelector('#verdict').className,
                    who: [...document.querySelectorAll('#who .action')].map((e) => e.textContent),
                    noMetrics: (document.querySelector('#no-metrics') || {}).textContent || null,
                };
            }"""
        )
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return {**counts, "errors": errors, "requests": requests}


def report(stack, deployment: str, tag: str) -> dict:
    out_dir = stack.log_dir / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{tag}-{deployment}.html"
    out = sluice(stack, "report", deployment, "--out", str(path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"written to {path}" in out.stdout, out.stdout
    text = path.read_text()
    # Opens with the network off: no URL of any kind, no script, nothing to fetch.
    assert "://" not in text and "<script" not in text and "<link" not in text
    seen = load(path, stack.log_dir / f"report-{tag}.png")
    assert seen["errors"] == [], seen["errors"]
    assert seen["requests"] == [], seen["requests"]
    assert seen["timeline"] == 1
    return seen


def ran(stack, arn, state: str) -> int:
    """How many times the execution left `state` (its history, not the report's)."""
    return sum(
        1
        for e in stack.execution_history(arn)
        if e["type"].endswith("StateExited") and e["stateExitedEventDetails"]["name"] == state
    )


def test_a_rolled_back_canary_its_snapshot_while_baking_and_its_metrics(stack, app, alarm):
    a = app()
    name = alarm()
    deployment = f"report-bad-{uuid.uuid4().hex[:8]}"
    with Traffic(stack, a.name, "live", per_second=6) as traffic:
        out = sluice(
            stack,
            "deploy",
            "--function",
            a.name,
            "--alias",
            "live",
            "--target-version",
            "2",
            "--strategy",
            '{"canary": {"percent": 50, "interval": "30m"}}',
            "--alarm",
            name,
            "--check-interval",
            "5m",
            "--no-analysis",
            "--name",
            deployment,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        arn = execution_arn(stack, deployment)
        wait_until(lambda: a.journal() == [("1", W(50))], what="the 50% shift")
        wait_until(lambda: "lastCheck" in rec(stack, arn), what="a first check", timeout=60)

        snapshot = report(stack, deployment, "running")
        assert snapshot["verdictClass"] == "verdict running", snapshot["verdict"]
        assert snapshot["verdict"].startswith("Running: "), snapshot["verdict"]
        assert snapshot["shifts"] == 1 and snapshot["rollbacks"] == 0, snapshot
        assert snapshot["checks"] >= 1 and snapshot["breaches"] == 0, snapshot

        stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors in the report test")
        d = finish(stack, arn, timeout=120)
    assert d["status"] == "FAILED" and d["error"] == "AlarmBreached", d
    assert a.journal() == [("1", W(50)), ON_V1]
    assert traffic.by_version().get("2", {}).get("calls", 0) > 0, traffic.by_version()

    seen = report(stack, deployment, "rolled-back")
    assert seen["verdict"].startswith("Rolled back (AlarmBreached): "), seen["verdict"]
    assert "errors in the report test" in seen["verdict"], seen["verdict"]
    assert seen["verdictClass"] == "verdict bad"
    assert seen["shifts"] == ran(stack, arn, "Shift") == 1, seen
    assert seen["rollbacks"] == 1 and seen["endingBad"] == 1, seen
    # Every check the bake ran (no command here, so no ApplyCommand read the alarms again).
    assert seen["checks"] == ran(stack, arn, "CheckAlarms"), seen
    assert seen["toAlarm"] == 1, seen
    # Both versions served traffic through the alias: a line each on each of the three charts.
    assert seen["charts"] == 3, seen
    assert seen["stableLines"] >= 3 and seen["newLines"] >= 3, seen


def execution_arn(stack, deployment: str) -> str:
    return stack.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + deployment


def test_a_successful_two_step_deployment(stack, app):
    a = app()
    arn = stack.start_deployment(
        {
            "targets": [a.target()],
            "strategy": {"steps": [{"weight": 20, "bake": "1m"}, {"weight": 100}]},
            "analysis": False,
            "reason": "release 42",
        },
        name=f"report-good-{uuid.uuid4().hex[:8]}",
    )
    d = finish(stack, arn)
    assert d["status"] == "SUCCEEDED", d
    assert a.alias() == ON_V2
    seen = report(stack, name_of(arn), "deployed")
    assert seen["verdict"] == f"Deployed: {a.name}:live serves v2.", seen["verdict"]
    assert seen["shifts"] == ran(stack, arn, "Shift") == 2, seen
    assert seen["rollbacks"] == 0 and seen["endingGood"] == 1, seen
    assert seen["bakes"] == ran(stack, arn, "Bake"), seen
    assert any("release 42" in w for w in seen["who"]), seen["who"]
    # No traffic reached it: the page says so instead of drawing empty charts.
    assert seen["charts"] == 0 and "no AWS/Lambda figures" in (seen["noMetrics"] or ""), seen


def test_a_paused_deployment_then_its_gate_and_its_reject(stack, app):
    """Paused mid-bake (a snapshot), resumed, promoted to its gate and rejected there: the pause
    and the gate are spans, and each command is in "who did what" with its reason."""
    a = app()
    strategy = {
        "steps": [
            {"weight": 10, "bake": "2h"},
            {"approval": {"timeout": "4h", "onTimeout": "rollback"}},
            {"weight": 100},
        ]
    }
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": strategy, "analysis": False},
        name=f"report-paused-{uuid.uuid4().hex[:8]}",
    )
    wait_until(lambda: a.journal() == [("1", W(10))], what="the 10% shift")
    wait_until(lambda: rec(stack, arn).get("status") == "Baking", what="the bake")
    out = sluice(stack, "pause", name_of(arn), "--reason", "looking at a ticket")
    assert out.returncode == 0, out.stdout + out.stderr
    wait_until(lambda: rec(stack, arn).get("bake", {}).get("hold"), what="the pause")
    seen = report(stack, name_of(arn), "paused")
    assert seen["verdictClass"] == "verdict running", seen
    assert "paused by" in seen["verdict"], seen["verdict"]
    assert seen["pauses"] == 1 and seen["shifts"] == 1, seen
    assert any(" pause by " in w and "looking at a ticket" in w for w in seen["who"]), seen["who"]

    for command in (["resume", name_of(arn)], ["promote", name_of(arn)]):
        out = sluice(stack, *command)
        assert out.returncode == 0, out.stdout + out.stderr
    wait_until(lambda: (rec(stack, arn).get("bake", {}).get("hold") or {}).get("kind") == "approval", what="the gate")
    out = sluice(stack, "reject", name_of(arn), "--reason", "p99 up 30%")
    assert out.returncode == 0, out.stdout + out.stderr
    d = finish(stack, arn)
    assert (d["status"], d["error"]) == ("FAILED", "Rejected"), d
    assert a.alias() == ON_V1
    seen = report(stack, name_of(arn), "rejected")
    assert seen["verdict"].startswith("Rolled back (Rejected): rejected at the gate before step 2/2"), seen["verdict"]
    assert seen["pauses"] == 1 and seen["gates"] == 1 and seen["rollbacks"] == 1, seen
    who = " | ".join(seen["who"])
    for said in ("pause by ", "resume by ", "promote by ", "reject by "):
        assert said in who, (said, seen["who"])
    assert "p99 up 30%" in who, seen["who"]


def test_an_unknown_deployment_is_refused_and_writes_nothing(stack, tmp_path):
    path = tmp_path / "none.html"
    out = sluice(stack, "report", "no-such-deployment", "--out", str(path))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "no such deployment" in out.stderr, out.stderr
    assert not path.exists()


def test_sluice_watch_on_a_terminal_draws_the_compact_view(stack, app):
    """On a terminal (a pseudo-terminal here), watch redraws the weight bar, the step, what the
    deployment waits for and the last check in place; in a log it prints timestamped lines."""
    import os
    import pty
    import select
    import subprocess

    from processes import SLUICE_CLI

    a = app()
    arn = stack.start_deployment(
        {"targets": [a.target()], "strategy": {"canary": {"percent": 10, "interval": "5m"}}, "analysis": False},
        name=f"report-watch-{uuid.uuid4().hex[:8]}",
    )
    primary, secondary = pty.openpty()
    watch = subprocess.Popen(
        [str(SLUICE_CLI), "watch", name_of(arn)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**stack.cli_env(), "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"},
        close_fds=True,
    )
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while (watch.poll() is None or select.select([primary], [], [], 0.2)[0]) and time.monotonic() < deadline:
            if select.select([primary], [], [], 0.5)[0]:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
    finally:
        if watch.poll() is None:
            watch.kill()
        watch.wait(timeout=10)
        os.close(primary)
    text = seen.decode("utf-8", "replace")
    assert watch.returncode == 0, text[-2000:]
    assert f"{a.name}:live [" in text and "█" in text, text[-2000:]
    assert "10% on v2  step 1/2" in text, text[-2000:]
    assert "waiting for: the bake, " in text, text[-2000:]
    assert f"{name_of(arn)} SUCCEEDED" in text, text[-2000:]
    # In a log (no terminal), no bar: one timestamped line per new fact.
    out = sluice(stack, "watch", name_of(arn))
    assert out.returncode == 0 and "█" not in out.stdout, out.stdout
