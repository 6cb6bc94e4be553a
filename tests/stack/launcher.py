"""sluice's local AWS: moto's server with Step Functions execution on, and the gaps between
moto and AWS that sluice depends on closed by small, named patches (../../../shared/docs/local-aws.md).

Run: python launcher.py --port 5000 --runtime-url http://127.0.0.1:9100 [--time-scale 0.01]
Listens on 127.0.0.1 only; prints "ready <port>" once it answers; stops on SIGTERM/SIGINT.

Each patch names the moto behaviour it corrects; tests/stack/test_launcher.py covers each one.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import io
import json
import os
import random
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import cbor2
from moto.core.config import default_user_config

# Step Functions must execute the ASL (off by default in moto), and Lambda must not look for docker.
default_user_config["stepfunctions"] = {"execute_state_machine": True}
default_user_config["lambda"] = {"use_docker": False}

from moto.awslambda import responses as lambda_responses  # noqa: E402
from moto.cloudwatch.models import cloudwatch_backends  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

# The environment variable that names the local binary serving a function version's code.
BINARY_VAR = "SLUICE_LOCAL_BINARY"


def _utcnow() -> datetime.datetime:
    """moto keeps naive UTC datetimes."""
    return datetime.datetime.now(tz=datetime.timezone.utc).replace(tzinfo=None)


def _naive(t: datetime.datetime) -> datetime.datetime:
    return t.astimezone(datetime.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def _split_qualifier(name: str, qualifier: str | None) -> tuple[str, str | None]:
    """'fn:alias' or 'arn:...:function:fn:alias' -> ('fn' or arn, 'alias')."""
    if name.startswith("arn:"):
        parts = name.split(":")
        if len(parts) == 8:
            return ":".join(parts[:7]), qualifier or parts[7]
        return name, qualifier
    if ":" in name:
        base, q = name.split(":", 1)
        return base, qualifier or q
    return name, qualifier


# --- Patch 1 -----------------------------------------------------------------------------------
def route_invoke_to_local_runtime(runtime_url: str) -> None:
    """moto runs function code only in docker (echoes the payload without it) and ignores
    `Qualifier` (it reads a lower-case key). Here Invoke goes to the real binary named by the
    version's SLUICE_LOCAL_BINARY, served by cargo-lambda's runtime emulator; an alias with
    routing weights picks its version by weight and says which in X-Amz-Executed-Version; and
    each invoke through an alias is recorded as AWS/Lambda Invocations/Errors metrics with the
    ExecutedVersion dimension, as Lambda does."""

    def resolve(backend, name: str, qualifier: str | None):
        base, qualifier = _split_qualifier(name, qualifier)
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

    # Without docker moto serves Lambda from LambdaSimpleBackend, whose invoke echoes.
    from moto.awslambda_simple.models import LambdaSimpleBackend

    original = LambdaSimpleBackend.invoke

    def invoke(self, function_name, qualifier, body, headers, response_headers):
        fn, alias, version = resolve(self, function_name, qualifier)
        binary = (fn.environment_vars or {}).get(BINARY_VAR)
        if not binary:
            return original(self, function_name, qualifier, body, headers, response_headers)
        data = body if isinstance(body, bytes) else (body or "{}").encode()
        req = urllib.request.Request(
            f"{runtime_url}/2015-03-31/functions/{binary}/invocations",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        errored = False
        try:
            with urllib.request.urlopen(req, timeout=900) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as e:
            # cargo-lambda answers a function error with HTTP 500 and no X-Amz-Function-Error.
            payload = e.read()
            errored = True
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-executed-version"] = str(version or fn.version)
        response_headers["Content-Length"] = str(len(payload))
        if alias is not None:
            _record_invocation(self, fn, alias, str(version), errored)
        return payload

    LambdaSimpleBackend.invoke = invoke

    original_response_invoke = lambda_responses.LambdaResponse.invoke

    def response_invoke(self):
        qualifier = self.querystring.get("Qualifier")
        if qualifier and "qualifier" not in self.querystring:
            self.querystring["qualifier"] = qualifier
        return original_response_invoke(self)

    lambda_responses.LambdaResponse.invoke = response_invoke


def _record_invocation(backend, fn, alias, version: str, errored: bool) -> None:
    cw = cloudwatch_backends[backend.account_id][backend.region_name]
    now = _utcnow()
    dims = [
        {"Name": "FunctionName", "Value": fn.function_name},
        {"Name": "Resource", "Value": f"{fn.function_name}:{alias.name}"},
        {"Name": "ExecutedVersion", "Value": version},
    ]
    cw.put_metric_data(
        "AWS/Lambda",
        [
            {"MetricName": "Invocations", "Value": 1.0, "Dimensions": dims, "Timestamp": now, "Unit": "Count"},
            {"MetricName": "Errors", "Value": 1.0 if errored else 0.0, "Dimensions": dims, "Timestamp": now, "Unit": "Count"},
        ],
    )


# --- Patch 2 -----------------------------------------------------------------------------------
def name_unnamed_executions() -> None:
    """moto's executing Step Functions backend names an execution started without `name` "None",
    so the second such start fails. AWS generates a UUID."""
    from moto.stepfunctions.parser import models as sfn_models

    original = sfn_models.StepFunctionsParserBackend.start_execution

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    sfn_models.StepFunctionsParserBackend.start_execution = start_execution


# --- Patch 3 -----------------------------------------------------------------------------------
# Every alias update that landed, in order: what tests assert the alias passed through.
# Served at GET /_sluice/alias-journal (a test endpoint, not an AWS API).
ALIAS_JOURNAL: list[dict] = []

def enforce_alias_revisions() -> None:
    """moto's UpdateAlias ignores RevisionId, never changes an alias's RevisionId, and does not
    check routing weights or that the weighted version exists. Lambda refuses a stale RevisionId
    with PreconditionFailedException (HTTP 412), gives every update a new RevisionId, and
    validates RoutingConfig. sluice's conflict detection relies on all three."""

    original = lambda_responses.LambdaResponse.update_alias

    def error(status: int, code: str, message: str):
        return status, {"status": status, "x-amzn-errortype": code}, json.dumps({"Type": "User", "Message": message, "__type": code})

    def update_alias(self):
        function_name = self.path.rsplit("/")[-3]
        alias_name = self.path.rsplit("/", 2)[-1]
        params = json.loads(self.body or "{}")
        try:
            alias = self.backend.get_alias(alias_name, function_name)
        except Exception:
            return original(self)
        expected = params.get("RevisionId")
        if expected and expected != alias.revision_id:
            return error(412, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id. Call the GetAlias API to retrieve the latest Revision Id")
        weights = ((params.get("RoutingConfig") or {}).get("AdditionalVersionWeights")) or {}
        if len(weights) > 1:
            return error(400, "InvalidParameterValueException", "RoutingConfig can hold at most one additional version")
        for version, weight in weights.items():
            if not (0.0 <= float(weight) <= 1.0):
                return error(400, "ValidationException", f"weight {weight} is outside [0.0, 1.0]")
            try:
                self.backend.get_function(function_name, version)
            except Exception:
                return error(400, "InvalidParameterValueException", f"version {version} does not exist")
            main = params.get("FunctionVersion") or alias.function_version
            if str(version) == str(main):
                return error(400, "InvalidParameterValueException", "the additional version must differ from the alias's version")
        result = original(self)
        alias.revision_id = str(uuid.uuid4())
        ALIAS_JOURNAL.append(
            {
                "function": function_name,
                "alias": alias_name,
                "version": alias.function_version,
                "weights": dict(((alias.routing_config or {}).get("AdditionalVersionWeights")) or {}),
                "revisionId": alias.revision_id,
                "at": time.time(),
            }
        )
        status, headers, _ = result
        return status, headers, json.dumps(alias.to_json())

    lambda_responses.LambdaResponse.update_alias = update_alias


# --- Patch 4 -----------------------------------------------------------------------------------
class CloudWatchCborBridge:
    """aws-sdk-cloudwatch >= 1.100 speaks Smithy RPC-v2 CBOR
    (POST /service/GraniteServiceVersion20100801/operation/<Op>), which moto answers with 404.
    moto does speak CloudWatch's JSON 1.0 protocol, so this WSGI middleware translates the
    request CBOR -> JSON and the response JSON -> CBOR, timestamps and blobs included."""

    PREFIX = "/service/GraniteServiceVersion20100801/operation/"

    def __init__(self, app):
        self.app = app
        import botocore.session

        self.model = botocore.session.get_session().get_service_model("cloudwatch")

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_sluice/alias-journal":
            out = json.dumps(ALIAS_JOURNAL).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
            return [out]
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(self.PREFIX):
            return self.app(environ, start_response)
        op_name = path[len(self.PREFIX):]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        request = cbor2.loads(raw) if raw else {}
        body = json.dumps(_cbor_to_json(request)).encode()
        environ = dict(environ)
        environ["PATH_INFO"] = "/"
        environ["CONTENT_TYPE"] = "application/x-amz-json-1.0"
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["HTTP_X_AMZ_TARGET"] = f"GraniteServiceVersion20100801.{op_name}"
        environ.pop("HTTP_SMITHY_PROTOCOL", None)
        environ["wsgi.input"] = io.BytesIO(body)

        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers
            return lambda _: None

        chunks = b"".join(self.app(environ, capture))
        status = captured.get("status", "500 Internal Server Error")
        try:
            document = json.loads(chunks) if chunks.strip() else {}
        except ValueError:
            document = {"__type": "InternalFailure", "message": chunks.decode(errors="replace")}
        if status.startswith("2"):
            try:
                shape = self.model.operation_model(op_name).output_shape
            except Exception:
                shape = None
            document = _json_to_cbor(document, shape)
        out = cbor2.dumps(document)
        headers = [(k, v) for k, v in captured.get("headers", []) if k.lower() not in ("content-type", "content-length")]
        headers += [("Content-Type", "application/cbor"), ("Content-Length", str(len(out))), ("smithy-protocol", "rpc-v2-cbor")]
        start_response(status, headers)
        return [out]


def _cbor_to_json(value):
    if isinstance(value, dict):
        return {k: _cbor_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_cbor_to_json(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        return float(value.value)
    return value


def _json_to_cbor(value, shape):
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: _json_to_cbor(v, shape.members.get(k)) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_json_to_cbor(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _json_to_cbor(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, str):
            try:
                seconds = float(value)
            except ValueError:
                seconds = datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        else:
            seconds = float(value)
        return cbor2.CBORTag(1, seconds)
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    if kind in ("double", "float") and isinstance(value, int):
        return float(value)
    return value


# --- Patch 5 -----------------------------------------------------------------------------------
def scale_time(scale: float) -> None:
    """Waits and Retry intervals are real time in moto's interpreter. Scaling them lets the real
    presets (a 300 s canary bake) run in seconds; bake accounting in sluice counts the Wait
    seconds the ASL asked for, so the deployment logic sees the unscaled durations."""
    if scale == 1.0:
        return
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

    def wait_interval(self, env, wait_seconds):
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * scale)

    wait_function.WaitFunction._wait_interval = wait_interval

    class ScaledTime:
        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def sleep(seconds):
            time.sleep(seconds * scale)

    retrier_decl.time = ScaledTime()


# --- Patch 6 -----------------------------------------------------------------------------------
def evaluate_alarms(scale: float, stop: threading.Event) -> threading.Thread:
    """moto never moves an alarm from metric data (only SetAlarmState does). This evaluator
    judges metric alarms on the AWS/Lambda metrics that patch 1 records: the statistic over the
    last Period x EvaluationPeriods (scaled like Waits) against the threshold. It acts only when
    that window has data, so an alarm a test flips by hand stays as the test set it."""
    compare = {
        "GreaterThanThreshold": lambda v, t: v > t,
        "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
        "LessThanThreshold": lambda v, t: v < t,
        "LessThanOrEqualToThreshold": lambda v, t: v <= t,
    }

    def tick():
        for account in list(cloudwatch_backends.keys()):
            for region in list(cloudwatch_backends[account].keys()):
                cw = cloudwatch_backends[account][region]
                now = _utcnow()
                for alarm in list(cw.alarms.values()):
                    if alarm.namespace != "AWS/Lambda" or not alarm.metric_name:
                        continue
                    window = datetime.timedelta(seconds=float(alarm.period) * int(alarm.evaluation_periods) * scale)
                    wanted = {(d.name, d.value) for d in (alarm.dimensions or [])}
                    values = [
                        d.value
                        for d in list(cw.metric_data)
                        if d.namespace == "AWS/Lambda"
                        and d.name == alarm.metric_name
                        and getattr(d, "value", None) is not None
                        and d.timestamp is not None
                        and now - _naive(d.timestamp) <= window
                        and wanted <= {(x.name, x.value) for x in d.dimensions}
                    ]
                    if not values:
                        continue
                    stat = alarm.statistic or "Sum"
                    value = {"Sum": sum, "Maximum": max, "Minimum": min, "SampleCount": len}.get(
                        stat, lambda v: sum(v) / len(v)
                    )(values)
                    breached = compare.get(alarm.comparison_operator, lambda v, t: False)(value, float(alarm.threshold))
                    state = "ALARM" if breached else "OK"
                    if alarm.state_value != state:
                        reason = f"{alarm.metric_name} {stat} {value:g} over the last {int(alarm.period) * int(alarm.evaluation_periods)}s {'crossed' if breached else 'is within'} the threshold {float(alarm.threshold):g}"
                        cw.set_alarm_state(alarm.name, reason, None, state)

    def loop():
        while not stop.wait(0.25):
            try:
                tick()
            except Exception as e:  # never let the evaluator take the server down
                print(f"alarm evaluator: {e!r}", file=sys.stderr)

    thread = threading.Thread(target=loop, name="alarm-evaluator", daemon=True)
    thread.start()
    return thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--runtime-url", required=True, help="cargo-lambda's runtime emulator")
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args()
    if not 0 < args.time_scale <= 1:
        parser.error("--time-scale must be in (0, 1]")
    # The interpreter's Lambda tasks call back into this server through boto3.
    os.environ["MOTO_PORT"] = str(args.port)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    route_invoke_to_local_runtime(args.runtime_url.rstrip("/"))
    name_unnamed_executions()
    enforce_alias_revisions()
    scale_time(args.time_scale)
    stop = threading.Event()
    evaluate_alarms(args.time_scale, stop)

    app = CloudWatchCborBridge(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)

    def shutdown(*_):
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    print(f"ready {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
