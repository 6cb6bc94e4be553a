"""The shape every test endpoint of the launcher shares (a path it answers itself, not an AWS API):
GET returns what is armed and what happened, POST arms a control from a JSON object (201 with the
control; 400 with a message when the body is not an object or the control is refused with a
ValueError), DELETE disarms (204). The query string is passed to each as {name: first value}."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable

Query = dict[str, str]


def json_response(start_response, status: str, document) -> list[bytes]:
    out = json.dumps(document).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


def serve_controls(
    environ,
    start_response,
    state: Callable[[Query], object],
    arm: Callable[[dict], object],
    disarm: Callable[[Query], None],
) -> list[bytes]:
    """Answers one request to a test endpoint with `state`, `arm` and `disarm`."""
    query = {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}
    method = environ.get("REQUEST_METHOD")
    if method == "GET":
        return json_response(start_response, "200 OK", state(query))
    if method == "DELETE":
        disarm(query)
        start_response("204 No Content", [("Content-Length", "0")])
        return [b""]
    if method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            spec = json.loads(environ["wsgi.input"].read(length) if length else b"{}")
            if not isinstance(spec, dict):
                raise ValueError("the body must be a JSON object")
            armed = arm(spec)
        except ValueError as e:
            return json_response(start_response, "400 Bad Request", {"message": str(e)})
        return json_response(start_response, "201 Created", armed)
    return json_response(start_response, "405 Method Not Allowed", {"message": "GET, POST or DELETE"})
