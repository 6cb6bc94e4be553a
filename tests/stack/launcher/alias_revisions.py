"""Patch 3. moto's UpdateAlias ignores RevisionId, never changes an alias's RevisionId, and does
not check routing weights or that the weighted version exists. Lambda refuses a stale RevisionId
with PreconditionFailedException (HTTP 412), gives every update a new RevisionId, and validates
RoutingConfig (on CreateAlias too). sluice's conflict detection relies on all three. A conditional
update is atomic here, as on Lambda: two writers holding the same RevisionId cannot both land.
Every alias write that lands, CreateAlias or UpdateAlias, is recorded in the alias journal under
the function's name, however the caller named the function (name, partial or full ARN, URL-encoded:
see function_names), with who wrote it (`writer`: sluice, harness, ... as faults.caller_of tells
them apart; moments write "moment"); an UpdateAlias may be a moment's cue (moments.alias_written)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from urllib.parse import unquote

from moto.awslambda import responses as lambda_responses

from . import alias_journal, moments
from .faults import caller_of
from .function_names import bare

STALE_REVISION = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetAlias API to retrieve the latest Revision Id"
)


def error(status: int, code: str, message: str):
    """A Lambda error response as moto's handlers return them: (status, headers, body)."""
    body = json.dumps({"Type": "User", "Message": message, "__type": code})
    return status, {"status": status, "x-amzn-errortype": code}, body


# One alias write at a time: a RevisionId check and the write it allows are one step (moto's server
# is threaded). Re-entrant: a moment cued by a write may write the alias itself.
_writes = threading.RLock()


def path_function(path: str, back: int) -> str:
    """The function of an alias path, `back` segments from its end, in bare form."""
    return bare(path.split("?", 1)[0].rsplit("/")[-back])


def function_of(alias) -> str:
    """The alias's function name (its ARN is arn:...:function:NAME:ALIAS)."""
    return alias.arn.split(":")[6]


def routing_error(backend, function_name: str, main: str | None, routing: dict | None):
    """Lambda's refusal of a RoutingConfig, or None when it is valid."""
    weights = ((routing or {}).get("AdditionalVersionWeights")) or {}
    if len(weights) > 1:
        return error(400, "InvalidParameterValueException", "RoutingConfig can hold at most one additional version")
    for version, weight in weights.items():
        if not (0.0 <= float(weight) <= 1.0):
            return error(400, "ValidationException", f"weight {weight} is outside [0.0, 1.0]")
        try:
            backend.get_function(function_name, version)
        except Exception:
            return error(400, "InvalidParameterValueException", f"version {version} does not exist")
        if str(version) == str(main):
            return error(
                400, "InvalidParameterValueException", "the additional version must differ from the alias's version"
            )
    return None


def journal(operation: str, alias, expected: str | None, writer: str) -> None:
    alias_journal.record(
        {
            "operation": operation,
            "function": function_of(alias),
            "alias": alias.name,
            "version": alias.function_version,
            "weights": dict(((alias.routing_config or {}).get("AdditionalVersionWeights")) or {}),
            "revisionId": alias.revision_id,
            # The RevisionId the writer made its write conditional on (None: unconditional).
            "expectedRevisionId": expected,
            "at": time.time(),
            "writer": writer,
        }
    )


def writer_of(response) -> str:
    return caller_of(response.headers.get("User-Agent", ""), response.headers.get("Authorization", ""))


def enforce_alias_revisions() -> None:
    original_update = lambda_responses.LambdaResponse.update_alias
    original_create = lambda_responses.LambdaResponse.create_alias

    def update_alias(self):
        function_name = path_function(self.path, 3)
        alias_name = unquote(self.path.split("?", 1)[0].rsplit("/", 2)[-1])
        params = json.loads(self.body or "{}")
        with _writes:
            try:
                alias = self.backend.get_alias(alias_name, function_name)
            except Exception:
                # moto's own handler answers a missing function or alias as Lambda would.
                return original_update(self)
            expected = params.get("RevisionId")
            if expected and expected != alias.revision_id:
                return error(412, "PreconditionFailedException", STALE_REVISION)
            main = params.get("FunctionVersion") or alias.function_version
            refused = routing_error(self.backend, function_name, main, params.get("RoutingConfig"))
            if refused:
                return refused
            result = original_update(self)
            alias.revision_id = str(uuid.uuid4())
            journal("UpdateAlias", alias, expected, writer_of(self))
            status, headers, _ = result
            answer = json.dumps(alias.to_json())  # this write's alias, whatever a moment does next
            moments.alias_written(function_name, alias_name)
        return status, headers, answer

    def create_alias(self):
        function_name = path_function(self.path, 2)
        params = json.loads(self.body or "{}")
        refused = routing_error(self.backend, function_name, params.get("FunctionVersion"), params.get("RoutingConfig"))
        if refused:
            return refused
        with _writes:
            result = original_create(self)
            status, _, _ = result
            if 200 <= int(status) < 300:
                journal("CreateAlias", self.backend.get_alias(params.get("Name"), function_name), None, writer_of(self))
        return result

    lambda_responses.LambdaResponse.update_alias = update_alias
    lambda_responses.LambdaResponse.create_alias = create_alias
