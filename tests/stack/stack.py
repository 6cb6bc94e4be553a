"""Starts and stops sluice's local AWS stack, and deploys sluice into it from template.yaml.

    with LocalStack(time_scale=0.02) as stack:
        stack.sfn.start_execution(stateMachineArn=stack.state_machine_arn, input=...)

The stack is two processes, each in its own process group and stopped by PID:
- the launcher package (python -m launcher): moto with Step Functions execution and the gaps
  closed;
- cargo-lambda's runtime emulator serving every binary of the workspace (the real Rust functions),
  started once sluice is deployed (sam_template.py), with the deployed functions' environment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import boto3

from local_aws import (
    ACCESS_KEY_ID,
    ALARM_EVENTS_PATH,
    ALIAS_JOURNAL_PATH,
    BINARY_VAR,
    FAULTS_PATH,
    FUNCTION_FAULTS_PATH,
    LAMBDA_DELIVERIES_PATH,
    MOMENTS_PATH,
    REGION,
    SECRET_ACCESS_KEY,
    STATUS_EVENTS_PATH,
)
from local_aws import ACCOUNT as ACCOUNT  # re-exported: part of this module's API
from sam_template import SluiceStack, placeholder_zip
from sam_template import load_template as load_template  # re-exported: part of this module's API

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# The sluice CLI, as `cargo build --workspace --bins` leaves it.
SLUICE_CLI = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "sluice"


def stop_on_signals() -> None:
    """Turns SIGTERM, SIGHUP and SIGINT into KeyboardInterrupt (SIGINT even where the shell
    started us with it ignored): pytest and `with LocalStack()` then stop what they started."""

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, interrupt)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it listened on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def stop_process(proc: subprocess.Popen | None) -> None:
    """SIGTERM the process group the process leads, then SIGKILL what is left."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


# What AWS answers when it throttles a call, and when it fails one, per service (the error codes of
# each service's model; CloudWatch's 500 is its InternalServiceFault, code InternalServiceError).
THROTTLES = {
    "lambda": [{"error": "TooManyRequestsException", "status": 429}],
    "dynamodb": [
        {"error": "ThrottlingException", "status": 400},
        {"error": "ProvisionedThroughputExceededException", "status": 400},
    ],
    "cloudwatch": [{"error": "Throttling", "status": 400}],
    "states": [{"error": "ThrottlingException", "status": 400}],
}
SERVICE_ERRORS = {
    "lambda": [{"error": "ServiceException", "status": 500}],
    "dynamodb": [{"error": "InternalServerError", "status": 500}],
    "cloudwatch": [{"error": "InternalServiceError", "status": 500}],
    "states": [{"error": "InternalFailure", "status": 500}, {"error": "ServiceUnavailable", "status": 503}],
}


class LocalStack:
    def __init__(
        self,
        time_scale: float = 1.0,
        log_dir: Path | None = None,
        venv_bin: Path | None = None,
        concurrency: int = 1,
    ):
        """`concurrency`: instances cargo-lambda may run of each function at once (Lambda runs as
        many as there are invocations; cargo-lambda's default is one, which queues the rest)."""
        self.time_scale = time_scale
        self.concurrency = concurrency
        self.log_dir = Path(log_dir or ROOT / "tests" / ".stack")
        self.venv_bin = Path(venv_bin or Path(sys.executable).parent)
        self.moto_port = free_port()
        self.runtime_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.moto_port}"
        self.runtime = None
        self.moto = None
        self.role_arn = None
        self.sluice: SluiceStack | None = None

    # --- processes ---
    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
            AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            AWS_ENDPOINT_URL=self.endpoint,
            # The functions log as they would on Lambda, in JSON, at INFO.
            AWS_LAMBDA_LOG_FORMAT="JSON",
            AWS_LAMBDA_LOG_LEVEL="INFO",
        )
        return env

    def cli_env(self) -> dict:
        """What the sluice CLI needs to find this sluice: its state machine, its ledger, AWS."""
        return {
            **self.env(),
            "SLUICE_STATE_MACHINE_ARN": self.state_machine_arn,
            "SLUICE_LEDGER_TABLE": self.ledger_table,
        }

    def launcher_env(self) -> dict:
        """The launcher package and local_aws live here, next to this file."""
        env = self.env()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
        return env

    def runtime_env(self) -> dict:
        """cargo-lambda runs every binary in its own environment, not the function's: sluice's
        functions' variables from the template (SLUICE_LEDGER_TABLE, ...) are put there."""
        return {**self.env(), **(self.sluice.runtime_environment() if self.sluice else {})}

    def start(self) -> LocalStack:
        """moto first, then sluice deployed into it, then cargo-lambda with the environment the
        deployed functions have."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.moto = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "launcher",
                    "--port",
                    str(self.moto_port),
                    "--runtime-url",
                    f"http://127.0.0.1:{self.runtime_port}",
                    "--time-scale",
                    str(self.time_scale),
                ],
                cwd=ROOT,
                env=self.launcher_env(),
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=open(self.log_dir / "moto.log", "w"),
                stderr=subprocess.STDOUT,
            )
            wait_for_port(self.moto_port, self.moto, "the moto launcher")
            self.sluice = self.deploy_sluice()
            self.runtime = subprocess.Popen(
                [
                    str(self.venv_bin / "cargo-lambda"),
                    "lambda",
                    "watch",
                    "--ignore-changes",
                    "-A",
                    "127.0.0.1",
                    "-P",
                    str(self.runtime_port),
                    "--concurrency",
                    str(self.concurrency),
                ],
                cwd=ROOT,
                env=self.runtime_env(),
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=open(self.log_dir / "runtime.log", "w"),
                stderr=subprocess.STDOUT,
            )
            wait_for_port(self.runtime_port, self.runtime, "cargo-lambda")
            self.warm_up()
        except BaseException:
            self.stop()
            raise
        return self

    def warm_up(self) -> None:
        """Invokes each of sluice's functions once with an explain call (answered without AWS):
        cargo-lambda starts a function's binary with `cargo run` on its first invocation, seconds on
        a busy machine, and holds other invocations meanwhile. Lambda has no such cost, so the tests
        pay it here, not inside what they measure."""
        for f in self.lam.list_functions()["Functions"]:
            self.lam.invoke(
                FunctionName=f["FunctionName"],
                Payload=json.dumps({"explain": {"Error": "WarmUp", "Cause": "the local stack starting"}}).encode(),
            )

    def stop(self) -> None:
        stop_process(self.moto)
        stop_process(self.runtime)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- clients ---
    def client(self, service: str, **config):
        """A boto3 client of the local stack; `config` goes to botocore's Config (e.g.
        retries={"max_attempts": 1})."""
        kwargs = {}
        if config:
            import botocore.config

            kwargs["config"] = botocore.config.Config(**config)
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            **kwargs,
        )

    @property
    def sfn(self):
        return self.client("stepfunctions")

    @property
    def lam(self):
        return self.client("lambda")

    @property
    def cloudwatch(self):
        return self.client("cloudwatch")

    @property
    def dynamodb(self):
        return self.client("dynamodb")

    @property
    def events(self):
        return self.client("events")

    # --- test endpoints (not AWS APIs; see the launcher package) ---
    def _test_endpoint(self, path: str, method: str = "GET", body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.endpoint}{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def alias_journal(self) -> list[dict]:
        """Every alias write that landed, in order: {operation (CreateAlias or UpdateAlias),
        function (the function's name, whatever form the caller used), alias, version, weights,
        revisionId, expectedRevisionId (what the write was conditional on, or None), at}."""
        return self._test_endpoint(ALIAS_JOURNAL_PATH)

    def lambda_deliveries(self, rule: str | None = None) -> list[dict]:
        """Every event EventBridge delivered to a Lambda target (of the rules whose ARN contains
        `rule`, when given), in the order the invokes ended: {rule, targetId, target, eventId,
        payload, executedVersion, functionError, response (the function's answer, a string), attempt (1, then each
        retry: EventBridge's and Lambda's), at, finishedAt}, or `error` when the invoke itself failed."""
        query = f"?{urllib.parse.urlencode({'rule': rule})}" if rule else ""
        return self._test_endpoint(LAMBDA_DELIVERIES_PATH + query)

    def inject_fault(
        self,
        operation: str | list[str],
        count: int | None = None,
        error: str | None = None,
        status: int | None = None,
        delay_seconds: float = 0,
        message: str | None = None,
        *,
        rate: float | None = None,
        seed: int | str | None = None,
        services: list[str] | None = None,
        match: str | None = None,
        callers: list[str] | None = None,
        skip: int = 0,
        errors: list[dict] | None = None,
    ) -> dict:
        """The next `count` (default 1) calls of `operation` (e.g. "UpdateAlias", "PutItem",
        "DescribeExecution"; a list of them, or "*" for any), from any caller, are held
        `delay_seconds` and then fail with `error` (HTTP `status`), or, without `error`, answered
        normally after the delay. Returns the armed fault (with its `id`, for disarm_fault).

        Which calls: `services` (lambda, dynamodb, cloudwatch, states, events), `match` (a text in
        the call's path or body: a function, alarm or deployment name), `callers` (sluice: the Rust
        functions; states: the Step Functions interpreter's own calls; events: EventBridge's
        deliveries; harness: the tests' own clients), `skip` (let that many matching calls through
        first). `rate`: a seeded share of the matching calls instead of the next ones (`count` then
        caps it; unbounded without); `errors`: [{"error", "status"}] to pick from per call. See
        launcher/faults.py."""
        spec: dict = {"operation": operation, "delaySeconds": delay_seconds}
        for key, value in (
            ("count", count),
            ("error", error),
            ("status", status),
            ("message", message),
            ("rate", rate),
            ("seed", seed),
            ("services", services),
            ("match", match),
            ("callers", callers),
            ("skip", skip or None),
            ("errors", errors),
        ):
            if value is not None:
                spec[key] = value
        return self._test_endpoint(FAULTS_PATH, "POST", spec)

    def inject_fault_rate(
        self,
        rate: float,
        seed: int | str = 0,
        services: tuple[str, ...] = ("lambda", "cloudwatch", "dynamodb", "states"),
        kinds: tuple[str, ...] = ("throttle", "5xx"),
        match: str | None = None,
        callers: list[str] | None = None,
    ) -> list[dict]:
        """A share `rate` of every call to `services` (any operation) answered with that service's
        throttling error or its 5xx, as AWS sends them (THROTTLES, SERVICE_ERRORS), decided by
        `seed`; `match` and `callers` as for inject_fault (callers default to everything but the
        harness: the tests' own reads stay exact). One fault per service; returns them (their ids
        for disarm_fault)."""
        armed = []
        for service in services:
            errors = (THROTTLES[service] if "throttle" in kinds else []) + (
                SERVICE_ERRORS[service] if "5xx" in kinds else []
            )
            armed.append(
                self.inject_fault(
                    "*",
                    rate=rate,
                    seed=seed,
                    services=[service],
                    errors=errors,
                    match=match,
                    callers=callers or ["sluice", "states", "events"],
                )
            )
        return armed

    def disarm_fault(self, fault_id: str) -> None:
        """Disarms one fault (what it injected stays counted)."""
        self._test_endpoint(f"{FAULTS_PATH}?{urllib.parse.urlencode({'id': fault_id})}", "DELETE")

    def faults(self) -> dict:
        """{"armed": [...], "injected": {operation: calls hit so far}, "errors": {error or "delay": n}}"""
        return self._test_endpoint(FAULTS_PATH)

    def clear_faults(self) -> None:
        self._test_endpoint(FAULTS_PATH, "DELETE")

    # CloudWatch alarm state-change events (launcher/alarm_events.py). Each control applies to the
    # next `count` events, of `alarm` only when given; controls are used in the order armed.
    def _alarm_event_control(self, action: str, count: int, alarm: str | None, seconds: float = 0) -> dict:
        spec: dict = {"action": action, "count": count}
        if alarm is not None:
            spec["alarm"] = alarm
        if seconds:
            spec["delaySeconds"] = seconds
        return self._test_endpoint(ALARM_EVENTS_PATH, "POST", spec)

    def drop_alarm_events(self, count: int = 1, alarm: str | None = None) -> dict:
        """The next `count` alarm state-change events never reach EventBridge (listed as dropped)."""
        return self._alarm_event_control("drop", count, alarm)

    def duplicate_alarm_events(self, count: int = 1, alarm: str | None = None) -> dict:
        """The next `count` alarm state-change events are delivered twice, with the same event id."""
        return self._alarm_event_control("duplicate", count, alarm)

    def delay_alarm_events(self, seconds: float, count: int = 1, alarm: str | None = None) -> dict:
        """The next `count` alarm state-change events reach EventBridge `seconds` late."""
        return self._alarm_event_control("delay", count, alarm, seconds)

    def clear_alarm_event_controls(self) -> None:
        """Disarms every control; the events emitted so far stay listed."""
        self._test_endpoint(ALARM_EVENTS_PATH, "DELETE")

    def alarm_event_controls(self) -> list[dict]:
        """The controls still armed: {action, remaining, alarm, delaySeconds}."""
        return self._test_endpoint(ALARM_EVENTS_PATH)["armed"]

    def alarm_events(self, alarm: str | None = None) -> list[dict]:
        """Every alarm state-change event the local CloudWatch emitted (of `alarm` only, when given),
        oldest first: {id, alarmName, alarmArn, state, previousState, emittedAt, action (deliver, drop,
        duplicate, delay), delaySeconds, dropped, delivered, deliveries (epoch seconds of each time it
        was put on the bus), event (as a target receives it)}."""
        query = f"?{urllib.parse.urlencode({'alarm': alarm})}" if alarm is not None else ""
        return self._test_endpoint(ALARM_EVENTS_PATH + query)["events"]

    # Functions that crash or time out, tasks that time out (launcher/function_faults.py).
    def _function_name(self, function: str) -> str:
        """A function name, or the logical id of one of sluice's (e.g. ShiftFunction)."""
        names = self.function_names if self.sluice else {}
        return names.get(function, function)

    def fail_invocation(
        self,
        function: str,
        kind: str = "crash",
        nth: int = 1,
        count: int = 1,
        deployment: str | None = None,
        when: str = "before",
        seconds: float | None = None,
        error_type: str | None = "",
    ) -> dict:
        """Invocations nth .. nth+count-1 of `function` (a name, or a sluice logical id such as
        "ShiftFunction"), of `deployment` only when given (the payload's deploymentId), fail as
        Lambda reports a `kind` of "crash" (Runtime.ExitError) or "timeout" (Sandbox.Timedout, held
        `seconds` first; error_type=None: an older runtime's timeout, Lambda.Unknown to Step
        Functions). `when`="after": the function runs first (its writes land), then its answer is
        lost."""
        spec: dict = {
            "kind": kind,
            "function": self._function_name(function),
            "nth": nth,
            "count": count,
            "when": when,
        }
        if deployment is not None:
            spec["deployment"] = deployment
        if seconds is not None:
            spec["seconds"] = seconds
        if error_type != "":
            spec["errorType"] = error_type
        return self._test_endpoint(FUNCTION_FAULTS_PATH, "POST", spec)

    def time_out_task(
        self, state: str, nth: int = 1, count: int = 1, deployment: str | None = None, seconds: float = 0.2
    ) -> dict:
        """The nth time an execution (named `deployment`, or any) enters Task state `state`, the task
        runs into its TimeoutSeconds after `seconds`: States.Timeout, while its invocation goes on."""
        spec: dict = {"kind": "task-timeout", "state": state, "nth": nth, "count": count, "seconds": seconds}
        if deployment is not None:
            spec["deployment"] = deployment
        return self._test_endpoint(FUNCTION_FAULTS_PATH, "POST", spec)

    def function_faults(self) -> dict:
        """{"armed": [...], "fired": [{id, kind, function | state, deployment, invocation, at}]}"""
        return self._test_endpoint(FUNCTION_FAULTS_PATH)

    def clear_function_faults(self) -> None:
        self._test_endpoint(FUNCTION_FAULTS_PATH, "DELETE")

    # Chosen moments (launcher/moments.py): `when` is after_alias_write(...) or on_state_entered(...).
    @staticmethod
    def after_alias_write(function: str, nth: int = 1, alias: str = "live") -> dict:
        """The moment right after the nth UpdateAlias on function:alias lands (before its caller
        hears back)."""
        return {"aliasWrite": {"function": function, "alias": alias, "nth": nth}}

    @staticmethod
    def on_state_entered(state: str, execution: str | None = None, nth: int = 1) -> dict:
        """The moment an execution (named `execution`, or any) enters `state` for the nth time."""
        spec: dict = {"state": state, "nth": nth}
        if execution is not None:
            spec["execution"] = execution
        return {"stateEntered": spec}

    def at_moment(self, when: dict, do: dict) -> dict:
        """Arms {"when": when, "do": do} (see launcher/moments.py); returns it with its id."""
        return self._test_endpoint(MOMENTS_PATH, "POST", {"when": when, "do": do})

    def other_writer(
        self, when: dict, function: str, version: str, weights: dict | None = None, alias: str = "live"
    ) -> dict:
        """At `when`, someone else points function:alias at `version` (with `weights`), without a
        RevisionId, as a person or another tool would."""
        spec = {"function": function, "alias": alias, "version": version, "weights": weights or {}}
        return self.at_moment(when, {"updateAlias": spec})

    def stop_at(
        self,
        when: dict,
        execution: str | None = None,
        error: str | None = None,
        cause: str | None = None,
        delay_seconds: float = 0,
    ) -> dict:
        """At `when`, StopExecution of `execution` (default: the one whose state was entered)."""
        spec: dict = {"delaySeconds": delay_seconds}
        for key, value in (("execution", execution), ("error", error), ("cause", cause)):
            if value is not None:
                spec[key] = value
        return self.at_moment(when, {"stopExecution": spec})

    def alarm_at(self, when: dict, alarm: str, state: str = "ALARM", reason: str = "set at a moment") -> dict:
        """At `when`, SetAlarmState of `alarm` to `state`."""
        return self.at_moment(when, {"setAlarmState": {"alarm": alarm, "state": state, "reason": reason}})

    def moments(self) -> dict:
        """{"armed": [...], "fired": [{id, when, do, at, result}]}"""
        return self._test_endpoint(MOMENTS_PATH)

    def clear_moments(self) -> None:
        self._test_endpoint(MOMENTS_PATH, "DELETE")

    # Step Functions' execution status-change events (launcher/sfn_status_events.py). Each control
    # applies to the next `count` events, of `execution` and `status` only when given.
    def _status_event_control(
        self, action: str, count: int, execution: str | None, status: str | None, seconds: float = 0
    ) -> dict:
        spec: dict = {"action": action, "count": count}
        for key, value in (("execution", execution), ("status", status)):
            if value is not None:
                spec[key] = value
        if seconds:
            spec["delaySeconds"] = seconds
        return self._test_endpoint(STATUS_EVENTS_PATH, "POST", spec)

    def drop_status_events(self, count: int = 1, execution: str | None = None, status: str | None = None) -> dict:
        """The next `count` status events never reach EventBridge (listed as dropped)."""
        return self._status_event_control("drop", count, execution, status)

    def duplicate_status_events(self, count: int = 1, execution: str | None = None, status: str | None = None) -> dict:
        """The next `count` status events are delivered twice, with the same event id."""
        return self._status_event_control("duplicate", count, execution, status)

    def delay_status_events(
        self, seconds: float, count: int = 1, execution: str | None = None, status: str | None = None
    ) -> dict:
        """The next `count` status events reach EventBridge `seconds` late."""
        return self._status_event_control("delay", count, execution, status, seconds)

    def status_events(self, execution: str | None = None) -> list[dict]:
        """Every status event Step Functions emitted (of `execution` only, when given), oldest
        first: {id, executionArn, name, status, emittedAt, action, delaySeconds, dropped,
        delivered, deliveries}."""
        query = f"?{urllib.parse.urlencode({'execution': execution})}" if execution is not None else ""
        return self._test_endpoint(STATUS_EVENTS_PATH + query)["events"]

    def clear_status_event_controls(self) -> None:
        self._test_endpoint(STATUS_EVENTS_PATH, "DELETE")

    # --- sluice, as deployed from template.yaml ---
    @property
    def state_machine_arn(self) -> str:
        return self.sluice.state_machine_arn

    @property
    def ledger_table(self) -> str:
        """The ledger's DynamoDB table name."""
        return self.sluice.ledger_table

    @property
    def functions(self) -> dict[str, str]:
        """sluice's functions: logical id -> unqualified function ARN."""
        return {k: f.arn for k, f in self.sluice.functions.items()}

    @property
    def function_names(self) -> dict[str, str]:
        """sluice's functions: logical id -> function name."""
        return {k: f.name for k, f in self.sluice.functions.items()}

    # --- deploying ---
    def role(self) -> str:
        if self.role_arn is None:
            iam = self.client("iam")
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            self.role_arn = iam.create_role(RoleName="sluice-local", AssumeRolePolicyDocument=json.dumps(trust))[
                "Role"
            ]["Arn"]
        return self.role_arn

    def alias_errors_alarm(self, name: str, function: str, period: int, threshold: float, **extra) -> None:
        """An alarm on the AWS/Lambda Errors of function:live (Sum over one period), as a team
        would watch a deployment with; `extra` adds PutMetricAlarm arguments."""
        self.cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Statistic="Sum",
            Period=period,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            Dimensions=[{"Name": "FunctionName", "Value": function}, {"Name": "Resource", "Value": f"{function}:live"}],
            **extra,
        )

    def create_function(self, name: str, binary: str, timeout: int = 30, memory: int = 128) -> str:
        """A function whose code is the workspace binary `binary` (served by cargo-lambda)."""
        out = self.lam.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Handler="bootstrap",
            Role=self.role(),
            Code={"ZipFile": placeholder_zip()},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": {BINARY_VAR: binary}},
        )
        return out["FunctionArn"]

    def set_code(self, name: str, binary: str) -> None:
        """Changes which binary the function's unpublished code is, as a code update would; its
        other environment variables stay."""
        lam = self.lam
        variables = (lam.get_function_configuration(FunctionName=name).get("Environment") or {}).get("Variables") or {}
        lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": {**variables, BINARY_VAR: binary}}
        )

    def deploy_sluice(self, prefix: str = "sluice-local") -> SluiceStack:
        """Deploys sluice from template.yaml under the stack name `prefix` (see sam_template.py) and
        returns it. start() deploys the one the stack's properties describe; a test may deploy
        another copy under another prefix (its functions then run with the first one's
        environment: cargo-lambda has one)."""
        return SluiceStack(self, ROOT / "template.yaml", prefix).deploy()

    def redeploy_sluice(self, binaries: dict[str, str] | None = None) -> dict[str, str]:
        """Upgrades the deployed sluice as `sam deploy` would: new code for every function
        (`binaries` may map a logical id to another workspace binary), a new version each with its
        alias moved, and the state machine's definition pointed at the new versions. Returns the
        new version per logical id."""
        return self.sluice.redeploy(binaries)

    # --- running deployments ---
    def start_deployment(self, request: dict, name: str | None = None) -> str:
        args = {"stateMachineArn": self.state_machine_arn, "input": json.dumps(request)}
        if name:
            args["name"] = name
        return self.sfn.start_execution(**args)["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 120) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            d = self.sfn.describe_execution(executionArn=execution_arn)
            if d["status"] != "RUNNING":
                return d
            time.sleep(0.1)
        raise TimeoutError(f"{execution_arn} still RUNNING after {timeout}s")

    def execution_history(self, execution_arn: str) -> list[dict]:
        """Every history event of the execution, oldest first."""
        sfn = self.sfn
        events: list[dict] = []
        args = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**args)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            args["nextToken"] = page["nextToken"]

    def task_token(self, execution_arn: str, state: str, key: str = "token", timeout: float = 10) -> str:
        """The task token the callback task `state` (`.waitForTaskToken`) passed its resource, read
        from the history: the value under `key` in its TaskScheduled parameters' Payload (or in the
        parameters themselves). Waits up to `timeout` seconds for the task to be scheduled; the last
        one, when the state ran more than once."""
        deadline = time.time() + timeout
        while True:
            events = self.execution_history(execution_arn)
            entered = {e["id"] for e in events if e.get("stateEnteredEventDetails", {}).get("name") == state}
            tokens = []
            for e in events:
                if e["type"] == "TaskScheduled" and e["previousEventId"] in entered:
                    parameters = json.loads(e["taskScheduledEventDetails"]["parameters"])
                    payload = parameters.get("Payload")
                    found = payload.get(key) if isinstance(payload, dict) else None
                    tokens.append(found if found is not None else parameters.get(key))
            if tokens and tokens[-1] is not None:
                return tokens[-1]
            if time.time() >= deadline:
                raise TimeoutError(f"{state} of {execution_arn} scheduled no task with a {key!r} within {timeout}s")
            time.sleep(0.02)
