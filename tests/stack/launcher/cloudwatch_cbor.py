"""Patch 4. aws-sdk-cloudwatch >= 1.100 speaks Smithy RPC-v2 CBOR
(POST /service/GraniteServiceVersion20100801/operation/<Op>), which moto answers with 404.
moto does speak CloudWatch's JSON 1.0 protocol, so this WSGI middleware translates the request
CBOR -> JSON and the response JSON -> CBOR, timestamps and blobs included."""

from __future__ import annotations

import base64
import datetime
import io
import json

import botocore.session
import cbor2

PREFIX = "/service/GraniteServiceVersion20100801/operation/"


def _discard(_data) -> None:
    """The write() callable start_response returns; the bridge buffers the body instead."""


class CloudWatchCborBridge:
    def __init__(self, app):
        self.app = app
        # botocore's model of CloudWatch says which response members are timestamps and blobs.
        self.model = botocore.session.get_session().get_service_model("cloudwatch")

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or not path.startswith(PREFIX):
            return self.app(environ, start_response)
        op_name = path[len(PREFIX) :]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        request = cbor2.loads(raw) if raw else {}
        body = json.dumps(cbor_to_json(request)).encode()
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
            return _discard

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
                # An operation botocore does not know: pass the document through untyped.
                shape = None
            document = json_to_cbor(document, shape)
        out = cbor2.dumps(document)
        headers = [
            (k, v) for k, v in captured.get("headers", []) if k.lower() not in ("content-type", "content-length")
        ]
        headers += [
            ("Content-Type", "application/cbor"),
            ("Content-Length", str(len(out))),
            ("smithy-protocol", "rpc-v2-cbor"),
        ]
        start_response(status, headers)
        return [out]


def cbor_to_json(value):
    """A decoded CBOR request as the JSON protocol carries it: epoch-second timestamps, base64 blobs."""
    if isinstance(value, dict):
        return {k: cbor_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cbor_to_json(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        return float(value.value)
    return value


def json_to_cbor(value, shape):
    """A JSON response document as RPC-v2 CBOR types it, guided by botocore's output shape:
    timestamps as tag 1 epoch seconds, blobs as bytes, doubles as floats."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: json_to_cbor(v, shape.members.get(k)) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [json_to_cbor(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: json_to_cbor(v, shape.value) for k, v in value.items()}
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
