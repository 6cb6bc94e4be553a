"""Starts and stops sluice's local AWS stack, and deploys sluice into it from template.yaml.

    with LocalStack(time_scale=0.02) as stack:
        stack.sfn.start_execution(stateMachineArn=stack.state_machine_arn, input=...)

The stack is two processes, each in its own process group and stopped by PID (processes.py):
- the launcher package (python -m launcher): moto with Step Functions execution and the gaps
  closed;
- cargo-lambda's runtime emulator serving every binary of the workspace (the real Rust functions),
  started once sluice is deployed (sluice_stack.py), with the deployed functions' environment.

LocalStack composes what a test uses: boto3 clients of the stack (processes.Clients), sluice as
deployed (`sluice`), the test controls (`faults`, `function_faults`, `moments`, `alarm_events`,
`status_events`, `throttles`, `journals`: controls.py), and the few calls every test makes (a
function of a workspace binary: resources.py; a deployment started and waited for: executions.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import executions
import resources
from controls import (
    AlarmEventControls,
    FaultControls,
    FunctionFaultControls,
    Journals,
    MomentControls,
    StatusEventControls,
    ThrottleControls,
)
from processes import ROOT, Clients, aws_environment, free_port, start_launcher, start_runtime, stop_process
from sluice_stack import SluiceStack


class LocalStack(Clients):
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
        super().__init__(f"http://127.0.0.1:{self.moto_port}")
        self.runtime = None
        self.moto = None
        self.role_arn = None
        self.sluice: SluiceStack | None = None
        self.faults = FaultControls(self.endpoint)
        self.function_faults = FunctionFaultControls(self.endpoint, self._function_name)
        self.moments = MomentControls(self.endpoint)
        self.alarm_events = AlarmEventControls(self.endpoint)
        self.status_events = StatusEventControls(self.endpoint)
        self.journals = Journals(self.endpoint)
        self.throttles = ThrottleControls(self.endpoint, self._function_name)

    # --- processes ---
    def start(self) -> LocalStack:
        """moto first, then sluice deployed into it, then cargo-lambda with the environment the
        deployed functions have: cargo-lambda runs every binary in its own environment, not the
        function's, so sluice's functions' variables from the template (SLUICE_LEDGER_TABLE, ...)
        are put there."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            runtime_url = f"http://127.0.0.1:{self.runtime_port}"
            log = self.log_dir / "moto.log"
            self.moto = start_launcher(self.moto_port, runtime_url, self.time_scale, self.endpoint, log)
            self.sluice = self.deploy_sluice()
            env = {**aws_environment(self.endpoint), **self.sluice.runtime_environment()}
            log = self.log_dir / "runtime.log"
            self.runtime = start_runtime(self.venv_bin, self.runtime_port, self.concurrency, env, log)
            self.warm_up()
        except BaseException:
            self.stop()
            raise
        return self

    def warm_up(self) -> None:
        """Invokes each of sluice's functions once, with an empty payload (whatever it answers, even
        an error): cargo-lambda starts a function's binary with `cargo run` on its first invocation,
        seconds on a busy machine, and holds other invocations meanwhile. Lambda has no such cost, so
        the tests pay it here, not inside what they measure."""
        lam = self.lam
        for f in lam.list_functions()["Functions"]:
            lam.invoke(FunctionName=f["FunctionName"], Payload=b"{}")

    def stop(self) -> None:
        stop_process(self.moto)
        stop_process(self.runtime)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- sluice, as deployed from template.yaml ---
    def deploy_sluice(self, prefix: str = "sluice-local") -> SluiceStack:
        """Deploys sluice from template.yaml under the stack name `prefix` (see sluice_stack.py) and
        returns it. start() deploys the one `sluice` is; a test may deploy another copy under
        another prefix (its functions then run with the first one's environment: cargo-lambda has
        one)."""
        return SluiceStack(self, ROOT / "template.yaml", prefix).deploy()

    def deploy_template(self, path: Path, prefix: str) -> SluiceStack:
        """Deploys another SAM template (a test's own) under the stack name `prefix`, as sluice is
        deployed (see sluice_stack.py); its functions run with sluice's environment."""
        return SluiceStack(self, Path(path), prefix).deploy()

    @property
    def state_machine_arn(self) -> str:
        return self.sluice.state_machine_arn

    @property
    def ledger_table(self) -> str:
        """The ledger's DynamoDB table name."""
        return self.sluice.ledger_table

    def _function_name(self, function: str) -> str:
        """A function name, or the logical id of one of sluice's (e.g. ShiftFunction)."""
        fn = self.sluice.functions.get(function) if self.sluice else None
        return fn.name if fn else function

    def cli_env(self) -> dict:
        """What the sluice CLI needs to find this sluice: its state machine, its ledger, AWS."""
        return {
            **aws_environment(self.endpoint),
            "SLUICE_STATE_MACHINE_ARN": self.state_machine_arn,
            "SLUICE_LEDGER_TABLE": self.ledger_table,
        }

    # --- what tests deploy with it ---
    def role(self) -> str:
        """The role functions and state machines run as (created on first use)."""
        if self.role_arn is None:
            self.role_arn = resources.create_role(self.client("iam"))
        return self.role_arn

    def create_function(self, name: str, binary: str, timeout: int = 30, memory: int = 128) -> str:
        """A function whose code is the workspace binary `binary` (served by cargo-lambda)."""
        return resources.create_function(self.lam, self.role(), name, binary, timeout, memory)

    def set_code(self, name: str, binary: str) -> None:
        """Changes which binary the function's unpublished code is (resources.set_code)."""
        resources.set_code(self.lam, name, binary)

    # --- running deployments ---
    def start_deployment(self, request: dict, name: str | None = None) -> str:
        args = {"stateMachineArn": self.state_machine_arn, "input": json.dumps(request)}
        if name:
            args["name"] = name
        return self.sfn.start_execution(**args)["executionArn"]

    def wait(self, execution_arn: str, timeout: float = 120) -> dict:
        return executions.wait(self.sfn, execution_arn, timeout)

    def execution_history(self, execution_arn: str) -> list[dict]:
        return executions.history(self.sfn, execution_arn)

    def task_token(self, execution_arn: str, state: str, key: str = "token", timeout: float = 10) -> str:
        return executions.task_token(self.sfn, execution_arn, state, key, timeout)
