"""sluice's main job on the local stack, each deployment started and watched with the sluice CLI
(`sluice deploy --wait`), as a user would on AWS:

1. a progressive deployment of a good new version of the demo function `orders` (10 % -> 50 % -> 100 %),
   with live traffic on the alias and a CloudWatch alarm on its errors;
2. a deployment of a broken version: its errors trip the alarm, and CloudWatch's alarm event
   (EventBridge -> alarm-event) stops the bake at once: sluice rolls the alias back;
3. a flaky version (one call in five fails) with no alarm at all: the canary analysis of its own
   metrics against the stable version's rolls it back, the figures in the cause;
4. a good version while no traffic runs: too few calls for a verdict, so it passes as the
   request's inconclusive policy says (the default), with a warning.

Real time, no scaling: the bakes are seconds long because the requests say so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from processes import SLUICE_CLI, stop_on_signals
from resources import create_alarm
from stack import LocalStack
from traffic import Traffic

FUNCTION = "orders"
ALARM = "orders-live-errors"
# How a cause reads when the alarm's event, not a backstop check, stopped the bake.
EVENT_CAUSE = "CloudWatch's alarm event stopped the bake"
STEPS = {"steps": [{"weight": 10, "bake": "15s"}, {"weight": 50, "bake": "15s"}, {"weight": 100}]}
# (title, code, request beyond the target, live traffic, expected (status, error, exit code))
RELEASES = [
    ("a good release", "demo-ok", {"strategy": STEPS, "alarms": [ALARM]}, True, ("SUCCEEDED", None, 0)),
    ("a broken release", "demo-broken", {"strategy": STEPS, "alarms": [ALARM]}, True, ("FAILED", "AlarmBreached", 3)),
    (
        "a flaky release, no alarms: judged by its own metrics",
        "demo-flaky",
        {"strategy": {"steps": [{"weight": 25, "bake": "40s"}, {"weight": 100}]}, "checkInterval": "10s"},
        True,
        ("FAILED", "AnalysisFailed", 3),
    ),
    (
        "a good release with no traffic: no verdict, passed with a warning",
        "demo-ok",
        {"strategy": {"steps": [{"weight": 10, "bake": "10s"}, {"weight": 100}]}, "checkInterval": "5s"},
        False,
        ("SUCCEEDED", None, 0),
    ),
]


def take(traffic: Traffic | None) -> str:
    if traffic is None:
        return "no calls (no traffic ran)"
    counts = traffic.by_version()
    return (
        ", ".join(f"v{v} {c['calls'] - c['errors']} ok/{c['errors']} err" for v, c in sorted(counts.items()))
        or "no calls"
    )


def alias_text(stack: LocalStack) -> str:
    a = stack.lam.get_alias(FunctionName=FUNCTION, Name="live")
    weights = (a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    extra = "".join(f" + {w * 100:g}% on v{v}" for v, w in weights.items())
    return f"v{a['FunctionVersion']}{extra}"


def deploy_with_cli(stack: LocalStack, request: dict, name: str) -> int:
    """`sluice deploy --request ... --wait`, its output straight to this terminal: what a user of
    sluice sees on AWS. Returns its exit code."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(request, f)
    command = [str(SLUICE_CLI), "deploy", "--request", f.name, "--name", name, "--wait"]
    print(f"   $ sluice deploy --request request.json --name {name} --wait", flush=True)
    try:
        return subprocess.run(command, env=stack.cli_env(), check=False).returncode
    finally:
        os.unlink(f.name)


def main() -> int:
    stop_on_signals()
    print("Starting the local AWS stack (moto + the Rust functions under cargo-lambda) ...", flush=True)
    with LocalStack(time_scale=1.0) as stack:
        print(f"sluice deployed from template.yaml: {stack.state_machine_arn}\n")
        stack.create_function(FUNCTION, "demo-ok")
        stack.lam.publish_version(FunctionName=FUNCTION)
        stack.lam.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
        create_alarm(
            stack.cloudwatch, ALARM, function=FUNCTION, period=10, threshold=1, TreatMissingData="notBreaching"
        )
        print(f"demo app: {FUNCTION}:live on v1; alarm {ALARM}: Errors >= 1 in 10s on {FUNCTION}:live\n")
        results = []
        for title, binary, extra, live, _ in RELEASES:
            stack.set_code(FUNCTION, binary)  # new code; sluice publishes it as the next version
            request = {"targets": [{"functionName": FUNCTION, "alias": "live"}], **extra}
            print(f"== Deployment {len(results) + 1}: {title} ==")
            print(f"   request: {json.dumps(request)}")
            started = time.time()
            name = f"demo-{len(results) + 1}-{int(started)}"
            traffic = Traffic(stack, FUNCTION, "live", per_second=10, payload={"order": 42}) if live else None
            if traffic:
                traffic.start()
            try:
                code = deploy_with_cli(stack, request, name)
            finally:
                if traffic:
                    traffic.stop()
            elapsed = time.time() - started
            print(f"   traffic during the deployment: {take(traffic)}")
            arn = stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
            d = stack.sfn.describe_execution(executionArn=arn)
            journal = stack.journals.aliases()
            alarm = stack.cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]
            latency = None
            if d.get("error") == "AlarmBreached" and alarm["StateValue"] == "ALARM":
                fired = alarm["StateUpdatedTimestamp"].timestamp()
                latency = (
                    journal[-1]["at"] - fired,
                    "alarm event" if EVENT_CAUSE in d.get("cause", "") else "check",
                )
                # The next releases start with the alarm quiet again (its errors were the broken one's).
                stack.cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="demo: reset")
            results.append((title, d, elapsed, alias_text(stack), latency, code))
            print()
    print("Summary")
    ok = True
    for i, (title, d, elapsed, alias, latency, code) in enumerate(results, 1):
        extra = f", rolled back {latency[0]:.2f}s after the alarm fired (by the {latency[1]})" if latency else ""
        if d.get("error") == "AnalysisFailed":
            extra = f", rolled back by the canary analysis: {d.get('cause', '').split(' at step')[0]}"
        print(
            f"  {i}. {title}: {d['status']}{' (' + d.get('error', '') + ')' if d['status'] == 'FAILED' else ''} "
            f"in {elapsed:.0f}s, sluice exit code {code}; {FUNCTION}:live ends on {alias}{extra}"
        )
    expected = [r[4] for r in RELEASES]
    got = [(d["status"], d.get("error"), code) for _, d, _, _, _, code in results]
    if got != expected:
        print(f"  unexpected outcome: {got}, expected {expected}")
        ok = False
    elif results[1][4] is None or results[1][4][1] != "alarm event":
        print("  unexpected: the broken release was not stopped by its alarm's event")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: the local stack was stopped", file=sys.stderr)
        sys.exit(130)
