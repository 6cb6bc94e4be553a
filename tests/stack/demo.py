"""sluice's main job on the local stack, each deployment started and watched with the sluice CLI
(`sluice deploy --wait`), as a user would on AWS:

1. a progressive deployment of a good new version of the demo function `orders` (10 % -> 50 % -> 100 %),
   with live traffic on the alias and a CloudWatch alarm on its errors;
2. a deployment of a broken version: its errors trip the alarm, and CloudWatch's alarm event
   (EventBridge -> alarm-event) stops the bake at once: sluice rolls the alias back.

Real time, no scaling: the bakes are seconds long because the request says so.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from processes import SLUICE_CLI, stop_on_signals
from resources import create_alarm
from stack import LocalStack

FUNCTION = "orders"
ALARM = "orders-live-errors"
# How a cause reads when the alarm's event, not a backstop check, stopped the bake.
EVENT_CAUSE = "CloudWatch's alarm event stopped the bake"
STEPS = {"steps": [{"weight": 10, "bake": "15s"}, {"weight": 50, "bake": "15s"}, {"weight": 100}]}


class Traffic:
    """Calls orders:live continuously, as clients would, and counts what each version answered."""

    def __init__(self, stack: LocalStack):
        self.lam = stack.lam
        self.counts: collections.Counter = collections.Counter()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_event.is_set():
            r = self.lam.invoke(FunctionName=FUNCTION, Qualifier="live", Payload=b'{"order": 42}')
            outcome = "error" if "FunctionError" in r else "ok"
            self.counts[(r.get("ExecutedVersion", "?"), outcome)] += 1
            time.sleep(0.02)

    def take(self) -> str:
        counts, self.counts = self.counts, collections.Counter()
        versions = sorted({v for v, _ in counts})
        return ", ".join(f"v{v} {counts[(v, 'ok')]} ok/{counts[(v, 'error')]} err" for v in versions) or "no calls"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=10)


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
        with Traffic(stack) as traffic:
            for title, binary in (("a good release", "demo-ok"), ("a broken release", "demo-broken")):
                stack.set_code(FUNCTION, binary)  # new code; sluice publishes it as the next version
                request = {
                    "targets": [{"functionName": FUNCTION, "alias": "live"}],
                    "strategy": STEPS,
                    "alarms": [ALARM],
                }
                print(f"== Deployment {len(results) + 1}: {title} ==")
                print(f"   request: {json.dumps(request)}")
                started = time.time()
                name = f"demo-{len(results) + 1}-{int(started)}"
                traffic.take()
                code = deploy_with_cli(stack, request, name)
                elapsed = time.time() - started
                print(f"   traffic during the deployment: {traffic.take()}")
                arn = stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
                d = stack.sfn.describe_execution(executionArn=arn)
                journal = stack.journals.aliases()
                alarm = stack.cloudwatch.describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]
                latency = None
                if d["status"] == "FAILED" and alarm["StateValue"] == "ALARM":
                    fired = alarm["StateUpdatedTimestamp"].timestamp()
                    latency = (
                        journal[-1]["at"] - fired,
                        "alarm event" if EVENT_CAUSE in d.get("cause", "") else "check",
                    )
                results.append((title, d, elapsed, alias_text(stack), latency, code))
                print()
                if d["status"] == "FAILED" and alarm["StateValue"] == "ALARM":
                    break
    print("Summary")
    ok = True
    for i, (title, d, elapsed, alias, latency, code) in enumerate(results, 1):
        extra = f", rolled back {latency[0]:.2f}s after the alarm fired (by the {latency[1]})" if latency else ""
        print(
            f"  {i}. {title}: {d['status']}{' (' + d.get('error', '') + ')' if d['status'] == 'FAILED' else ''} "
            f"in {elapsed:.0f}s, sluice exit code {code}; {FUNCTION}:live ends on {alias}{extra}"
        )
    expected = [("SUCCEEDED", None, 0), ("FAILED", "AlarmBreached", 3)]
    got = [(d["status"], d.get("error"), code) for _, d, _, _, _, code in results]
    if got != expected:
        print(f"  unexpected outcome: {got}, expected {expected}")
        ok = False
    elif results[-1][4] is None or results[-1][4][1] != "alarm event":
        print("  unexpected: the broken release was not stopped by its alarm's event")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: the local stack was stopped", file=sys.stderr)
        sys.exit(130)
