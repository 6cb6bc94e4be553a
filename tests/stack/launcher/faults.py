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
           Faults for one operation are used in the order they were armed. Answers 201 with the
           armed fault.
    GET    {"armed": [{operation, remaining, error, status, delaySeconds, message}, ...],
            "injected": {operation: number of calls the faults have hit so far}}
    DELETE clears every armed fault and the counts; answers 204.

A call's operation is resolved from the request as the SDKs send it:
- Lambda (REST JSON): method and path, against botocore's model of Lambda (GetAlias, UpdateAlias,
  CreateAlias, PublishVersion, GetFunctionConfiguration, Invoke, ...). The function in the path may
  be a name or a partial or full ARN, URL-encoded or not: the fault matches the operation, never
  the function.
- awsJson 1.0/1.1 (DynamoDB, Step Functions, EventBridge, SQS): X-Amz-Target's operation
  (DynamoDB_20120810.PutItem -> PutItem, AWSStepFunctions.DescribeExecution, AWSEvents.PutEvents).
- CloudWatch's RPC-v2 CBOR: the operation in the path.
Other requests (the query protocol: IAM, CloudWatch's XML API) are never faulted.

Error shapes: Lambda: JSON {"Type": "User"|"Service", "message"} with x-amzn-ErrorType; awsJson:
{"__type": error, "message"} with the request's content type; CBOR: a CBOR map {"__type", "message"}
with smithy-protocol: rpc-v2-cbor. Each carries x-amzn-RequestId."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass

import botocore.session
import cbor2

from local_aws import FAULTS_PATH

from .cloudwatch_cbor import PREFIX as CBOR_PREFIX

DEFAULT_STATUS = {
    "TooManyRequestsException": 429,
    "ServiceException": 500,
    "InternalServerError": 500,
    "InternalFailure": 500,
    "InternalServiceError": 500,
    "ServiceUnavailable": 503,
    "ServiceUnavailableException": 503,
}


@dataclass
class Fault:
    operation: str
    remaining: int
    error: str | None
    status: int
    delaySeconds: float  # the endpoint's JSON name
    message: str


class Faults:
    """What is armed, and what was injected; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._armed: list[Fault] = []
        self._injected: dict[str, int] = {}

    def arm(self, spec: dict) -> Fault:
        operation = spec.get("operation")
        if not isinstance(operation, str) or not operation:
            raise ValueError("operation (an AWS operation name, e.g. UpdateAlias) is required")
        count = spec.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be an integer >= 1")
        error = spec.get("error") or None
        delay = spec.get("delaySeconds", 0) or 0
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise ValueError("delaySeconds must be a number >= 0")
        if error is None and delay <= 0:
            raise ValueError("a fault needs an error, or delaySeconds > 0")
        status = spec.get("status") or DEFAULT_STATUS.get(error or "", 400)
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        message = spec.get("message") or f"{error or 'delay'} injected by the local stack (POST {FAULTS_PATH})"
        fault = Fault(operation, count, error, status, float(delay), message)
        with self._lock:
            self._armed.append(fault)
        return fault

    def take(self, operation: str) -> Fault | None:
        """The fault this call of `operation` suffers, if one is armed (and counts it)."""
        with self._lock:
            for fault in self._armed:
                if fault.operation == operation and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._armed.remove(fault)
                    self._injected[operation] = self._injected.get(operation, 0) + 1
                    return Fault(**asdict(fault))
        return None

    def any_armed(self) -> bool:
        with self._lock:
            return bool(self._armed)

    def state(self) -> dict:
        with self._lock:
            return {"armed": [asdict(f) for f in self._armed], "injected": dict(self._injected)}

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self._injected.clear()


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
    """WSGI middleware: serves FAULTS_PATH, and injects armed faults into the calls they name."""

    def __init__(self, app, faults: Faults | None = None):
        self.app = app
        self.faults = faults or Faults()
        self.lambda_routes = LambdaRoutes()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == FAULTS_PATH:
            return self.serve(environ, start_response)
        if not self.faults.any_armed():
            return self.app(environ, start_response)
        operation, protocol = self.resolve(environ)
        fault = self.faults.take(operation) if operation else None
        if fault is None:
            return self.app(environ, start_response)
        if fault.delaySeconds > 0:
            time.sleep(fault.delaySeconds)
        if fault.error is None:
            return self.app(environ, start_response)
        # Drain the request body, as a server answering the call would have read it.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)
        return self.error(environ, start_response, fault, protocol)

    def resolve(self, environ) -> tuple[str | None, str | None]:
        """(operation, protocol) of an AWS call; protocol is rest-json, json or cbor."""
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.rsplit(".", 1)[-1], "json"
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") == "POST" and path.startswith(CBOR_PREFIX):
            return path[len(CBOR_PREFIX) :], "cbor"
        service = _signing_service(environ)
        if service in (None, "lambda") and re.match(r"^/\d{4}-\d{2}-\d{2}/", path):
            raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").split("?", 1)[0] or path
            op = self.lambda_routes.operation(environ.get("REQUEST_METHOD", ""), raw, environ.get("QUERY_STRING", ""))
            if op is None and raw != path:
                op = self.lambda_routes.operation(
                    environ.get("REQUEST_METHOD", ""), path, environ.get("QUERY_STRING", "")
                )
            return op, "rest-json"
        return None, None

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

    def serve(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        if method == "GET":
            return _json(start_response, "200 OK", self.faults.state())
        if method == "DELETE":
            self.faults.clear()
            start_response("204 No Content", [("Content-Length", "0")])
            return [b""]
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                spec = json.loads(environ["wsgi.input"].read(length) if length else b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("the body must be a JSON object")
                fault = self.faults.arm(spec)
            except ValueError as e:
                return _json(start_response, "400 Bad Request", {"message": str(e)})
            return _json(start_response, "201 Created", asdict(fault))
        return _json(start_response, "405 Method Not Allowed", {"message": "GET, POST or DELETE"})


def _json(start_response, status: str, document) -> list[bytes]:
    out = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
