"""Patch 1. moto runs function code only in docker (without it, Invoke echoes the payload) and
ignores `Qualifier` (it reads a lower-case key). Here Invoke goes to the real binary named by the
version's SLUICE_LOCAL_BINARY, served by cargo-lambda's runtime emulator; an alias with routing
weights picks its version by weight and says which in X-Amz-Executed-Version; and each invoke
through an alias is recorded as AWS/Lambda Invocations/Errors metrics with the ExecutedVersion
dimension, as Lambda does. A crash or timeout armed for the invocation (function_faults) is
answered as Lambda answers one."""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request

from moto.awslambda import responses as lambda_responses
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import utcnow

from local_aws import BINARY_VAR

from . import function_faults
from .function_names import bare


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


def record_invocation(backend, fn, alias, version: str, errored: bool) -> None:
    """One Invocations and one Errors datapoint, with the dimensions Lambda gives an alias's
    metrics; the alarm evaluator judges alarms on them."""
    cw = cloudwatch_backends[backend.account_id][backend.region_name]
    now = utcnow()
    dims = [
        {"Name": "FunctionName", "Value": fn.function_name},
        {"Name": "Resource", "Value": f"{fn.function_name}:{alias.name}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]
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
        ],
    )


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
        binary = (fn.environment_vars or {}).get(BINARY_VAR)
        if not binary:
            return original(self, function_name, qualifier, body, headers, response_headers)
        data = body if isinstance(body, bytes) else (body or "{}").encode()
        fault = function_faults.take_invocation_fault(fn.function_name, data)
        errored = False
        if fault is None or fault["when"] == "after":
            payload, errored = run_binary(runtime_url, binary, data)
        if fault is not None:
            time.sleep(fault["seconds"])
            payload, errored = function_faults.failure_payload(fault, int(fn.timeout or 3)), True
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = str(version or fn.version)
        response_headers["Content-Length"] = str(len(payload))
        if alias is not None:
            record_invocation(self, fn, alias, str(version), errored)
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
