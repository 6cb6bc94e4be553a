"""The launcher's test endpoints: paths it answers itself (local_aws names them), not AWS APIs. One
WSGI middleware, Endpoints, answers them all in front of everything else the server answers; each
patch that has one describes it as an Endpoint.

Every endpoint has one shape: GET returns what is armed and what happened (or what was recorded) as
JSON; POST arms a control from a JSON object (201 with the control; 400 with a message when the body
is not an object or the control is refused with a ValueError); DELETE disarms (204). The query
string is passed to each as {name: first value}. An endpoint that arms nothing answers only GET."""

from __future__ import annotations

import copy
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Query = dict[str, str]


def json_response(start_response, status: str, document) -> list[bytes]:
    out = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


@dataclass(frozen=True)
class Endpoint:
    path: str
    read: Callable[[Query], object]  # GET
    arm: Callable[[dict], object] | None = None  # POST
    disarm: Callable[[Query], None] | None = None  # DELETE

    def serve(self, environ, start_response) -> list[bytes]:
        query = {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}
        method = environ.get("REQUEST_METHOD")
        if method == "GET":
            return json_response(start_response, "200 OK", self.read(query))
        if method == "DELETE" and self.disarm is not None:
            self.disarm(query)
            start_response("204 No Content", [("Content-Length", "0")])
            return [b""]
        if method == "POST" and self.arm is not None:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                spec = json.loads(environ["wsgi.input"].read(length) if length else b"{}")
                if not isinstance(spec, dict):
                    raise ValueError("the body must be a JSON object")
                armed = self.arm(spec)
            except ValueError as e:
                return json_response(start_response, "400 Bad Request", {"message": str(e)})
            return json_response(start_response, "201 Created", armed)
        allowed = "GET, POST or DELETE" if self.arm is not None else "GET"
        return json_response(start_response, "405 Method Not Allowed", {"message": allowed})


class Controls:
    """What an endpoint of one-shot controls keeps (function_faults, moments): the controls armed
    and what fired, under `lock`, which its owner holds while it counts a call against them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.armed: list[dict] = []
        self.fired: list[dict] = []

    def add(self, control: dict) -> dict:
        with self.lock:
            self.armed.append(control)
        return copy.deepcopy(control)

    def any_armed(self) -> bool:
        with self.lock:
            return bool(self.armed)

    def state(self) -> dict:
        with self.lock:
            return {"armed": copy.deepcopy(self.armed), "fired": copy.deepcopy(self.fired)}

    def clear(self) -> None:
        """Disarms every control and forgets what fired."""
        with self.lock:
            self.armed.clear()
            self.fired.clear()

    def endpoint(self, path: str, arm: Callable[[dict], dict]) -> Endpoint:
        return Endpoint(path, read=lambda _query: self.state(), arm=arm, disarm=lambda _query: self.clear())


class Endpoints:
    """WSGI middleware: answers each endpoint's path, and passes every other request on."""

    def __init__(self, app, endpoints: Iterable[Endpoint]):
        self.app = app
        self.endpoints = {e.path: e for e in endpoints}

    def __call__(self, environ, start_response):
        endpoint = self.endpoints.get(environ.get("PATH_INFO", ""))
        if endpoint is None:
            return self.app(environ, start_response)
        return endpoint.serve(environ, start_response)
