"""Cold start and peak RSS of Lambda function binaries, against a minimal Lambda Runtime API.

Run by scripts/bench.sh. For each binary, `--runs` spawns (after one warm-up spawn that is not
counted), interleaved round-robin so that drift on a shared machine hits every binary alike:

- ready: spawn -> the first `GET /runtime/invocation/next` (init done, asking for work);
- answered: spawn -> the first response (or error) posted for the one event it is given;
- peak RSS: VmHWM of /proc/PID/status once it asks for the next event (the invocation done).

The event is one every phase function answers without AWS: `{}`, which no phase takes, refused at
once as an InternalError (the payload is read, typed and refused: init plus one answer). `--aws-call` adds
a row for alarm-event given an ALARM event for an alarm nobody watches: one DynamoDB GetItem,
answered `{}` by the same server (AWS_ENDPOINT_URL), so that row also pays what the SDK leaves to
the first request (TLS setup, credentials, signing) on top of init.

Each process gets the environment Lambda gives a function (region, credentials, log format) and
nothing of this machine's, so no AWS profile or endpoint of the caller leaks in. The Runtime API
listens on 127.0.0.1 only; every process is killed by its PID and reaped.
"""

import argparse
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"
# Refused without AWS by every phase function (sluice_aws::runtime reads it into the phase's input
# type, which it is not), and echoed by hello-world.
EVENT = {}
# alarm-event reads the alarm's watches (one GetItem), finds none and answers.
ALARM_EVENT = {
    "source": "aws.cloudwatch",
    "detail-type": "CloudWatch Alarm State Change",
    "time": "2026-11-27T06:30:00Z",
    "detail": {"alarmName": "bench-unwatched", "state": {"value": "ALARM", "reason": "bench"}},
}
TIMEOUT_S = 10.0


class Run:
    """One spawn: when each event of interest reached the Runtime API."""

    def __init__(self, request_id: str, event: dict):
        self.request_id = request_id
        self.event = event
        self.aws_calls = 0
        self.ready = None
        self.answered = None
        self.answer_kind = None
        self.init_error = None
        self.idle = threading.Event()  # set on the second /next: the invocation is over
        self.done = threading.Event()  # set when the process is gone; releases the held /next
        self.nexts = 0


class RuntimeApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.run: Run | None = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeApi

    def log_message(self, format, *args):  # quiet: the bench reads timings, not request logs
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        now = time.perf_counter()
        run = self.server.run
        if run is None or self.path != f"{PREFIX}/invocation/next":
            return self._reply(404)
        run.nexts += 1
        if run.nexts == 1:
            run.ready = now
            deadline_ms = int((time.time() + 60) * 1000)
            self._reply(
                200,
                json.dumps(run.event).encode(),
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": run.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                },
            )
        else:
            # Idle again: hold the request (as Lambda does between events) until the process is gone.
            run.idle.set()
            run.done.wait(TIMEOUT_S)
            self.close_connection = True

    def do_POST(self):
        now = time.perf_counter()
        run = self.server.run
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if run is None:
            return self._reply(404)
        if self.path == "/" and self.headers.get("X-Amz-Target") == "DynamoDB_20120810.GetItem":
            run.aws_calls += 1  # no such item
            return self._reply(200, b"{}", {"Content-Type": "application/x-amz-json-1.0"})
        if self.path == f"{PREFIX}/invocation/{run.request_id}/response":
            run.answered, run.answer_kind = now, "response"
        elif self.path == f"{PREFIX}/invocation/{run.request_id}/error":
            run.answered, run.answer_kind = now, f"error {body[:200]!r}"
        elif self.path == f"{PREFIX}/init/error":
            run.init_error = body[:500].decode(errors="replace")
            run.idle.set()
        else:
            return self._reply(404)
        self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})


def lambda_env(api: str, name: str, home: str) -> dict:
    """What Lambda sets for a function (template.yaml: JSON logs, INFO, the ledger table)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": api,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023",
        "AWS_ACCESS_KEY_ID": "ASIABENCHBENCHBENCH00",
        "AWS_SECRET_ACCESS_KEY": "bench/bench/bench/bench/bench/bench/benc",
        "AWS_SESSION_TOKEN": "bench",
        "SLUICE_LEDGER_TABLE": "sluice-bench-ledger",
    }


def vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def spawn_once(server: RuntimeApi, name: str, path: str, home: str, n: int, aws_call: bool = False) -> dict:
    api = f"127.0.0.1:{server.server_address[1]}"
    run = Run(f"bench-{n}", ALARM_EVENT if aws_call else EVENT)
    server.run = run
    env = lambda_env(api, name, home)
    if aws_call:
        env["AWS_ENDPOINT_URL"] = f"http://{api}"
    devnull = os.open(os.devnull, os.O_WRONLY)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    started = time.perf_counter()
    pid = os.posix_spawn(path, [path], env, file_actions=actions)
    os.close(devnull)
    try:
        run.idle.wait(TIMEOUT_S)
        hwm = vm_hwm_kb(pid)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        run.done.set()
        server.run = None
    if run.init_error or run.ready is None or run.answered is None:
        raise SystemExit(f"{name}: no answer (init error: {run.init_error}, ready: {run.ready})")
    if run.answer_kind != "response" or run.aws_calls != int(aws_call):
        raise SystemExit(f"{name}: answered {run.answer_kind} after {run.aws_calls} AWS calls")
    return {
        "ready_ms": (run.ready - started) * 1000,
        "answered_ms": (run.answered - started) * 1000,
        "rss_kb": hwm,
    }


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def summary(samples: list[dict]) -> dict:
    out = {"runs": len(samples)}
    for key in ("ready_ms", "answered_ms", "rss_kb"):
        values = [s[key] for s in samples]
        out[key] = {"median": statistics.median(values), "p90": p90(values), "min": min(values)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--out", required=True, help="JSON file for the results")
    parser.add_argument("--aws-call", metavar="PATH", help="alarm-event's binary, for the one-AWS-call row")
    parser.add_argument("binaries", nargs="+", metavar="NAME=PATH")
    args = parser.parse_args()
    binaries = {name: (path, False) for name, path in (b.split("=", 1) for b in args.binaries)}
    if args.aws_call:
        binaries["alarm-event, 1 AWS call"] = (args.aws_call, True)

    server = RuntimeApi()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    samples: dict[str, list[dict]] = {name: [] for name in binaries}
    with tempfile.TemporaryDirectory() as home:
        for round_ in range(args.runs + 1):  # round 0 warms the page cache and is not counted
            for name, (path, aws_call) in binaries.items():
                sample = spawn_once(server, name, path, home, round_, aws_call)
                if round_:
                    samples[name].append(sample)
    server.shutdown()
    results = {name: summary(s) for name, s in samples.items()}
    with open(args.out, "w") as f:
        json.dump({"runs": args.runs, "results": results}, f, indent=2)
    for name, r in results.items():
        print(
            f"  {name:<14} ready {r['ready_ms']['median']:6.1f} ms (p90 {r['ready_ms']['p90']:6.1f}),"
            f" answered {r['answered_ms']['median']:6.1f} ms, peak RSS {r['rss_kb']['median'] / 1024:5.1f} MiB",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
