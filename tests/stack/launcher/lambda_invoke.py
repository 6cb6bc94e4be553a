"""Patch 1. moto runs function code only in docker (without it, Invoke echoes the payload) and
ignores `Qualifier` (it reads a lower-case key). Here Invoke goes to the real binary named by the
version's SLUICE_LOCAL_BINARY, served by cargo-lambda's runtime emulator; an alias with routing
weights picks its version by weight and says which in X-Amz-Executed-Version; and each invoke
through an alias is recorded as AWS/Lambda metrics with the dimensions FunctionName,
Resource=fn:alias and ExecutedVersion, as Lambda does: Invocations (1), Errors (0/1), Duration (the
milliseconds the invocation took, as this server saw it: cargo-lambda's first invocation of a
binary includes its start-up, which Lambda would report as Init Duration, not in Duration) and
Throttles (0). A crash or timeout armed for the invocation (function_faults) is answered as Lambda
answers one.

A throttled invoke is answered 429 TooManyRequestsException and recorded as Throttles 1, with no
Invocations, Errors or Duration, ExecutedVersion the version the alias's routing picked: one a
test endpoint at THROTTLES_PATH throttles (below), or one the faults module answers with
TooManyRequestsException (__main__ wires record_faulted_throttle to it).

    POST   {"function": NAME, "version": "2", "rate": 0.5}
           throttles a share `rate` (0..1, default 1) of the invocations of that version of function
           NAME (through an alias or not), counted from now: invocation k is throttled when
           floor(k x rate) > floor((k - 1) x rate), so exactly floor(n x rate) of the first n are,
           spread evenly (0.5: the 2nd, 4th, ...). Lambda's answer: HTTP 429, x-amzn-ErrorType
           TooManyRequestsException, {"Type": "User", "message": "Rate Exceeded.", "Reason":
           "ReservedFunctionConcurrentInvocationLimitExceeded"}. Arming a function and version again
           replaces its control; rate 0 throttles nothing. Answers 201 with the control (an `id`).
    GET    {"armed": [{id, function, version, rate, seen, throttled}], "fired": [{id, function,
            version, invocation, at}]}
    DELETE disarms every control and forgets what fired; answers 204."""

from __future__ import annotations

import json
import math
import random
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from fractions import Fraction

from moto.awslambda import responses as lambda_responses
from moto.awslambda.utils import get_backend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.exceptions import JsonRESTError
from moto.core.utils import utcnow

from local_aws import ACCOUNT, BINARY_VAR, REGION, THROTTLES_PATH

from . import function_faults
from .endpoints import Controls
from .function_names import bare

controls = Controls()


def split_qualifier(name: str, qualifier: str | None) -> tuple[str, str | None]:
    """'fn:alias', '123456789012:function:fn:alias' or 'arn:...:function:fn:alias' (URL-encoded or
    not) -> ('fn', 'alias'); an ARN of another account or region keeps its ARN."""
    name = bare(name)
    if name.startswith("arn:"):
        parts = name.split(":")
        if len(parts) == 8:
            return ":".join(parts[:7]), qualifier or parts[7]
        return name, qualifier
    if ":" in name:
        base, q = name.split(":", 1)
        return base, qualifier or q
    return name, qualifier


def resolve(backend, name: str, qualifier: str | None):
    """The function version an invoke runs, the alias it went through (or None), and the version
    number: an alias with AdditionalVersionWeights sends each call to the extra version with
    that probability."""
    base, qualifier = split_qualifier(name, qualifier)
    alias = None
    version = qualifier
    if qualifier and qualifier != "$LATEST" and not qualifier.isdigit():
        alias = backend.get_alias(qualifier, base.split(":")[-1])
        version = alias.function_version
        weights = ((alias.routing_config or {}).get("AdditionalVersionWeights")) or {}
        for extra, weight in weights.items():
            if random.random() < float(weight):
                version = extra
    fn = backend.get_function(base, version)
    return fn, alias, version


def dimensions(fn, alias, version: str) -> list[dict]:
    """The dimensions Lambda gives the metrics of an invoke through an alias."""
    return [
        {"Name": "FunctionName", "Value": fn.function_name},
        {"Name": "Resource", "Value": f"{fn.function_name}:{alias.name}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]


def record_invocation(backend, fn, alias, version: str, errored: bool, duration_ms: float) -> None:
    """One Invocations, one Errors, one Duration and one Throttles (0) datapoint, with the
    dimensions Lambda gives an alias's metrics; the alarm evaluator judges alarms on them."""
    cw = cloudwatch_backends[backend.account_id][backend.region_name]
    now = utcnow()
    dims = dimensions(fn, alias, version)
    cw.put_metric_data(
        "AWS/Lambda",
        [
            {"MetricName": "Invocations", "Value": 1.0, "Dimensions": dims, "Timestamp": now, "Unit": "Count"},
            {
                "MetricName": "Errors",
                "Value": 1.0 if errored else 0.0,
                "Dimensions": dims,
                "Timestamp": now,
                "Unit": "Count",
            },
            {
                "MetricName": "Duration",
                "Value": duration_ms,
                "Dimensions": dims,
                "Timestamp": now,
                "Unit": "Milliseconds",
            },
            {"MetricName": "Throttles", "Value": 0.0, "Dimensions": dims, "Timestamp": now, "Unit": "Count"},
        ],
    )


def record_throttle(backend, fn, alias, version: str) -> None:
    """A throttled invoke: one Throttles (1) datapoint, and nothing else."""
    cw = cloudwatch_backends[backend.account_id][backend.region_name]
    dims = dimensions(fn, alias, version)
    cw.put_metric_data(
        "AWS/Lambda",
        [{"MetricName": "Throttles", "Value": 1.0, "Dimensions": dims, "Timestamp": utcnow(), "Unit": "Count"}],
    )


class TooManyRequests(JsonRESTError):
    """Lambda's answer to a throttled invoke."""

    code = 429

    def __init__(self):
        super().__init__("TooManyRequestsException", "Rate Exceeded.")
        self.description = json.dumps(
            {"Type": "User", "message": "Rate Exceeded.", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}
        )


def arm(spec: dict) -> dict:
    function, version = spec.get("function"), spec.get("version")
    if not isinstance(function, str) or not function:
        raise ValueError("function (a function's name) is required")
    if not isinstance(version, str) or not version.isdigit():
        raise ValueError('version (a published version, e.g. "2") is required')
    rate = spec.get("rate", 1)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
        raise ValueError("rate must be a number in [0, 1]")
    control = {"id": uuid.uuid4().hex[:12], "function": function, "version": version, "rate": rate}
    with controls.lock:
        controls.armed[:] = [c for c in controls.armed if (c["function"], c["version"]) != (function, version)]
    return controls.add({**control, "seen": 0, "throttled": 0})


def take_throttle(function: str, version: str) -> bool:
    """Whether this invocation of function's version is throttled (and counts it)."""
    if not controls.any_armed():
        return False
    with controls.lock:
        for c in controls.armed:
            if (c["function"], c["version"]) != (function, version):
                continue
            c["seen"] += 1
            rate = Fraction(str(c["rate"]))
            if math.floor(c["seen"] * rate) > math.floor((c["seen"] - 1) * rate):
                c["throttled"] += 1
                fired = {"id": c["id"], "function": function, "version": version, "invocation": c["seen"]}
                controls.fired.append({**fired, "at": time.time()})
                return True
            return False
    return False


def record_faulted_throttle(call, fault) -> None:
    """For faults: an Invoke through an alias that a fault answered with TooManyRequestsException is
    a throttle (the invoke never reaches moto)."""
    if call.operation != "Invoke" or fault.error != "TooManyRequestsException":
        return
    try:
        m = re.search(r"/functions/([^/?]+)/invocations", call.path)
        if not m:
            return
        qualifier = urllib.parse.parse_qs(call.query).get("Qualifier", [None])[0]
        # The stack's one account and region (bare leaves another's ARN, which is not found there).
        backend = get_backend(ACCOUNT, REGION)
        fn, alias, version = resolve(backend, m.group(1), qualifier)
        if alias is not None:
            record_throttle(backend, fn, alias, str(version))
    except Exception as e:  # a fault on a function that does not exist, say: nothing to record
        print(f"lambda_invoke: no throttle recorded for {call.path}: {e!r}", file=sys.stderr, flush=True)


def run_binary(runtime_url: str, binary: str, data: bytes) -> tuple[bytes, bool]:
    """(payload, errored) of one invocation of the binary by cargo-lambda's runtime emulator."""
    req = urllib.request.Request(
        f"{runtime_url}/2015-03-31/functions/{binary}/invocations",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=900) as resp:
            return resp.read(), False
    except urllib.error.HTTPError as e:
        # cargo-lambda answers a function error with HTTP 500 and no X-Amz-Function-Error.
        return e.read(), True


def route_invoke_to_local_runtime(runtime_url: str) -> None:
    # Without docker moto serves Lambda from LambdaSimpleBackend, whose invoke echoes.
    original = LambdaSimpleBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        fn, alias, version = resolve(self, function_name, qualifier)
        if take_throttle(fn.function_name, str(version or fn.version)):
            if alias is not None:
                record_throttle(self, fn, alias, str(version))
            raise TooManyRequests()
        binary = (fn.environment_vars or {}).get(BINARY_VAR)
        if not binary:
            return original(self, function_name, qualifier, body, headers, response_headers)
        data = body if isinstance(body, bytes) else (body or "{}").encode()
        fault = function_faults.take_invocation_fault(fn.function_name, data)
        errored = False
        started = time.monotonic()
        if fault is None or fault["when"] == "after":
            payload, errored = run_binary(runtime_url, binary, data)
        if fault is not None:
            time.sleep(fault["seconds"])
            payload, errored = function_faults.failure_payload(fault, int(fn.timeout or 3)), True
        duration_ms = (time.monotonic() - started) * 1000
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = str(version or fn.version)
        response_headers["Content-Length"] = str(len(payload))
        if alias is not None:
            record_invocation(self, fn, alias, str(version), errored, duration_ms)
        return payload

    LambdaSimpleBackend.invoke = invoke

    original_response_invoke = lambda_responses.LambdaResponse.invoke

    def response_invoke(self):
        # boto3 sends ?Qualifier=; moto's handler reads "qualifier".
        qualifier = self.querystring.get("Qualifier")
        if qualifier and "qualifier" not in self.querystring:
            self.querystring["qualifier"] = qualifier
        return original_response_invoke(self)

    lambda_responses.LambdaResponse.invoke = response_invoke


ENDPOINT = controls.endpoint(THROTTLES_PATH, arm)
