"""The local stack's processes, and the clients that talk to it: free ports, each process in a process
group of its own (its output to a log), stopped by its PID, signals turned into KeyboardInterrupt,
the AWS environment every process of the stack gets, and boto3 clients of the stack's endpoint.

No imports of moto: this runs in the pytest and demo processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import botocore.config

from local_aws import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

ROOT = Path(__file__).resolve().parents[2]
# The launcher package and local_aws, for the launcher's import path.
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


def serve(what: str, command: list[str], port: int, env: dict, log: Path) -> subprocess.Popen:
    """Starts `command` at the repository's root, in a process group of its own (so that
    stop_process stops all of it), its output to `log`, and waits until it listens on `port`."""
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, what)
    except BaseException:
        stop_process(proc)
        raise
    return proc


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


def aws_environment(endpoint: str) -> dict:
    """This process's environment, with the stack's credentials, region and endpoint."""
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=endpoint,
        # The functions log as they would on Lambda, in JSON, at INFO.
        AWS_LAMBDA_LOG_FORMAT="JSON",
        AWS_LAMBDA_LOG_LEVEL="INFO",
    )
    return env


def start_launcher(port: int, runtime_url: str, time_scale: float, endpoint: str, log: Path) -> subprocess.Popen:
    """The launcher package (python -m launcher): moto, patched, on 127.0.0.1:`port`."""
    env = aws_environment(endpoint)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "launcher", "--port", str(port), "--runtime-url", runtime_url]
    return serve("the moto launcher", [*command, "--time-scale", str(time_scale)], port, env, log)


def start_runtime(venv_bin: Path, port: int, concurrency: int, env: dict, log: Path) -> subprocess.Popen:
    """cargo-lambda's runtime emulator serving every binary of the workspace, run directly (not
    through `cargo lambda`) so that its PID is the server's; `concurrency` instances of each."""
    command = [str(venv_bin / "cargo-lambda"), "lambda", "watch", "--ignore-changes", "-A", "127.0.0.1"]
    return serve("cargo-lambda", [*command, "-P", str(port), "--concurrency", str(concurrency)], port, env, log)


class Clients:
    """boto3 clients of the local stack at `endpoint`, a new one each time."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint

    def client(self, service: str, **config):
        """A boto3 client of the local stack; `config` goes to botocore's Config (e.g.
        retries={"max_attempts": 1})."""
        kwargs = {"config": botocore.config.Config(**config)} if config else {}
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

    @property
    def sts(self):
        return self.client("sts")
