"""Patch 9. Fault injection, so tests can make AWS misbehave as it does in production: throttles,
service errors, calls slower than a client's attempt timeout. A test endpoint at FAULTS_PATH (not an
AWS API), in front of everything else the server answers:

    POST   {"operation": "UpdateAlias", "count": 5, "error": "TooManyRequestsException",
            "status": 429, "delaySeconds": 0, "message": "..."}
           arms a fault: the next `count` calls of that operation, from any caller, are held
           delaySeconds (default 0) and then fail with `error` in the protocol's own error shape,
           with HTTP `status` (default: 429 for TooManyRequestsException, 500 for service and
           internal errors, 503 for unavailable, else 400). Without `error` (delaySeconds > 0 then
           required) each call is held that long and then answered normally: the operation still
           takes effect, as on AWS when a client gives up on a call that lands. count defaults to 1.
           Faults are used in the order they were armed (the first that takes a call has it).
           Answers 201 with the armed fault, which carries an `id`.

           Optional, to choose which calls: `operation` may also be a list of names or "*" (any);
           `services`: ["lambda", "dynamodb", "cloudwatch", "states", "events", "sqs"]; `match`: a
           text the call's path, query or body must contain (a function, alarm or deployment name);
           `callers`: ["sluice" (the Rust functions and CLI: aws-sdk-rust), "states" (the Step
           Functions interpreter's own calls, e.g. its lambda:invoke), "events" (EventBridge's
           deliveries), "harness" (everything else: tests, boto3)]; `skip`: let the first `skip`
           matching calls through (the fault then takes the next ones: "the 3rd UpdateAlias").

           A share instead of a count: `rate` (0 < rate <= 1) makes each matching call fail (or be
           held) with that probability, `count` then caps the injections (unbounded without it).
           Decisions are reproducible: call k of an operation on one resource (the function of a
           Lambda call, the `pk` of a DynamoDB item, the execution or task token of a Step
           Functions call, the alarm of a CloudWatch call) is hit when a hash of (seed, operation,
           resource, k) says so, whatever other calls interleave. `seed` defaults to 0. `errors`:
           a list of {"error", "status"?} to pick from per injection (seeded too), instead of one
           `error`.
    GET    {"armed": [{id, operation, remaining, error, status, delaySeconds, message, rate, ...,
            "hits"}, ...], "injected": {operation: number of calls the faults have hit so far},
            "errors": {error or "delay": number injected}}
    DELETE clears every armed fault and the counts; answers 204. DELETE ?id=ID disarms one fault
           (the counts stay).

A call's operation is resolved from the request as the SDKs send it:
- Lambda (REST JSON): method and path, against botocore's model of Lambda (GetAlias, UpdateAlias,
  CreateAlias, PublishVersion, GetFunctionConfiguration, Invoke, ...). The function in the path may
  be a name or a partial or full ARN, URL-encoded or not: the fault matches the operation, never
  the function (use `match` for that).
- awsJson 1.0/1.1 (DynamoDB, Step Functions, EventBridge, SQS): X-Amz-Target's operation
  (DynamoDB_20120810.PutItem -> PutItem, AWSStepFunctions.DescribeExecution, AWSEvents.PutEvents).
- CloudWatch's RPC-v2 CBOR: the operation in the path.
Other requests (the query protocol: IAM, CloudWatch's XML API) are never faulted.

Error shapes: Lambda: JSON {"Type": "User"|"Service", "message"} with x-amzn-ErrorType; awsJson:
{"__type": error, "message"} with the request's content type; CBOR: a CBOR map {"__type", "message"}
with smithy-protocol: rpc-v2-cbor. Each carries x-amzn-RequestId.

Faults.on_error listeners hear of each call answered with an injected error: an Invoke through an
alias answered with TooManyRequestsException is recorded as Lambda's Throttles (lambda_invoke)."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import botocore.session
import cbor2

from local_aws import FAULTS_PATH

from .cloudwatch_cbor import PREFIX as CBOR_PREFIX
from .endpoints import Endpoint

DEFAULT_STATUS = {
    "TooManyRequestsException": 429,
    "ServiceException": 500,
    "InternalServerError": 500,
    "InternalFailure": 500,
    "InternalServiceError": 500,
    "ServiceUnavailable": 503,
    "ServiceUnavailableException": 503,
}

SERVICES = ("lambda", "dynamodb", "cloudwatch", "states", "events", "sqs")
CALLERS = ("sluice", "states", "events", "harness")
# X-Amz-Target prefixes of the awsJson services.
JSON_SERVICES = {
    "DynamoDB_20120810": "dynamodb",
    "AWSStepFunctions": "states",
    "AWSEvents": "events",
    "AmazonSQS": "sqs",
}
# What EventBridge's deliveries to Lambda add to their User-Agent (events_to_lambda), so that a
# fault can tell them apart.
EVENTBRIDGE_AGENT = "sluice-local-eventbridge"
# moto's Step Functions interpreter signs its own calls (its lambda:invoke) with this access key.
INTERPRETER_ACCESS_KEY = "ak"


def caller_of(user_agent: str, authorization: str) -> str:
    """Who made a call: sluice (aws-sdk-rust), states (moto's interpreter), events (EventBridge's
    deliveries) or harness (anything else)."""
    if EVENTBRIDGE_AGENT in user_agent:
        return "events"
    if f"Credential={INTERPRETER_ACCESS_KEY}/" in authorization:
        return "states"
    if "aws-sdk-rust" in user_agent:
        return "sluice"
    return "harness"


@dataclass
class Fault:
    operation: str | list[str]  # a name, a list of names, or "*"
    remaining: int | None  # None: no cap (a rate fault without count)
    error: str | None
    status: int
    delaySeconds: float  # the endpoint's JSON name
    message: str
    id: str = ""
    rate: float | None = None
    seed: int | str = 0
    services: list[str] | None = None
    match: str | None = None
    callers: list[str] | None = None
    skip: int = 0
    errors: list[dict] | None = None
    hits: int = 0
    # Matching calls seen per (operation, resource): the k of the rate decision, and `skip`'s count.
    _seen: dict = field(default_factory=dict, repr=False)
    _matched: int = 0

    def public(self) -> dict:
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if not f.name.startswith("_")}

    def wants(self, call: Call) -> bool:
        ops = self.operation if isinstance(self.operation, list) else [self.operation]
        if "*" not in ops and call.operation not in ops:
            return False
        if self.services is not None and call.service not in self.services:
            return False
        if self.callers is not None and call.caller not in self.callers:
            return False
        return self.match is None or call.contains(self.match)

    def decide(self, call: Call) -> tuple[str | None, int] | None:
        """Whether this fault takes the call it wants, and with which (error, status); counts it."""
        self._matched += 1
        if self._matched <= self.skip:
            return None
        key = (call.operation, call.resource())
        k = self._seen.get(key, 0)
        self._seen[key] = k + 1
        draw = _draws(self.seed, call.operation, key[1], k)
        if self.rate is not None and next(draw) >= self.rate:
            return None
        if self.errors:
            choice = self.errors[int(next(draw) * len(self.errors)) % len(self.errors)]
            error = choice["error"]
            return error, choice.get("status") or DEFAULT_STATUS.get(error, 400)
        return self.error, self.status


def _draws(seed, operation: str, resource: str, k: int):
    """Uniform numbers in [0, 1) from (seed, operation, resource, k): the same for the same call."""
    digest = hashlib.sha256(f"{seed}|{operation}|{resource}|{k}".encode()).digest()
    for i in range(0, len(digest), 8):
        yield int.from_bytes(digest[i : i + 8], "big") / 2**64


class Call:
    """One AWS call as the fault route sees it."""

    def __init__(self, operation: str, service: str, protocol: str, caller: str, path: str, query: str, body: bytes):
        self.operation = operation
        self.service = service
        self.protocol = protocol
        self.caller = caller
        self.path = path
        self.query = query
        self.body = body
        self._resource = None

    def contains(self, text: str) -> bool:
        needle = text.encode()
        return needle in self.path.encode() or needle in self.query.encode() or needle in self.body

    def resource(self) -> str:
        """What the call is about, for reproducible rate decisions (best effort; "" when unknown)."""
        if self._resource is None:
            try:
                self._resource = self._find_resource()
            except Exception:
                self._resource = ""
        return self._resource

    def _find_resource(self) -> str:
        if self.service == "lambda":
            m = re.search(r"/functions/([^/]+)", self.path)
            name = m.group(1) if m else ""
            return name.split("function:")[-1].split(":")[0]
        if self.protocol == "json":
            doc = json.loads(self.body or b"{}")
            for key in ("Key", "Item"):
                pk = (doc.get(key) or {}).get("pk")
                if isinstance(pk, dict) and "S" in pk:
                    return pk["S"]
            for key in ("executionArn", "taskToken", "stateMachineArn", "TableName"):
                if isinstance(doc.get(key), str):
                    return doc[key]
            return ""
        if self.protocol == "cbor":
            doc = cbor2.loads(self.body) if self.body else {}
            names = doc.get("AlarmNames") or [doc.get("AlarmName") or doc.get("AlarmNamePrefix") or ""]
            return str(names[0])
        return ""


class Faults:
    """What is armed, and what was injected; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self._injected: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._listeners: list[Callable[[Call, Fault], None]] = []

    def on_error(self, listener: Callable[[Call, Fault], None]) -> None:
        """Calls listener(call, fault) for each call answered with an injected error, before the
        error is answered (lambda_invoke records a throttled Invoke as Lambda's Throttles)."""
        self._listeners.append(listener)

    def answered_with_error(self, call: Call, fault: Fault) -> None:
        for listener in self._listeners:
            listener(call, fault)

    def arm(self, spec: dict) -> Fault:
        operation = spec.get("operation")
        if isinstance(operation, list):
            if not operation or not all(isinstance(o, str) and o for o in operation):
                raise ValueError("operation must be an AWS operation name, a list of them, or *")
        elif not isinstance(operation, str) or not operation:
            raise ValueError("operation (an AWS operation name, e.g. UpdateAlias, a list, or *) is required")
        rate = spec.get("rate")
        if rate is not None and (
            not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 < float(rate) <= 1
        ):
            raise ValueError("rate must be a number in (0, 1]")
        count = spec.get("count", None if rate is not None else 1)
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise ValueError("count must be an integer >= 1")
        errors = spec.get("errors") or None
        if errors is not None:
            if not isinstance(errors, list) or not all(
                isinstance(e, dict) and isinstance(e.get("error"), str) for e in errors
            ):
                raise ValueError('errors must be a list of {"error": name, "status": code}')
            for e in errors:
                _check_status(e.get("status") or DEFAULT_STATUS.get(e["error"], 400))
        error = spec.get("error") or None
        delay = spec.get("delaySeconds", 0) or 0
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise ValueError("delaySeconds must be a number >= 0")
        if error is None and errors is None and delay <= 0:
            raise ValueError("a fault needs an error, or delaySeconds > 0")
        status = spec.get("status") or DEFAULT_STATUS.get(error or "", 400)
        _check_status(status)
        services = spec.get("services")
        if services is not None and (not isinstance(services, list) or not set(services) <= set(SERVICES)):
            raise ValueError(f"services must be a list of {', '.join(SERVICES)}")
        callers = spec.get("callers")
        if callers is not None and (not isinstance(callers, list) or not set(callers) <= set(CALLERS)):
            raise ValueError(f"callers must be a list of {', '.join(CALLERS)}")
        match = spec.get("match") or None
        if match is not None and not isinstance(match, str):
            raise ValueError("match must be a text")
        skip = spec.get("skip", 0) or 0
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise ValueError("skip must be an integer >= 0")
        seed = spec.get("seed", 0)
        if not isinstance(seed, (int, str)) or isinstance(seed, bool):
            raise ValueError("seed must be an integer or a text")
        what = error or ("one of " + ", ".join(e["error"] for e in errors) if errors else "delay")
        message = spec.get("message") or f"{what} injected by the local stack (POST {FAULTS_PATH})"
        fault = Fault(
            operation,
            count,
            error,
            status,
            float(delay),
            message,
            id=uuid.uuid4().hex[:12],
            rate=float(rate) if rate is not None else None,
            seed=seed,
            services=services,
            match=match,
            callers=callers,
            skip=skip,
            errors=errors,
        )
        with self._lock:
            self._armed.append(fault)
        return fault

    def take(self, call: Call) -> Fault | None:
        """The fault this call suffers, if one is armed (and counts it): a copy whose error and
        status are the ones chosen for this call."""
        with self._lock:
            for fault in self._armed:
                if fault.remaining is not None and fault.remaining <= 0:
                    continue
                if not fault.wants(call):
                    continue
                decided = fault.decide(call)
                if decided is None:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._armed.remove(fault)
                fault.hits += 1
                self._injected[call.operation] = self._injected.get(call.operation, 0) + 1
                error, status = decided
                self._errors[error or "delay"] = self._errors.get(error or "delay", 0) + 1
                return replace(fault, error=error, status=status)
        return None

    def any_armed(self) -> bool:
        with self._lock:
            return bool(self._armed)

    def needs_body(self) -> bool:
        """Whether deciding needs the call's body (a match, or a rate decision's resource)."""
        with self._lock:
            return any(f.match is not None or f.rate is not None for f in self._armed)

    def state(self) -> dict:
        with self._lock:
            return {
                "armed": [f.public() for f in self._armed],
                "injected": dict(self._injected),
                "errors": dict(self._errors),
            }

    def clear(self, fault_id: str | None = None) -> None:
        with self._lock:
            if fault_id is not None:
                self._armed = [f for f in self._armed if f.id != fault_id]
                return
            self._armed.clear()
            self._injected.clear()
            self._errors.clear()

    def endpoint(self) -> Endpoint:
        """FAULTS_PATH; DELETE ?id=ID disarms one fault."""
        return Endpoint(
            FAULTS_PATH,
            read=lambda _query: self.state(),
            arm=lambda spec: self.arm(spec).public(),
            disarm=lambda query: self.clear(query.get("id")),
        )


def _check_status(status) -> None:
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status (400-599)")


class LambdaRoutes:
    """Lambda's REST operations from botocore's model: (method, path regex, required query keys)."""

    def __init__(self):
        model = botocore.session.get_session().get_service_model("lambda")
        routes = []
        for name in model.operation_names:
            http = model.operation_model(name).http
            path, _, query = http["requestUri"].partition("?")
            required = [q.split("=")[0] for q in query.split("&") if q]
            literal = len(re.sub(r"\{[^}]+\}", "", path))
            pattern = "".join(
                "[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", path)
            )
            routes.append((http["method"], re.compile(f"^{pattern.rstrip('/')}/?$"), required, literal, name))
        # Most specific first: a query key required, then the most literal text.
        routes.sort(key=lambda r: (-len(r[2]), -r[3]))
        self.routes = routes

    def operation(self, method: str, path: str, query: str) -> str | None:
        keys = {q.split("=")[0] for q in query.split("&") if q}
        for m, regex, required, _, name in self.routes:
            if m == method and regex.match(path) and all(k in keys for k in required):
                return name
        return None


def _signing_service(environ) -> str | None:
    m = re.search(r"Credential=[^/,\s]+/[^/]+/[^/]+/([^/]+)/aws4_request", environ.get("HTTP_AUTHORIZATION", ""))
    return m.group(1) if m else None


class FaultRoute:
    """WSGI middleware: injects the faults armed (at FAULTS_PATH: Faults.endpoint) into the calls
    they name."""

    def __init__(self, app, faults: Faults):
        self.app = app
        self.faults = faults
        self.lambda_routes = LambdaRoutes()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not self.faults.any_armed():
            return self.app(environ, start_response)
        operation, protocol, service = self.resolve(environ)
        if not operation:
            return self.app(environ, start_response)
        body = b""
        if self.faults.needs_body():
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
        call = Call(
            operation,
            service,
            protocol,
            caller_of(environ.get("HTTP_USER_AGENT", ""), environ.get("HTTP_AUTHORIZATION", "")),
            urllib.parse.unquote(environ.get("RAW_URI") or environ.get("REQUEST_URI") or path),
            urllib.parse.unquote(environ.get("QUERY_STRING", "")),
            body,
        )
        fault = self.faults.take(call)
        if fault is None:
            return self.app(environ, start_response)
        if fault.delaySeconds > 0:
            time.sleep(fault.delaySeconds)
        if fault.error is None:
            return self.app(environ, start_response)
        self.faults.answered_with_error(call, fault)
        # Drain the request body, as a server answering the call would have read it.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)
        return self.error(environ, start_response, fault, protocol)

    def resolve(self, environ) -> tuple[str | None, str | None, str | None]:
        """(operation, protocol, service) of an AWS call; protocol is rest-json, json or cbor."""
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            prefix, _, op = target.rpartition(".")
            return op, "json", JSON_SERVICES.get(prefix, prefix.lower())
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "POST" and path.startswith(CBOR_PREFIX):
            return path[len(CBOR_PREFIX) :], "cbor", "cloudwatch"
        service = _signing_service(environ)
        if service in (None, "lambda") and re.match(r"^/\d{4}-\d{2}-\d{2}/", path):
            raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").split("?", 1)[0] or path
            op = self.lambda_routes.operation(environ.get("REQUEST_METHOD", ""), raw, environ.get("QUERY_STRING", ""))
            if op is None and raw != path:
                op = self.lambda_routes.operation(
                    environ.get("REQUEST_METHOD", ""), path, environ.get("QUERY_STRING", "")
                )
            return op, "rest-json", "lambda"
        return None, None, None

    @staticmethod
    def error(environ, start_response, fault: Fault, protocol: str | None):
        request_id = str(uuid.uuid4())
        if protocol == "cbor":
            body = cbor2.dumps({"__type": fault.error, "message": fault.message})
            headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
        elif protocol == "json":
            body = json.dumps({"__type": fault.error, "message": fault.message}).encode()
            headers = [("Content-Type", environ.get("CONTENT_TYPE") or "application/x-amz-json-1.0")]
        else:
            kind = "Service" if fault.status >= 500 else "User"
            body = json.dumps({"Type": kind, "message": fault.message}).encode()
            headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", fault.error)]
        headers += [("x-amzn-RequestId", request_id), ("Content-Length", str(len(body)))]
        start_response(f"{fault.status} {_reason(fault.status)}", headers)
        return [body]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
