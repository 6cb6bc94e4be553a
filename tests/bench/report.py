"""Renders scripts/bench.sh's measurements as one Markdown table (docs/benchmarks.md).

Inputs are the JSON files the bench writes under target/bench/: cold_start.json
(tests/bench/cold_start.py), sizes.json (bootstrap and zip sizes) and, when the local stack was
measured, stack.json (tests/bench/stack_figures.py). Whatever is missing becomes a marked
placeholder, never a made-up number.
"""

import argparse
import json
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

BASELINE = "hello-world"
PENDING = "_not measured in this run_ (`scripts/bench.sh` without `--no-stack`)"


def load(path: str | None) -> dict | None:
    if not path or not Path(path).exists():
        return None
    return json.loads(Path(path).read_text())


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    cores = len([line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("processor")])
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)
    return f"{cpu}, {cores} cores, {mem_kb / 1024 / 1024:.0f} GiB RAM, Linux {platform.release()}"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False).stdout.strip()


def commit() -> str:
    sha = git("rev-parse", "--short=12", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{sha}{' with uncommitted changes' if dirty else ''}"


def ms(stat: dict) -> str:
    return f"{stat['median']:.1f} / {stat['p90']:.1f}"


def cold_rows(cold: dict | None, sizes: dict | None) -> list[str]:
    results = (cold or {}).get("results", {})
    names = list(results) or list(sizes or {})
    base = results.get(BASELINE)
    rows = []
    for name in names:
        r = results.get(name)
        s = (sizes or {}).get(name)
        cells = [f"**{name}** (baseline)" if name == BASELINE else name]
        if r:
            ready, answered, rss = r["ready_ms"], r["answered_ms"], r["rss_kb"]
            cells += [ms(ready), ms(answered)]
            if base:
                b_ready, b_rss = base["ready_ms"]["median"], base["rss_kb"]["median"]
                delta = ready["median"] - b_ready
                cells += [f"{ready['median'] / b_ready:.2f}× ({delta:+.1f} ms)"]
                cells += [f"{rss['median'] / 1024:.1f} / {rss['p90'] / 1024:.1f}", f"{rss['median'] / b_rss:.2f}×"]
            else:
                cells += ["-", f"{rss['median'] / 1024:.1f} / {rss['p90'] / 1024:.1f}", "-"]
        else:
            cells += ["-"] * 5
        if s:
            cells += [f"{s['bootstrap'] / 1e6:.2f}", f"{s['zip'] / 1e6:.2f}"]
        else:
            cells += ["-", "-"]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def stack_section(stack: dict | None) -> list[str]:
    stack = stack or {}
    out = ["## On the local stack", ""]
    out.append("Counted by `tests/bench/stack_figures.py` on the local AWS stack (moto's Step Functions")
    out.append("interpreter running the real ASL, the real Rust functions), unless `scripts/bench.sh --no-stack`.")
    out.append("")
    rollback = stack.get("rollback")
    out.append("| figure | median | p90 | max | runs |")
    out.append("|---|---|---|---|---|")
    if rollback:
        out.append(
            "| time to rollback, no time scaling, default settings: alarm set to ALARM → every alias back "
            f"(s) | {rollback['median_s']:.2f} | {rollback['p90_s']:.2f} | {rollback['max_s']:.2f} | "
            f"{rollback['runs']} |"
        )
    else:
        out.append(f"| time to rollback: alarm in ALARM → every alias back | {PENDING} | | | |")
    overhead = stack.get("step_overhead")
    if overhead:
        out.append(
            "| orchestration overhead per step, bakes excluded (s), the local interpreter's figure "
            f"| {overhead['median_s']:.2f} | {overhead['p90_s']:.2f} | {overhead['max_s']:.2f} | "
            f"{overhead['runs']} |"
        )
    else:
        out.append(f"| orchestration overhead per step, bakes excluded | {PENDING} | | | |")
    by_analysis = stack.get("analysis_rollback")
    if by_analysis:
        out.append(
            "| time to rollback by the canary analysis alone, no time scaling, defaults (1m checks), "
            "no alarm: a version failing 1 call in 5 at a 10% canary, 10 invokes/s; 10% shift → alias back "
            f"(s) | {by_analysis['median_s']:.1f} | {by_analysis['p90_s']:.1f} | {by_analysis['max_s']:.1f} | "
            f"{by_analysis['runs']} |"
        )
    else:
        out.append(f"| time to rollback by the canary analysis alone | {PENDING} | | | |")
    out += [
        "",
        "Per preset, one successful deployment of one alias with one alarm, at the defaults: with the canary "
        "analysis (checks every minute, one GetMetricData call of 8 metrics each) and without it (alarm events "
        "and a 5-minute backstop):",
        "",
    ]
    out.append(
        "| preset | analysis | checks | history events | state transitions | Step Functions cost (USD) "
        "| GetMetricData metrics | CloudWatch cost (USD) |"
    )
    out.append("|---|---|---|---|---|---|---|---|")
    presets = stack.get("presets")
    if presets:
        for p in presets:
            on = p.get("analysis", False)
            out.append(
                f"| {p['preset']} | {'on' if on else 'off'} | {p.get('checks', '')} | {p['history_events']} "
                f"| {p['state_transitions']} | {p['cost_usd']:.5f} | {p.get('get_metric_data_metrics', 0)} "
                f"| {p.get('cloudwatch_cost_usd', 0):.5f} |"
            )
    else:
        out.append(f"| every preset | {PENDING} | | | | | | |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold")
    parser.add_argument("--sizes")
    parser.add_argument("--stack")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    cold, sizes, stack = load(args.cold), load(args.sizes), load(args.stack)

    runs = (cold or {}).get("runs", "-")
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench.sh`; do not edit by hand.",
        "",
        f"- **When**: {date}, commit {commit()}, {git('rev-parse', '--abbrev-ref', 'HEAD')}",
        f"- **Machine**: {machine()}",
        f"- **Toolchain**: {subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip()}",
        "",
        "## Cold start, memory and package size",
        "",
        f"Cold start: x86_64 binaries of the workspace's release profile, {runs} spawns each (after one",
        "uncounted warm-up), interleaved, against a minimal Lambda Runtime API on 127.0.0.1, with the",
        "environment Lambda sets (region, credentials, JSON logs). *Ready*: spawn → first",
        "`GET /next`; *answered*: spawn → the answer to one `{}` event (refused without AWS) is",
        "posted; *peak RSS*: VmHWM once the function asks for its next event. The last row gives",
        "alarm-event an event that makes one DynamoDB call (answered by the same local server, over",
        "HTTP): its *answered* includes what sluice leaves to the first AWS call (the configuration,",
        "the client, the root certificates, signing). Package: arm64 `cargo lambda build --release`,",
        "stripped `bootstrap`, `zip -9`. MB = 10⁶ bytes, MiB = 2²⁰.",
        "",
        "| function | ready ms (median / p90) | answered ms (median / p90) | ready vs baseline | "
        "peak RSS MiB (median / p90) | RSS vs baseline | bootstrap MB | zip MB |",
        "|---|---|---|---|---|---|---|---|",
        *cold_rows(cold, sizes),
        "",
        *stack_section(stack),
        "",
    ]
    text = "\n".join(lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
