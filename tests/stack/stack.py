"""Starts and stops sluice's local AWS stack, and deploys sluice into it from template.yaml.

    with LocalStack(time_scale=0.02) as stack:
        stack.sfn.start_execution(stateMachineArn=stack.state_machine_arn, input=...)

The stack is two processes, each in its own process group and stopped by PID:
- cargo-lambda's runtime emulator serving every binary of the workspace (the real Rust functions);
- the launcher package (python -m launcher): moto with Step Functions execution and the gaps
  closed.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3
import yaml

from local_aws import ACCESS_KEY_ID, ALIAS_JOURNAL_PATH, BINARY_VAR, REGION, SECRET_ACCESS_KEY
from local_aws import ACCOUNT as ACCOUNT  # re-exported: part of this module's API

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


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


# --- template.yaml -------------------------------------------------------------------------------
class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !GetAtt, !Sub, ...)."""


def _intrinsic(loader: yaml.Loader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=_CfnLoader)


def _placeholder_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n# served locally by cargo-lambda; see SLUICE_LOCAL_BINARY\n")
    return buf.getvalue()


class LocalStack:
    def __init__(self, time_scale: float = 1.0, log_dir: Path | None = None, venv_bin: Path | None = None):
        self.time_scale = time_scale
        self.log_dir = Path(log_dir or ROOT / "tests" / ".stack")
        self.venv_bin = Path(venv_bin or Path(sys.executable).parent)
        self.moto_port = free_port()
        self.runtime_port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.moto_port}"
        self.runtime = None
        self.moto = None
        self.role_arn = None
        self.state_machine_arn = None
        self.functions: dict[str, str] = {}

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

    def launcher_env(self) -> dict:
        """The launcher package and local_aws live here, next to this file."""
        env = self.env()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
        return env

    def start(self) -> LocalStack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
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
                ],
                cwd=ROOT,
                env=self.env(),
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                stdout=open(self.log_dir / "runtime.log", "w"),
                stderr=subprocess.STDOUT,
            )
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
            wait_for_port(self.runtime_port, self.runtime, "cargo-lambda")
            self.deploy_sluice()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_process(self.moto)
        stop_process(self.runtime)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- clients ---
    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
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

    def alias_journal(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.endpoint}{ALIAS_JOURNAL_PATH}") as r:
            return json.loads(r.read())

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

    def create_function(self, name: str, binary: str, timeout: int = 30, memory: int = 128) -> str:
        """A function whose code is the workspace binary `binary` (served by cargo-lambda)."""
        out = self.lam.create_function(
            FunctionName=name,
            Runtime="provided.al2023",
            Handler="bootstrap",
            Role=self.role(),
            Code={"ZipFile": _placeholder_zip()},
            Timeout=timeout,
            MemorySize=memory,
            Environment={"Variables": {BINARY_VAR: binary}},
        )
        return out["FunctionArn"]

    def set_code(self, name: str, binary: str) -> None:
        """Changes which binary the function's unpublished code is, as a code update would."""
        self.lam.update_function_configuration(FunctionName=name, Environment={"Variables": {BINARY_VAR: binary}})

    def deploy_sluice(self, prefix: str = "sluice-local") -> None:
        """Deploys sluice as template.yaml describes it: one function per AWS::Serverless::Function
        (code: its BuildProperties.Binary), and the state machine from DefinitionUri with
        DefinitionSubstitutions applied, as CloudFormation does."""
        t = load_template(ROOT / "template.yaml")
        if t.get("Transform") != "AWS::Serverless-2016-10-31":
            raise ValueError("template.yaml is not a SAM template")
        defaults = (t.get("Globals") or {}).get("Function") or {}
        resources = t["Resources"]
        names: dict[str, str] = {}
        for logical, res in resources.items():
            if res["Type"] != "AWS::Serverless::Function":
                continue
            props = {**defaults, **res.get("Properties", {})}
            binary = res["Metadata"]["BuildProperties"]["Binary"]
            name = f"{prefix}-{logical}"
            self.functions[logical] = self.create_function(
                name, binary, int(props.get("Timeout", 3)), int(props.get("MemorySize", 128))
            )
            names[logical] = name
        machines = [(k, r) for k, r in resources.items() if r["Type"] == "AWS::Serverless::StateMachine"]
        if len(machines) != 1:
            raise ValueError("template.yaml must have exactly one state machine")
        logical, res = machines[0]
        props = res["Properties"]
        definition = (ROOT / props["DefinitionUri"]).read_text()
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", self._resolve(value, names))
        leftover = re.findall(r"\$\{([^}]+)\}", definition)
        if leftover:
            raise ValueError(f"placeholders without a substitution: {leftover}")
        self.state_machine_arn = self.sfn.create_state_machine(
            name=f"{prefix}-{logical}",
            definition=definition,
            roleArn=self.role(),
            type=props.get("Type", "STANDARD"),
        )["stateMachineArn"]

    def _resolve(self, value, names: dict[str, str]) -> str:
        if isinstance(value, str):
            return value
        if "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
            return self.functions[value["Fn::GetAtt"][0]]
        if "Ref" in value:
            return names[value["Ref"]]
        raise ValueError(f"cannot resolve {value} locally")

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
