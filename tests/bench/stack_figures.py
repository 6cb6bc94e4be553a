"""The figures of docs/benchmarks.md that only the local AWS stack gives (run by scripts/bench.sh).

Two local stacks, one after the other (tests/stack/stack.py LocalStack: moto's Step Functions
interpreter running the real ASL, cargo-lambda serving the real Rust functions):
- unscaled (time_scale 1.0): time to rollback, then orchestration overhead per step;
- time-scaled (--time-scale, default 0.002: a 30-minute bake waits 3.6 s): history events, state
  transitions and cost of each preset.

The JSON it writes (--out) is what tests/bench/report.py reads (it uses median_s, p90_s and runs of
the first two, preset, history_events, state_transitions and cost_usd of each preset; the other
keys are detail for people):

    {
      "rollback": {"median_s": 1.2, "max_s": 1.9, "p90_s": 1.6, "runs": 10, "samples": [...], ...},
      "step_overhead": {"median_s": 0.2, "max_s": 0.3, "p90_s": 0.25, "runs": 6, "samples": [...], ...},
      "presets": [{"preset": "Canary10Percent5Minutes", "history_events": 0, "state_transitions": 0,
                   "cost_usd": 0.0, "status": "SUCCEEDED", ...}, ...],
      "meta": {...}
    }

Run with tests/, tests/stack and tests/e2e on sys.path (done below), from the e2e venv, at the
repository's root:
    .venv/bin/python tests/bench/stack_figures.py --out target/bench/stack.json
Progress goes to stderr, one line per run.
"""

import argparse
import json
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "stack"), str(HERE.parent / "e2e")]

from scenario import EVENT_CAUSE, REACTION_PLANS, WATCH_CAUSE, alarm_to_rollback, finish, output  # noqa: E402 - the paths above

from conftest import App  # noqa: E402
from processes import stop_on_signals  # noqa: E402
from resources import create_alarm  # noqa: E402
from stack import LocalStack  # noqa: E402
from traffic import Traffic  # noqa: E402

# Step Functions Standard: USD per state transition (us-east-1), for cost per preset.
USD_PER_TRANSITION = 0.000025
# CloudWatch GetMetricData: USD per metric requested (us-east-1); the analysis asks 8 per check
# for one target (Invocations, Errors, Throttles, Duration p90 of both versions).
USD_PER_METRIC = 0.00001
METRICS_PER_CHECK = 8
ROLLBACK_PLANS = REACTION_PLANS
# Several shift steps with the shortest bake a linear strategy accepts (strategy.rs: "must be at
# least 1s"): 20%, 40%, 60%, 80% baking 1 s each, then 100%.
OVERHEAD_STRATEGY = {"linear": {"percent": 20, "interval": "1s"}}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(samples: list[float]) -> dict:
    """median, max and p90 (statistics.quantiles, inclusive: interpolated between samples)."""
    p90 = statistics.quantiles(samples, n=10, method="inclusive")[-1] if len(samples) > 1 else samples[0]
    return {
        "median_s": round(statistics.median(samples), 3),
        "max_s": round(max(samples), 3),
        "p90_s": round(p90, 3),
        "runs": len(samples),
        "samples": [round(s, 3) for s in samples],
    }


def strategy_label(strategy) -> str:
    return strategy if isinstance(strategy, str) else json.dumps(strategy, separators=(",", ":"))


def time_to_rollback(stack: LocalStack, runs: int) -> dict | None:
    """Time to rollback at the default settings (no checkInterval: the first check is a minute
    away, so only the alarm's event, or the watch's first read, can stop the bake sooner).

    Each run: a fresh deployment of two aliases (two new functions, versions 1 and 2, alias live on
    1) under one new alarm in OK, with the strategy and delay of ROLLBACK_PLANS; once both aliases
    carry weight, wait the delay, then SetAlarmState ALARM. Measured: from just before that call
    (the harness's clock) to the alias journal's `at` of the last of the two aliases written back to
    version 1 with no weights (the launcher's clock: the same machine). The first run is a warm-up,
    not counted (cargo-lambda builds and starts each function on its first invocation; AWS does
    not). A run that fails is reported on stderr and left out."""
    plans = ROLLBACK_PLANS[: runs + 1]
    plans += [ROLLBACK_PLANS[1 + i % (len(ROLLBACK_PLANS) - 1)] for i in range(runs + 1 - len(plans))]
    times, detail, failed = [], [], []
    for i, (strategy, delay) in enumerate(plans):
        label = strategy_label(strategy)
        which = "warm-up" if i == 0 else f"{i}/{len(plans) - 1}"
        try:
            seconds, d, apps = alarm_to_rollback(stack, strategy, delay)
            cause = d.get("cause", "")
            stopped_by = "event" if EVENT_CAUSE in cause else "watch" if WATCH_CAUSE in cause else "other"
            if d["status"] != "FAILED" or d.get("error") != "AlarmBreached" or stopped_by == "other":
                raise RuntimeError(f"ended {d['status']} {d.get('error')}: {cause[:300]}")
            if not all(x.alias() == ("1", {}) for x in apps):
                raise RuntimeError(f"aliases not back on version 1: {[x.alias() for x in apps]}")
        except Exception as e:  # a benchmark reports a failed run and goes on
            log(f"rollback {which}: {label}, alarm {delay}s into the bake: FAILED ({e})")
            failed.append({"strategy": strategy, "alarm_after_s": delay, "error": str(e)[:500]})
            continue
        log(f"rollback {which}: {label}, alarm {delay}s into the bake: {seconds:.3f}s (stopped by the {stopped_by})")
        if i == 0:
            continue
        times.append(seconds)
        detail.append({"strategy": strategy, "alarm_after_s": delay, "seconds": round(seconds, 3), "by": stopped_by})
    if not times:
        return None
    return {
        **summary(times),
        "measured": "SetAlarmState(ALARM) -> the last of 2 aliases written back (alias journal), time_scale 1.0",
        "detail": detail,
        "failed": failed,
    }


def analysis_rollback(stack: LocalStack, runs: int) -> dict | None:
    """Time to rollback by the canary analysis alone, no time scaling, the defaults (checks every
    minute, minInvocations 30), no alarm: a version failing one call in five (demo-flaky) at
    Canary10Percent5Minutes under 10 invokes a second on the alias. Measured: from the 10 % shift
    landing to the alias written back (both from the alias journal), and the checks it took."""
    times, detail = [], []
    for i in range(runs):
        try:
            app = App(stack, f"an-{uuid.uuid4().hex[:8]}", v2_binary="demo-flaky")
            with Traffic(stack, app.name, "live", per_second=10, payload={"order": 42}):
                arn = stack.start_deployment({"targets": [app.target()], "strategy": "Canary10Percent5Minutes"})
                d = finish(stack, arn, timeout=600)
            if d["status"] != "FAILED" or d.get("error") != "AnalysisFailed":
                raise RuntimeError(f"ended {d['status']} {d.get('error')}: {d.get('cause', '')[:300]}")
            writes = app.writes()
            seconds = writes[-1]["at"] - writes[0]["at"]
            checks = sum(
                1
                for e in stack.execution_history(arn)
                if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "CheckAlarms"
            )
        except Exception as e:
            log(f"analysis rollback {i + 1}/{runs}: FAILED ({e})")
            continue
        log(f"analysis rollback {i + 1}/{runs}: {seconds:.1f}s after the shift, {checks} checks: {d['cause'][:160]}")
        times.append(seconds)
        detail.append({"seconds": round(seconds, 1), "checks": checks, "cause": d["cause"][:300]})
    if not times:
        return None
    return {
        **summary(times),
        "measured": "10% shift -> alias written back (alias journal), defaults, 10 invokes/s, time_scale 1.0",
        "detail": detail,
    }


def step_overhead(stack: LocalStack, runs: int) -> dict | None:
    """Orchestration overhead per step, the LOCAL interpreter's figure (moto's Step Functions
    interpreter driving cargo-lambda's emulator on this machine, not AWS's), on the unscaled stack.

    Each run: a fresh one-alias app, OVERHEAD_STRATEGY (several shift steps, 1 s bakes), no alarms
    (so each bake is BakeWait, one CheckAlarms, no watch). Counted: the execution's history
    timestamps ExecutionStarted -> ExecutionSucceeded, minus the plan's bake seconds (the sum of
    bakeSeconds in the execution's own output), divided by the plan's steps (shift steps, the last
    one to 100% included). So the per-step figure includes every state transition and Lambda
    invocation (Validate, Shift, CheckAlarms, Finish), the Parallel and Choice states, and each
    Wait's overshoot past its planned second; the once-per-deployment Validate and Finish are
    spread over the steps. Not counted: StartExecution's own call and the client's polling."""
    samples, detail = [], []
    for i in range(runs):
        try:
            app = App(stack, f"ov-{uuid.uuid4().hex[:8]}")
            arn = stack.start_deployment({"targets": [app.target()], "strategy": OVERHEAD_STRATEGY})
            d = finish(stack, arn, timeout=120)
            if d["status"] != "SUCCEEDED":
                raise RuntimeError(f"ended {d['status']} {d.get('error')}: {d.get('cause', '')[:300]}")
            plan = output(d)["plan"]
            history = stack.execution_history(arn)
            stamp = {e["type"]: e["timestamp"].timestamp() for e in history}
            wall = stamp["ExecutionSucceeded"] - stamp["ExecutionStarted"]
        except Exception as e:
            log(f"overhead {i + 1}/{runs}: FAILED ({e})")
            continue
        bake = sum(s["bakeSeconds"] for s in plan)
        per_step = (wall - bake) / len(plan)
        log(f"overhead {i + 1}/{runs}: {wall:.3f}s for {len(plan)} steps and {bake}s of bake: {per_step:.3f}s per step")
        samples.append(per_step)
        detail.append({"execution_s": round(wall, 3), "planned_bake_s": bake, "steps": len(plan)})
    if not samples:
        return None
    return {
        **summary(samples),
        "label": "local interpreter (moto + cargo-lambda on this machine), not AWS Step Functions",
        "measured": "(ExecutionStarted -> ExecutionSucceeded) - planned bake seconds, / shift steps",
        "strategy": OVERHEAD_STRATEGY,
        "detail": detail,
    }


def preset_names() -> list[str]:
    """Every preset sluice accepts, as crates/core/src/strategy.rs lists them (TIMED_PRESETS, then
    AllAtOnce): read from the source, so a preset added there is benchmarked too."""
    source = (ROOT / "crates" / "core" / "src" / "strategy.rs").read_text()
    timed = re.findall(r'\("(\w+)", PresetKind::\w+, \d+\)', source)
    all_at_once = re.search(r'const ALL_AT_ONCE: &str = "(\w+)";', source)
    if not timed or not all_at_once:
        raise RuntimeError("no presets found in crates/core/src/strategy.rs: has their declaration changed?")
    return timed + [all_at_once.group(1)]


def presets(stack: LocalStack, failed: list[dict]) -> list[dict] | None:
    """Each preset deployed once at the defaults (no checkInterval), one alias, one alarm that
    stays OK, on the time-scaled stack (its Waits shrink; the history's events do not change):
    GetExecutionHistory's event count, the state transitions among them (every *StateEntered
    event, as AWS bills them), their cost at USD_PER_TRANSITION. `sluice_reported` is what the
    execution's own output says it cost (cost.events, cost.transitions), for a cross-check. A preset
    whose run raised is left out of the rows (report.py formats every row's numbers) and added to
    `failed`."""
    names = preset_names()
    rows = []
    for i, (name, analysis) in enumerate((n, a) for n in names for a in (True, False)):
        try:
            app = App(stack, f"pr-{uuid.uuid4().hex[:8]}")
            started = time.time()
            alarm = create_alarm(stack.cloudwatch, state="OK")
            request = {"targets": [app.target()], "strategy": name, "alarms": [alarm]}
            if not analysis:
                request["analysis"] = False
            arn = stack.start_deployment(request)
            d = finish(stack, arn, timeout=240)
            took = time.time() - started
            history = stack.execution_history(arn)
        except Exception as e:
            log(f"preset {i + 1}/{2 * len(names)} {name} (analysis {analysis}): FAILED ({e})")
            failed.append({"preset": name, "analysis": analysis, "error": str(e)[:500]})
            continue
        transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
        reported = output(d).get("cost", {}) if d["status"] == "SUCCEEDED" else {}
        checks = sum(
            1
            for e in history
            if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "CheckAlarms"
        )
        metrics = checks * METRICS_PER_CHECK if analysis else 0
        row = {
            "preset": name,
            "analysis": analysis,
            "checks": checks,
            "get_metric_data_metrics": metrics,
            "cloudwatch_cost_usd": round(metrics * USD_PER_METRIC, 6),
            "history_events": len(history),
            "state_transitions": transitions,
            "cost_usd": round(transitions * USD_PER_TRANSITION, 6),
            "status": d["status"],
            "steps": len(output(d)["plan"]) if d["status"] == "SUCCEEDED" else None,
            "sluice_reported": {k: reported.get(k) for k in ("events", "transitions", "checks")},
            "scaled_wall_s": round(took, 2),
        }
        rows.append(row)
        agrees = reported.get("events") == len(history) and reported.get("transitions") == transitions
        log(
            f"preset {i + 1}/{2 * len(names)} {name} (analysis {analysis}): {d['status']}, {len(history)} events, "
            f"{transitions} transitions, {checks} checks, "
            f"${row['cost_usd']:.6f} ({took:.1f}s{'' if agrees else f'; sluice reported {reported}'})"
        )
    return rows or None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--time-scale", type=float, default=0.002, help="the presets' stack (the other one is unscaled)"
    )
    parser.add_argument("--rollback-runs", type=int, default=10, help="measured, after one warm-up")
    parser.add_argument("--overhead-runs", type=int, default=6)
    parser.add_argument("--analysis-runs", type=int, default=3)
    args = parser.parse_args()
    stop_on_signals()
    began = time.time()
    logs = ROOT / "tests" / ".stack" / "bench"
    log("starting the unscaled stack (time_scale 1.0)")
    with LocalStack(time_scale=1.0, log_dir=logs / "realtime") as stack:
        rollback = time_to_rollback(stack, args.rollback_runs)
        overhead = step_overhead(stack, args.overhead_runs)
        by_analysis = analysis_rollback(stack, args.analysis_runs)
    log(f"starting the scaled stack (time_scale {args.time_scale})")
    with LocalStack(time_scale=args.time_scale, log_dir=logs / "scaled") as stack:
        presets_failed: list[dict] = []
        per_preset = presets(stack, presets_failed)
    figures = {
        "rollback": rollback,
        "step_overhead": overhead,
        "analysis_rollback": by_analysis,
        "presets": per_preset,
        "meta": {
            "rollback_and_overhead_time_scale": 1.0,
            "presets_time_scale": args.time_scale,
            "usd_per_transition": USD_PER_TRANSITION,
            "presets_failed": presets_failed,
            "wall_s": round(time.time() - began, 1),
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    log(f"wrote {out} in {figures['meta']['wall_s']}s")


if __name__ == "__main__":
    main()
