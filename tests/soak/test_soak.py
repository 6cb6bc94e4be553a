"""The seeded soak (issue 10): many deployments at once on a local stack of their own, each with a
random strategy, one to three targets, hooks, alarms that fire at random moments, AWS faults at
random rates (up to 20 %), functions that crash or time out, tasks that time out, stops, stops
started again at once (the README's advice for a busy alias), another writer, lost, late and
duplicated events (lost end events: the sweeper settles those), bursts of throttling on Step
Functions' invocations of the phases, redrives of executions that did not succeed, deliberate
races for one alias, gates in plans, and operators' commands (the real CLI's pause, resume,
promote, promote --full, approve, reject, abort) at random moments. After each execution
ends and the safety net has settled (its record settled, its locks released), the invariants are
checked:

- every alias has no routing config and points at its recorded old version or its target version;
- it is on the target version exactly when the execution SUCCEEDED (in a race: when one did);
- a FAILED or ABORTED execution names its cause in plain text (ABORTED: its record does);
- an alias another writer changed keeps that writer's change, and the deployment says so, unless
  its own last write came before that change (it then had nothing more to write);
- no lock is held by an execution that has ended;
- a deployment stopped and started again blames no one else;
- a redriven execution whose deployment was settled moves nothing, keeps its record and does not
  succeed.

Reproducible from its seed: every choice comes from Random(f"{seed}:{k}") for deployment k, and the
fault injector's decisions from (seed, deployment, call) — only thread timing differs between runs.
Run it longer or with another seed: SLUICE_SOAK_SEED, SLUICE_SOAK_RUNS, SLUICE_SOAK_POOL (deployments
at once), SLUICE_SOAK_TIME_SCALE, SLUICE_SOAK_MAX_RATE; SLUICE_SOAK_ONLY=60,82 runs only those
deployments of the seed's plan (each one's plan, outcome and records: tests/.stack/soak/outcomes.json).
It prints its figures and writes them to
tests/.stack/soak.txt (the stack's logs: tests/.stack/soak/)."""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import json
import os
import random
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pytest

import resources
from executions import history
from local_aws import ACCOUNT
from processes import SLUICE_CLI, stop_on_signals
from stack import LocalStack

SEED = int(os.environ.get("SLUICE_SOAK_SEED", "1127"))
RUNS = int(os.environ.get("SLUICE_SOAK_RUNS", "120"))
POOL = int(os.environ.get("SLUICE_SOAK_POOL", "8"))
TIME_SCALE = float(os.environ.get("SLUICE_SOAK_TIME_SCALE", "0.02"))
MAX_RATE = float(os.environ.get("SLUICE_SOAK_MAX_RATE", "0.2"))
# Only these deployments of the seed's plan (e.g. "60,82"): to look at one again.
ONLY = {int(k) for k in os.environ.get("SLUICE_SOAK_ONLY", "").split(",") if k.strip()}
# One deployment's bound, from its start to its safety net settled (real seconds).
DEPLOYMENT_TIMEOUT = float(os.environ.get("SLUICE_SOAK_DEPLOYMENT_TIMEOUT", "240"))
SETTLE_TIMEOUT = 120.0

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "tests" / ".stack" / "soak.txt"
RAW_ERROR_MARKERS = ("errorType", "stackTrace", '{"')
SETTLED = ("RolledBack", "RollbackIncomplete", "Deployed", "NothingToDeploy")
# Which phase function a fault may hit (logical ids of sluice's template) and the Task states a
# timeout may hit; hooks are the deployment's own functions.
PHASES = [
    "ValidateFunction",
    "ShiftFunction",
    "CheckAlarmsFunction",
    "WatchFunction",
    "RollbackFunction",
    "FinishFunction",
    "ReconcileFunction",
    "HookFunction",
]
TASK_STATES = ["Validate", "Shift", "CheckAlarms", "Watch", "Rollback", "Finish"]
TASK_STATES += ["PreTrafficHook", "CallHook", "JudgeHook"]  # a hook's loop
STOP_STATES = [
    "Shift",
    "BakeWait",
    "Watch",
    "CheckAlarms",
    "PreTrafficHook",
    "PostTrafficHook",
    "CallHook",
    "HookWait",
    "CallHookWithToken",
    "Rollback",
    "Finish",
]
# Calls that, held past the SDK's 10 s attempt timeout, land after sluice's SDK gave up on them.
SLOW_CALLS = ["UpdateAlias", "GetAlias", "PutItem", "GetItem", "UpdateItem", "DescribeAlarms"]


# --- the plan of one deployment, from its own seeded Random --------------------------------------
@dataclasses.dataclass
class Plan:
    k: int
    tag: str  # in every name the deployment has: what its faults match
    ids: list[str]  # execution names (a race has two)
    functions: list[str]
    alarms: list[str]
    hooks: dict  # preTraffic/postTraffic -> (function name, binary)
    request: dict
    rate: tuple | None = None  # (rate, services, kinds)
    slow_call: tuple | None = None  # (operation, skip)
    function_fault: dict | None = None
    task_timeout: dict | None = None
    stop: tuple | None = None  # ("moment", state, nth) or ("at", seconds)
    alarm: tuple | None = None  # ("moment", state, nth, clear) or ("at", seconds, clear)
    alarm_event: str | None = None  # drop, duplicate or delay the alarm's events
    other_writer: tuple | None = None  # (function, nth write, version, weights)
    status_event: str | None = None  # duplicate, delay, drop-running or drop-end (the sweeper's)
    race: float | None = None  # the second start's delay (0: at once)
    restart: bool = False  # the stop is followed at once by the next deployment of the aliases
    invoke_burst: int | None = None  # the next N invocations of its phases by Step Functions throttled
    redrive: bool = False  # once settled, an execution that did not succeed is redriven
    redriven: dict | None = None  # what the redrive did (set by run_plan)
    commands: list = dataclasses.field(default_factory=list)  # (at seconds, CLI command)
    commanded: list = dataclasses.field(default_factory=list)  # (command, exit code) (set by run_plan)

    def summary(self) -> str:
        chaos = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("k", "tag", "ids", "functions", "alarms", "hooks", "request", "redriven", "commanded")
            and getattr(self, f.name) not in (None, False)
        }
        return f"{self.ids[0]}: {json.dumps(self.request)} chaos={chaos}"


def duration(seconds: int) -> str:
    return f"{seconds}s"


def strategy(rng: random.Random):
    kind = rng.choices(["AllAtOnce", "steps", "canary", "linear", "preset"], [1, 4, 2.5, 1.5, 1])[0]
    if kind == "AllAtOnce":
        return "AllAtOnce"
    if kind == "preset":
        return rng.choice(["Canary10Percent5Minutes", "Linear10PercentEvery1Minute", "Canary10Percent10Minutes"])
    if kind == "canary":
        return {"canary": {"percent": rng.randint(5, 50), "interval": duration(rng.choice([60, 120, 180, 300]))}}
    if kind == "linear":
        return {"linear": {"percent": rng.choice([25, 34, 50]), "interval": duration(rng.choice([30, 60, 90, 120]))}}
    weights = sorted(rng.sample(range(1, 100), rng.randint(0, 3))) + [100]
    steps = []
    for w in weights:
        step = {"weight": w}
        if w < 100 or rng.random() < 0.3:
            step["bake"] = duration(rng.choice([20, 30, 60, 90, 120, 180]))
        steps.append(step)
    return {"steps": steps}


def steps_of(request: dict) -> int:
    """How many alias writes a deployment's plan makes (its shifts)."""
    s = request["strategy"]
    if s == "AllAtOnce":
        return 1
    if isinstance(s, str):
        return 10 if s.startswith("Linear") else 2
    if "steps" in s:
        return sum(1 for step in s["steps"] if "weight" in step)
    if "canary" in s:
        return 2
    return -(-100 // s["linear"]["percent"])


def plan(k: int, seed: int, width: int) -> Plan:
    rng = random.Random(f"{seed}:{k}")
    tag = f"soak{k:0{width}d}x"
    functions = [f"{tag}-f{i}" for i in range(1, rng.choices([1, 2, 3], [5, 3, 2])[0] + 1)]
    alarms = [f"{tag}-alarm{i}" for i in range(1, rng.choices([0, 1, 2], [3, 5, 2])[0] + 1)]
    hooks = {}
    for phase in ("preTraffic", "postTraffic"):
        if rng.random() < 0.25:
            binary = rng.choices(
                ["hook-check", "hook-reject", "hook-slow", "hook-progress", "hook-callback-approve"], [14, 3, 1, 2, 2]
            )[0]
            hooks[phase] = (f"{tag}-{phase}", binary)
    request = {
        "targets": [{"functionName": f, "alias": "live", "targetVersion": "2"} for f in functions],
        "strategy": strategy(rng),
    }
    if alarms:
        request["alarms"] = alarms
        request["checkInterval"] = rng.choice(["10s", "20s", "30s", "1m"])
    if hooks:
        # Hooks that take their time: InProgress three times (called again with their state), or
        # a report through the task token; the others are named alone (invoked, an hour).
        forms = {
            "hook-progress": lambda name: {"function": name, "timeout": "2m"},
            "hook-callback-approve": lambda name: {"function": name, "mode": "callback", "timeout": "2m"},
        }
        request["hooks"] = {phase: forms.get(binary, lambda n: n)(name) for phase, (name, binary) in hooks.items()}
    p = Plan(k, tag, [f"{tag}-s{seed}"], functions, alarms, hooks, request)
    writes = steps_of(request)
    if rng.random() < 0.55:
        services = [s for s in ("lambda", "cloudwatch", "dynamodb", "states") if rng.random() < 0.7] or ["lambda"]
        kinds = rng.choice([("throttle",), ("5xx",), ("throttle", "5xx")])
        p.rate = (round(rng.uniform(0.02, MAX_RATE), 3), services, kinds)
    if rng.random() < 0.05:
        p.slow_call = (rng.choice(SLOW_CALLS), rng.randint(0, 2))
    if rng.random() < 0.12:
        functions_hit = PHASES + [name for name, _ in hooks.values()]
        p.function_fault = {
            "function": rng.choice(functions_hit),
            "kind": rng.choice(["crash", "crash", "timeout"]),
            "nth": rng.randint(1, 3),
            "when": rng.choice(["before", "after"]),
            "seconds": round(rng.uniform(0, 1.5), 2),
            "errorType": rng.choice(["Sandbox.Timedout", None]),
        }
    if rng.random() < 0.05:
        p.task_timeout = {"state": rng.choice(TASK_STATES), "nth": rng.randint(1, 2)}
    chaos = rng.random()
    if chaos < 0.10:
        if rng.random() < 0.6:
            p.stop = ("moment", rng.choice(STOP_STATES), rng.randint(1, 3))
        else:
            p.stop = ("at", round(rng.uniform(0.2, 6), 2))
    elif chaos < 0.16:
        # Stop it and start again, as the README advises for a busy alias: at once.
        p.stop = ("at", round(rng.uniform(0.2, 6), 2))
        p.restart = True
    elif chaos < 0.24:
        p.other_writer = (
            rng.choice(functions),
            rng.randint(1, writes),
            "3",
            rng.choice([{}, {"1": 0.05}]),
        )
    elif chaos < 0.32:
        p.race = rng.choice([0.0, 0.0, round(rng.uniform(0.1, 3), 2)])
    if alarms and rng.random() < 0.4:
        clear = rng.random() < 0.3
        if rng.random() < 0.5:
            p.alarm = ("moment", rng.choice(["BakeWait", "Watch", "CheckAlarms"]), rng.randint(1, 4), clear)
        else:
            p.alarm = ("at", round(rng.uniform(0.3, 8), 2), clear)
        if rng.random() < 0.3:
            p.alarm_event = rng.choice(["drop", "duplicate", "delay"])
    if rng.random() < 0.14:
        p.status_event = rng.choice(["duplicate", "delay", "drop-running", "drop-end", "drop-end"])
    if rng.random() < 0.08:
        p.invoke_burst = rng.randint(3, 8)
    if rng.random() < 0.12:
        p.redrive = True
    operators(p, random.Random(f"{seed}:{k}:operators"))
    # A dry run now and then (its own stream: the plans above stay as they were): it must write
    # nothing, whatever the chaos; another writer's change is left to the real ones.
    if random.Random(f"{seed}:{k}:dry").random() < 0.08:
        request["dryRun"] = True
        p.other_writer = None
    if p.race is not None:
        p.ids.append(f"{tag}-s{seed}-b")
    if p.restart:
        p.ids.append(f"{tag}-s{seed}-r")
    return p


COMMANDS = ["pause", "resume", "promote", "promote --full", "approve", "reject", "abort"]


def operators(p: Plan, rng: random.Random) -> None:
    """Gates and operators' commands, from a generator of their own (the rest of a seed's plan is
    as it was before sluice took commands)."""
    s = p.request["strategy"]
    if isinstance(s, dict) and "steps" in s and len(s["steps"]) >= 2 and rng.random() < 0.3:
        gate = {"timeout": duration(rng.choice([30, 60, 120])), "onTimeout": rng.choice(["rollback", "promote"])}
        s["steps"].insert(rng.randint(1, len(s["steps"]) - 1), {"approval": gate})
    if s != "AllAtOnce" and rng.random() < 0.25:
        p.request["pause"] = {"limit": duration(rng.choice([60, 180])), "onTimeout": rng.choice(["rollback", "resume"])}
        p.commands = sorted(
            (round(rng.uniform(0.3, 3), 2), rng.choices(COMMANDS, [4, 3, 3, 1, 3, 1, 1])[0])
            for _ in range(rng.randint(1, 3))
        )


def command(stack, p: Plan, what: str) -> None:
    """Runs the CLI's command on the deployment (any outcome is fine: refused, lost a race,
    applied); the invariants judge what it did."""
    words = what.split()
    args = [words[0], p.ids[0], *words[1:]]
    # A command reaches a deployment while it bakes: wait for a bake (or the end) first.
    c = clients(stack)
    deadline = time.time() + 10
    while time.time() < deadline:
        r = record(c, stack.ledger_table, p.ids[0])
        if r and r["status"] != "Ready":
            break
        time.sleep(0.1)
    if words[0] != "abort":
        args += ["--reason", "the soak"]
    try:
        out = subprocess.run([str(SLUICE_CLI), *args], capture_output=True, text=True, env=stack.cli_env(), timeout=150)
        code = out.returncode
        why = (out.stderr.strip().splitlines() or [""])[-1][:160]
    except subprocess.TimeoutExpired:
        code, why = -1, "timed out"
    p.commanded.append((what, code, why))


# --- running it --------------------------------------------------------------------------------
_client_lock = threading.Lock()


class Clients:
    """boto3 clients of the soak's stack for one thread (boto3's default session is not
    thread-safe to create clients from)."""

    def __init__(self, stack: LocalStack):
        config = botocore.config.Config(retries={"max_attempts": 10, "mode": "standard"}, max_pool_connections=4)
        with _client_lock:
            session = boto3.session.Session(
                aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
            )
            self.lam = session.client("lambda", endpoint_url=stack.endpoint, config=config)
            self.sfn = session.client("stepfunctions", endpoint_url=stack.endpoint, config=config)
            self.cw = session.client("cloudwatch", endpoint_url=stack.endpoint, config=config)
            self.ddb = session.client("dynamodb", endpoint_url=stack.endpoint, config=config)


_local = threading.local()


def clients(stack) -> Clients:
    if not hasattr(_local, "clients"):
        _local.clients = Clients(stack)
    return _local.clients


def execution_arn(stack, name: str) -> str:
    return stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def set_up(stack, c: Clients, p: Plan) -> None:
    for name in p.functions:
        resources.create_function(c.lam, stack.role(), name, "demo-ok")
        for version in ("1", "2", "3"):
            c.lam.update_function_configuration(FunctionName=name, Description=f"version {version}")
            assert c.lam.publish_version(FunctionName=name)["Version"] == version
        c.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for name, binary in p.hooks.values():
        resources.create_function(c.lam, stack.role(), name, binary)
    for name in p.alarms:
        resources.create_alarm(c.cw, name, "OK", namespace="Custom/Soak", reason="set by the soak")


def arm(stack, p: Plan, seed: int) -> list[str]:
    """Arms the plan's faults, moments and event controls; returns the fault ids to disarm."""
    first = p.ids[0]
    faults = []
    if p.rate:
        rate, services, kinds = p.rate
        faults += [
            f["id"]
            for f in stack.faults.inject_rate(
                rate, seed=f"{seed}:{p.k}", services=tuple(services), kinds=kinds, match=p.tag
            )
        ]
    if p.slow_call:
        op, skip = p.slow_call
        faults.append(stack.faults.inject(op, delay_seconds=11, match=p.tag, callers=["sluice"], skip=skip)["id"])
    if p.function_fault:
        f = p.function_fault
        stack.function_faults.fail_invocation(
            f["function"],
            f["kind"],
            nth=f["nth"],
            deployment=first,
            when=f["when"],
            seconds=f["seconds"],
            error_type=f["errorType"] if f["kind"] == "timeout" else "",
        )
    if p.task_timeout:
        stack.function_faults.time_out_task(p.task_timeout["state"], nth=p.task_timeout["nth"], deployment=first)
    if p.stop and p.stop[0] == "moment":
        _, state, nth = p.stop
        stack.moments.stop_at(
            stack.moments.on_state_entered(state, first, nth),
            error="Soak.Stop",
            cause=f"the soak stopped it in {state}",
        )
    if p.alarm and p.alarm[0] == "moment":
        _, state, nth, _clear = p.alarm
        stack.moments.alarm_at(
            stack.moments.on_state_entered(state, first, nth), p.alarms[0], "ALARM", reason="the soak fired it"
        )
    if p.alarm_event == "delay":
        stack.alarm_events.delay(round(random.Random(p.tag).uniform(0.2, 2), 2), alarm=p.alarms[0])
    elif p.alarm_event:
        getattr(stack.alarm_events, p.alarm_event)(1, alarm=p.alarms[0])
    if p.other_writer:
        function, nth, version, weights = p.other_writer
        stack.moments.other_writer(stack.moments.after_alias_write(function, nth), function, version, weights)
    if p.invoke_burst:
        # A burst of throttles on Step Functions' invocations of the phases (Lambda's 429).
        faults.append(
            stack.faults.inject(
                "Invoke", p.invoke_burst, "TooManyRequestsException", 429, match=p.tag, callers=["states"]
            )["id"]
        )
    if p.status_event == "drop-running":
        stack.status_events.drop(execution=first, status="RUNNING")
    elif p.status_event == "drop-end":
        # Delivered best effort: lost, the sweeper settles it (within SweepMinutes, scaled).
        for status in ("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"):
            stack.status_events.drop(execution=first, status=status)
    elif p.status_event:
        for status in ("SUCCEEDED", "FAILED", "ABORTED"):
            if p.status_event == "duplicate":
                stack.status_events.duplicate(execution=first, status=status)
            else:
                stack.status_events.delay(1.5, execution=first, status=status)
    return faults


@dataclasses.dataclass
class Outcome:
    plan: Plan
    executions: dict  # name -> DescribeExecution
    records: dict  # name -> the record's document, or None
    aliases: dict  # function -> (version, weights)
    journal: dict  # function -> [entries]
    violations: list
    retries: int = 0
    rollbacks: int = 0
    restores: int = 0
    # Another writer's change: (made, reported by the deployment, made after its last write to it).
    writers: tuple = (0, 0, 0)
    seconds: float = 0.0


def record(c: Clients, table: str, deployment: str) -> dict | None:
    item = c.ddb.get_item(TableName=table, Key={"pk": {"S": f"DEPLOYMENT#{deployment}"}}, ConsistentRead=True).get(
        "Item"
    )
    return json.loads(item["document"]["S"]) if item else None


def lock_holders(c: Clients, table: str, functions: list[str]) -> dict:
    out = {}
    for f in functions:
        key = {"pk": {"S": f"LOCK#{function_arn(f)}#live"}}
        item = c.ddb.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        if item:
            out[f] = item["executionArn"]["S"]
    return out


def function_name(raw: str) -> str:
    """A function as the alias journal names it (a name or an ARN, URL-encoded or not)."""
    return urllib.parse.unquote(raw).split("function:")[-1].split(":")[0]


def alias_state(c: Clients, function: str) -> tuple[str, dict]:
    a = c.lam.get_alias(FunctionName=function, Name="live")
    return a["FunctionVersion"], (a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}


def run_plan(stack, p: Plan, seed: int) -> Outcome:
    c = clients(stack)
    started = time.time()
    set_up(stack, c, p)
    fault_ids = arm(stack, p, seed)
    timed = []  # (at, what)
    if p.stop and p.stop[0] == "at":
        timed.append((p.stop[1], "stop"))
    if p.alarm and p.alarm[0] == "at":
        timed.append((p.alarm[1], "alarm"))
    if p.race:
        timed.append((p.race, "race"))
    timed.extend((at, f"command:{what}") for at, what in p.commands)
    timed.sort()
    operating = []
    arns = {}

    def start(name):
        arns[name] = c.sfn.start_execution(
            stateMachineArn=stack.state_machine_arn, name=name, input=json.dumps(p.request)
        )["executionArn"]

    if p.race == 0.0:
        racers = [threading.Thread(target=start, args=(name,)) for name in p.ids]
        for t in racers:
            t.start()
        for t in racers:
            t.join()
    else:
        start(p.ids[0])
    t0 = time.time()
    alarm_fired_at = None
    executions = {}
    while True:
        now = time.time() - t0
        while timed and timed[0][0] <= now:
            _, what = timed.pop(0)
            if what == "stop":
                try:
                    c.sfn.stop_execution(executionArn=arns[p.ids[0]], error="Soak.Stop", cause="the soak stopped it")
                except botocore.exceptions.ClientError:
                    pass  # it has ended already
                if p.restart:
                    start(p.ids[1])
            elif what == "alarm":
                c.cw.set_alarm_state(AlarmName=p.alarms[0], StateValue="ALARM", StateReason="the soak fired it")
                alarm_fired_at = time.time()
            elif what == "race":
                start(p.ids[1])
            elif what.startswith("command:"):
                t = threading.Thread(target=command, args=(stack, p, what.split(":", 1)[1]), daemon=True)
                t.start()
                operating.append(t)
        if p.alarm and p.alarm[-1] and alarm_fired_at is None:
            fired = [
                m
                for m in stack.moments.state()["fired"]
                if m["do"].get("setAlarmState", {}).get("alarm") == p.alarms[0]
            ]
            alarm_fired_at = fired[0]["at"] if fired else None
        if p.alarm and p.alarm[-1] and alarm_fired_at and time.time() - alarm_fired_at > 0.3:
            # Fire and clear: the alarm goes back to OK (its ALARM event may be lost: the backstop's history).
            c.cw.set_alarm_state(AlarmName=p.alarms[0], StateValue="OK", StateReason="the soak cleared it")
            p.alarm = p.alarm[:-1] + (False,)
        for name, arn in arns.items():
            if name not in executions:
                d = c.sfn.describe_execution(executionArn=arn)
                if d["status"] != "RUNNING":
                    executions[name] = d
        if len(executions) == len(p.ids) and not timed:
            break
        if time.time() - started > DEPLOYMENT_TIMEOUT:
            for name, arn in arns.items():
                if name not in executions:
                    c.sfn.stop_execution(executionArn=arn, error="Soak.Timeout", cause="ran past the soak's bound")
            break
        time.sleep(0.3)
    for t in operating:
        t.join(timeout=SETTLE_TIMEOUT)
    violations = []
    for name in p.ids:
        if name not in executions:
            violations.append(f"{name} did not end within {DEPLOYMENT_TIMEOUT:.0f}s")
            executions[name] = c.sfn.describe_execution(executionArn=arns[name])
    # The safety net settles: each record settled (or none), no lock held by these executions.
    deadline = time.time() + SETTLE_TIMEOUT
    while True:
        records = {name: record(c, stack.ledger_table, name) for name in p.ids}
        holders = lock_holders(c, stack.ledger_table, p.functions)
        unsettled = [n for n, r in records.items() if r is not None and r["status"] not in SETTLED]
        held = {f: h for f, h in holders.items() if h.rsplit(":", 1)[-1] in p.ids}
        if not unsettled and not held:
            break
        if time.time() > deadline:
            violations.append(f"not settled {SETTLE_TIMEOUT:.0f}s after the end: records {unsettled}, locks {held}")
            break
        time.sleep(0.3)
    for fault_id in fault_ids:
        stack.faults.disarm(fault_id)
    if p.redrive and not violations:
        redrive(stack, c, p, arns, executions, records, violations)
    out = Outcome(p, executions, records, {f: alias_state(c, f) for f in p.functions}, {}, violations)
    journal = stack.journals.aliases()
    for f in p.functions:
        # The alias's creation is the run's setup; the deployments' writes are its updates.
        out.journal[f] = [e for e in journal if function_name(e["function"]) == f and e["operation"] == "UpdateAlias"]
    check(out)
    for name in p.ids:
        events = history(c.sfn, arns[name])
        out.retries += retries(events)
        if any(e.get("stateEnteredEventDetails", {}).get("name") == "Rollback" for e in events):
            out.rollbacks += 1
        cause = ((records.get(name) or {}).get("failure") or {}).get("Cause", "")
        if "safety net rolled it back" in cause and " back on version " in cause:
            out.restores += 1
    out.seconds = time.time() - started
    return out


def redrive(stack, c: Clients, p: Plan, arns: dict, executions: dict, records: dict, violations: list) -> None:
    """Redrives the first execution once it ended without succeeding and was settled (anyone may,
    from the console): a deployment settled already must move nothing, change no record and not
    end SUCCEEDED; one that had no record yet (stopped before validate recorded it) starts as any
    deployment would, and the invariants judge it. Updates `executions` and `records`."""
    name = p.ids[0]
    before = executions[name]
    if before["status"] == "SUCCEEDED":
        return
    settled = records.get(name)
    aliases = {f: alias_state(c, f) for f in p.functions}
    try:
        c.sfn.redrive_execution(executionArn=arns[name])
    except botocore.exceptions.ClientError as e:
        # Not redrivable (AWS's reasons); nothing to judge.
        p.redriven = {"refused": e.response["Error"]["Code"]}
        return
    deadline = time.time() + DEPLOYMENT_TIMEOUT
    while (d := c.sfn.describe_execution(executionArn=arns[name]))["status"] == "RUNNING":
        if time.time() > deadline:
            violations.append(f"{name}, redriven, did not end within {DEPLOYMENT_TIMEOUT:.0f}s")
            return
        time.sleep(0.3)
    executions[name] = d
    p.redriven = {"from": before["status"], "to": d["status"], "error": d.get("error")}
    # Settled again: its record settled (or none), no lock held by it.
    deadline = time.time() + SETTLE_TIMEOUT
    while True:
        rec = record(c, stack.ledger_table, name)
        held = [f for f, h in lock_holders(c, stack.ledger_table, p.functions).items() if h == arns[name]]
        if (rec is None or rec["status"] in SETTLED) and not held:
            break
        if time.time() > deadline:
            violations.append(
                f"{name}, redriven, not settled {SETTLE_TIMEOUT:.0f}s after it ended: "
                f"{rec and rec['status']}, locks {held}"
            )
            return
        time.sleep(0.3)
    records[name] = rec
    if settled is not None and settled["status"] in SETTLED:
        if d["status"] == "SUCCEEDED":
            violations.append(f"{name} was settled as {settled['status']}, then redriven: SUCCEEDED")
        moved = {f: (aliases[f], alias_state(c, f)) for f in p.functions if alias_state(c, f) != aliases[f]}
        if moved:
            violations.append(f"{name} was settled as {settled['status']}, then redriven: moved {moved}")
        if rec != settled:
            violations.append(
                f"{name} was settled as {settled['status']}, then redriven: "
                f"its record changed to {rec and rec['status']}"
            )


def retries(events: list[dict]) -> int:
    """Step Functions' retries: a task scheduled again after it failed or timed out in the same
    state (no new StateEntered in between)."""
    by_id = {e["id"]: e for e in events}
    count = 0
    for e in events:
        if e["type"] != "TaskScheduled":
            continue
        previous = by_id.get(e.get("previousEventId"))
        if previous is not None and previous["type"] in ("TaskFailed", "TaskTimedOut"):
            count += 1
    return count


# --- the invariants ----------------------------------------------------------------------------
def plain(cause: str) -> bool:
    return bool(cause) and not any(m in cause for m in RAW_ERROR_MARKERS)


def says_other_writer(d: dict, rec: dict | None) -> bool:
    failure = (rec or {}).get("failure") or {}
    text = " ".join([d.get("cause") or "", failure.get("Cause") or "", failure.get("Error") or ""])
    return (
        d.get("error") == "AliasConflict"
        or (rec or {}).get("status") == "RollbackIncomplete"
        or "someone else" in text
        or "AliasConflict" in text
    )


def check(out: Outcome) -> None:
    p, v = out.plan, out.violations
    statuses = {name: d["status"] for name, d in out.executions.items()}
    # A stop that lands after Finish recorded the deployment (its very last moment) leaves it
    # deployed: the record says so, and sluice status/watch read the record.
    finished = {
        n for n, s in statuses.items() if s == "ABORTED" and (out.records.get(n) or {}).get("status") == "Deployed"
    }
    succeeded = [n for n, s in statuses.items() if s == "SUCCEEDED" or n in finished]
    for name, d in out.executions.items():
        rec = out.records.get(name)
        if d["status"] == "FAILED" and not plain(d.get("cause") or ""):
            v.append(f"{name} FAILED ({d.get('error')}) without a plain-text cause: {d.get('cause')!r}")
        if d["status"] == "ABORTED" and rec is not None:
            cause = (rec.get("failure") or {}).get("Cause") or ""
            if rec["status"] != "Deployed" and not plain(cause):
                v.append(f"{name} ABORTED; its record names no plain-text cause: {cause!r}")
        if d["status"] in ("FAILED", "TIMED_OUT") and rec is not None and rec["status"] == "Deployed":
            v.append(f"{name} {d['status']} but its record says Deployed")
        # The record tells the same story as the execution.
        failure = (rec or {}).get("failure") or {}
        # A redrive of a settled deployment fails AlreadySettled; its record keeps its first ending.
        redriven_settled = p.redriven and d.get("error") == "AlreadySettled" and name == p.ids[0]
        if (
            d["status"] == "FAILED"
            and rec is not None
            and failure.get("Error") != d.get("error")
            and not redriven_settled
        ):
            v.append(
                f"{name} FAILED with {d.get('error')} but its record says {rec['status']} "
                f"{failure.get('Error')}: {failure.get('Cause')}"
            )
        if d["status"] == "SUCCEEDED" and rec is not None and rec["status"] not in ("Deployed", "NothingToDeploy"):
            v.append(f"{name} SUCCEEDED but its record says {rec['status']}")
    if p.restart:
        for name, d in out.executions.items():
            if says_other_writer(d, out.records.get(name)):
                v.append(f"{name}: stopped and started again, yet blames someone else: {d.get('cause')}")
    if p.request.get("dryRun"):
        # A dry run, stopped, crashed, redriven or raced: no alias write of sluice's, ever.
        for f in p.functions:
            if out.aliases[f] != ("1", {}):
                v.append(f"{f}:live is {out.aliases[f]} after a dry run: it must stay on version 1")
            if out.journal[f]:
                v.append(f"{f}:live was written during a dry run: {out.journal[f]}")
        return
    writer = p.other_writer
    for f in p.functions:
        version, weights = out.aliases[f]
        journal = out.journal[f]
        foreign = [i for i, e in enumerate(journal) if e.get("writer") == "moment"]
        if writer and writer[0] == f and foreign:
            i = foreign[0]
            mine = journal[i]
            if (version, weights) != (mine["version"], mine["weights"]):
                v.append(f"{f}:live is {version} {weights}, not the other writer's {mine['version']} {mine['weights']}")
            later = [e for e in journal[i + 1 :] if e.get("writer") != "moment"]
            if later:
                v.append(f"{f}:live: written after the other writer's change: {later}")
            before = [e for e in journal[:i] if e.get("writer") == "sluice"]
            last = (before[-1]["version"], before[-1]["weights"]) if before else ("1", {})
            name = p.ids[0]
            d, rec = out.executions[name], out.records.get(name)
            out.writers = (1, int(says_other_writer(d, rec)), int(last in (("1", {}), ("2", {}))))
            if d["status"] == "SUCCEEDED" and last != ("2", {}):
                v.append(f"{name} SUCCEEDED although {f}:live was changed by another writer at {last}")
            elif d["status"] != "SUCCEEDED" and last not in (("1", {}), ("2", {})) and not says_other_writer(d, rec):
                v.append(f"{name} {d['status']}: does not say that another writer changed {f}:live ({d.get('cause')})")
            elif d["status"] != "SUCCEEDED" and last == ("2", {}) and not says_other_writer(d, rec):
                v.append(f"{name} {d['status']} left {f}:live to another writer without saying so")
            continue
        if weights:
            v.append(f"{f}:live has routing weights {weights} (on {version}) after every execution ended")
        if version not in ("1", "2"):
            v.append(f"{f}:live is on version {version}, neither the old 1 nor the target 2")
        elif (version == "2") != bool(succeeded):
            v.append(f"{f}:live is on version {version} while the executions ended {statuses}")
        if any(e.get("writer") not in ("sluice",) for e in journal):
            v.append(f"{f}:live was written by someone other than sluice: {journal}")


# --- the test ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def soak_stack():
    stop_on_signals()
    with LocalStack(time_scale=TIME_SCALE, log_dir=ROOT / "tests" / ".stack" / "soak", concurrency=3) as s:
        yield s


def warm_up(stack) -> None:
    """cargo-lambda starts (and checks) each binary on its first invocation: one plain deployment
    with hooks and an alarm first, not counted."""
    p = Plan(-1, "warmupx", ["warmup"], ["warmupx-f1"], ["warmupx-alarm1"], {}, {})
    p.hooks = {"preTraffic": ("warmupx-pre", "hook-check")}
    p.request = {
        "targets": [{"functionName": "warmupx-f1", "alias": "live", "targetVersion": "2"}],
        "strategy": {"steps": [{"weight": 50, "bake": "10s"}, {"weight": 100}]},
        "alarms": ["warmupx-alarm1"],
        "checkInterval": "5s",
        "hooks": {"preTraffic": "warmupx-pre"},
    }
    out = run_plan(stack, p, 0)
    assert not out.violations and out.executions["warmup"]["status"] == "SUCCEEDED", out


def test_soak(soak_stack, capsys):
    stack = soak_stack
    stack.role()
    warm_up(stack)
    width = max(3, len(str(RUNS - 1)))
    plans = [plan(k, SEED, width) for k in range(RUNS)]
    if ONLY:
        plans = [p for p in plans if p.k in ONLY]
    started = time.time()
    outcomes: list[Outcome] = []
    errors = []
    with concurrent.futures.ThreadPoolExecutor(POOL) as pool:
        futures = {pool.submit(run_plan, stack, p, SEED): p for p in plans}
        for future in concurrent.futures.as_completed(futures):
            try:
                outcomes.append(future.result())
            except Exception as e:  # the harness itself failed: reported, counted as a violation
                errors.append(f"{futures[future].ids[0]}: the soak could not run it: {e!r}")
    wall = time.time() - started
    table = stack.ledger_table
    recheck(stack, outcomes)
    leftovers = scan_ledger(stack, table)
    dump(outcomes)
    figures = report(stack, outcomes, errors, leftovers, wall)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(figures)
    with capsys.disabled():  # the figures show in the suite's output, passed or failed
        print("\n" + figures, flush=True)
    violations = [f"{o.plan.summary()}\n    -> {x}" for o in outcomes for x in o.violations] + errors
    assert not violations, "\n".join(violations)


def recheck(stack, outcomes: list[Outcome]) -> None:
    """Once every deployment has ended: each one's record is still settled and none of its locks
    is held (a phase still running when its execution ended may have written since)."""
    c = Clients(stack)
    for o in outcomes:
        for name in o.plan.ids:
            rec = record(c, stack.ledger_table, name)
            if rec is not None and rec["status"] not in SETTLED:
                o.violations.append(
                    f"at the end, the record of {name} ({o.executions[name]['status']}) is {rec['status']}, "
                    f"not settled; its history: {[h['message'] for h in rec.get('history', [])][-3:]}"
                )
        held = {f: h for f, h in lock_holders(c, stack.ledger_table, o.plan.functions).items()}
        for f, holder in held.items():
            ended = c.sfn.describe_execution(executionArn=holder)["status"]
            if ended != "RUNNING":
                o.violations.append(f"at the end, {f}:live is locked by {holder.rsplit(':', 1)[-1]}, which is {ended}")


def dump(outcomes: list[Outcome]) -> None:
    """Every deployment, what was done to it and how it ended: tests/.stack/soak/outcomes.json."""
    rows = []
    for o in sorted(outcomes, key=lambda o: o.plan.k):
        rows.append(
            {
                "plan": o.plan.summary(),
                "executions": {n: {k: d.get(k) for k in ("status", "error", "cause")} for n, d in o.executions.items()},
                "records": o.records,
                "aliases": o.aliases,
                "journal": {
                    f: [(e["version"], e["weights"], e.get("writer")) for e in j] for f, j in o.journal.items()
                },
                "violations": o.violations,
                "commanded": o.plan.commanded,
                "seconds": round(o.seconds, 1),
            }
        )
    out = ROOT / "tests" / ".stack" / "soak" / "outcomes.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))


def scan_ledger(stack, table: str) -> dict:
    """Locks left in the whole ledger (each one held by an execution that has ended: all have) and
    watches left registered."""
    ddb = stack.client("dynamodb")
    locks, watches = [], 0
    args = {"TableName": table}
    while True:
        page = ddb.scan(**args)
        for item in page["Items"]:
            pk = item["pk"]["S"]
            if pk.startswith("LOCK#"):
                locks.append(f"lock {pk} still held by {item.get('executionArn', {}).get('S')}")
            elif pk.startswith("WATCH#"):
                watches += len(item.get("watches", {}).get("M", {}))
        if "LastEvaluatedKey" not in page:
            return {"locks": locks, "watches": watches}
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def redrives(outcomes: list[Outcome]) -> dict:
    """How the redriven executions went: {"FAILED -> FAILED AlreadySettled": n, ...}."""
    counts = collections.Counter()
    for o in outcomes:
        r = o.plan.redriven
        if r and "refused" in r:
            counts[f"refused {r['refused']}"] += 1
        elif r:
            counts[f"{r['from']} -> {r['to']}" + (f" {r['error']}" if r.get("error") else "")] += 1
    return dict(sorted(counts.items()))


def gated(p: Plan) -> bool:
    s = p.request["strategy"]
    return isinstance(s, dict) and any("approval" in step for step in s.get("steps", []))


def wrote_nothing(o: Outcome) -> bool:
    """A dry run that kept every alias as it was (see `check`)."""
    return bool(o.plan.request.get("dryRun")) and not any("dry run" in x for x in o.violations)


def report(stack, outcomes: list[Outcome], errors: list[str], leftovers: dict, wall: float) -> str:
    executions = [d for o in outcomes for d in o.executions.values()]
    endings = collections.Counter(
        d["status"] if d["status"] != "FAILED" else f"FAILED {d.get('error')}" for d in executions
    )
    faults = stack.faults.state()
    function_faults = stack.function_faults.state()["fired"]
    moments = stack.moments.state()["fired"]
    status_events = [e for e in stack.status_events.emitted() if e["action"] != "deliver"]
    alarm_events = [e for e in stack.alarm_events.emitted() if e["action"] != "deliver"]
    injected = collections.Counter(faults["errors"])
    moment_kinds = collections.Counter(next(iter(m["do"])) for m in moments)
    deliveries = stack.journals.deliveries()
    redelivered = sum(1 for d in deliveries if d.get("attempt", 1) > 1)
    violations = sum(len(o.violations) for o in outcomes) + len(errors)
    lines = [
        f"sluice soak: seed {SEED}, {len(outcomes)} deployments ({len(executions)} executions), "
        f"pool {POOL}, time scale {TIME_SCALE}, max fault rate {MAX_RATE}",
        f"  runs:              {len(outcomes)} deployments, {len(executions)} executions in {wall:.0f}s wall",
        f"  endings:           {', '.join(f'{k} {v}' for k, v in sorted(endings.items()))}",
        f"  faults injected:   {sum(injected.values()) + len(function_faults) + sum(moment_kinds.values())}"
        f" (AWS errors and delays {sum(injected.values())}: {dict(sorted(injected.items()))};"
        f" functions crashed/timed out {len(function_faults)}; moments {dict(moment_kinds)};"
        f" status events {len(status_events)}, alarm events {len(alarm_events)} dropped/duplicated/delayed)",
        f"  rollbacks:         {sum(o.rollbacks for o in outcomes)} (executions that ran Rollback)",
        f"  dry runs:          {sum(1 for o in outcomes if o.plan.request.get('dryRun'))}"
        f" ({sum(1 for o in outcomes if wrote_nothing(o))} wrote no alias)",
        f"  operators:         {sum(1 for o in outcomes if gated(o.plan))} plans with a gate;"
        f" commands {dict(sorted(collections.Counter(w for o in outcomes for w, *_ in o.plan.commanded).items()))},"
        f" {sum(1 for o in outcomes for _, c, _ in o.plan.commanded if c == 0)} taken,"
        f" {sum(1 for o in outcomes for _, c, _ in o.plan.commanded if c != 0)} refused or lost a race",
        f"  retries:           {sum(o.retries for o in outcomes)} (Step Functions task retries);"
        f" {redelivered} event redeliveries (EventBridge, Lambda async)",
        f"  safety-net restores: {sum(o.restores for o in outcomes)} (reconcile or the sweeper restored an alias)",
        f"  moves:             {sum(o.plan.restart for o in outcomes)} stops started again at once;"
        f" {sum(1 for o in outcomes if o.plan.status_event == 'drop-end')} end events dropped (the sweeper's);"
        f" {sum(1 for o in outcomes if o.plan.invoke_burst)} throttling bursts on phase invocations;"
        f" redrives {redrives(outcomes)}",
        f"  other writers:     {sum(o.writers[0] for o in outcomes)} changes;"
        f" {sum(o.writers[1] for o in outcomes)} reported by their deployment,"
        f" {sum(o.writers[2] for o in outcomes)} made after its last write (it could not see them)",
        f"  left in the ledger: {len(leftovers['locks'])} locks, {leftovers['watches']} watches"
        " (a watch left behind is forgotten when its alarm next fires)",
        f"  violations:        {violations} (in {sum(1 for o in outcomes if o.violations)} deployments)",
        f"  seed:              {SEED} (SLUICE_SOAK_SEED={SEED} SLUICE_SOAK_RUNS={RUNS} to rerun)",
    ]
    return "\n".join(lines) + "\n"
