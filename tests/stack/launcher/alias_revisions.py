"""Patch 3. moto's UpdateAlias ignores RevisionId, never changes an alias's RevisionId, and does
not check routing weights or that the weighted version exists. Lambda refuses a stale RevisionId
with PreconditionFailedException (HTTP 412), gives every update a new RevisionId, and validates
RoutingConfig. sluice's conflict detection relies on all three. Each update that lands is
recorded in the alias journal, with who wrote it (`writer`: sluice, harness, ... as faults.caller_of
tells them apart; moments write "moment"), and may be a moment's cue (moments.alias_written)."""

from __future__ import annotations

import json
import threading
import time
import uuid

from moto.awslambda import responses as lambda_responses

from . import alias_journal, moments
from .faults import caller_of

STALE_REVISION = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetAlias API to retrieve the latest Revision Id"
)


def error(status: int, code: str, message: str):
    """A Lambda error response as moto's handlers return them: (status, headers, body)."""
    body = json.dumps({"Type": "User", "Message": message, "__type": code})
    return status, {"status": status, "x-amzn-errortype": code}, body


# Lambda checks the RevisionId and applies the update as one step: two writers that read the same
# revision cannot both land. moto's server is threaded, so the check and the update hold this lock.
_writes = threading.RLock()


def enforce_alias_revisions() -> None:
    original = lambda_responses.LambdaResponse.update_alias

    def update_alias(self):
        with _writes:
            return _update_alias(self)

    def _update_alias(self):
        function_name = self.path.rsplit("/")[-3]
        alias_name = self.path.rsplit("/", 2)[-1]
        params = json.loads(self.body or "{}")
        try:
            alias = self.backend.get_alias(alias_name, function_name)
        except Exception:
            # moto's own handler answers a missing function or alias as Lambda would.
            return original(self)
        expected = params.get("RevisionId")
        if expected and expected != alias.revision_id:
            return error(412, "PreconditionFailedException", STALE_REVISION)
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
                return error(
                    400, "InvalidParameterValueException", "the additional version must differ from the alias's version"
                )
        result = original(self)
        alias.revision_id = str(uuid.uuid4())
        alias_journal.record(
            {
                "function": function_name,
                "alias": alias_name,
                "version": alias.function_version,
                "weights": dict(((alias.routing_config or {}).get("AdditionalVersionWeights")) or {}),
                "revisionId": alias.revision_id,
                "at": time.time(),
                "writer": caller_of(self.headers.get("User-Agent", ""), self.headers.get("Authorization", "")),
            }
        )
        status, headers, _ = result
        answer = json.dumps(alias.to_json())  # this write's alias, whatever a moment does next
        moments.alias_written(function_name, alias_name)
        return status, headers, answer

    lambda_responses.LambdaResponse.update_alias = update_alias
