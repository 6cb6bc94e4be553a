"""Patch 19. Lambda's asynchronous invocation configuration, per function and qualifier, and the
records Lambda sends to its destinations. moto 5.2.5 stores PutFunctionEventInvokeConfig per
function only (its Qualifier is ignored), appends a second Put instead of replacing the first (Get
keeps answering the first), validates neither lower bound, and nothing ever reads the
configuration. Here, as AWS documents it:

- Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s) keep one configuration per function and
  qualifier (a version, an alias, or none: the unpublished $LATEST); the qualifier must exist.
  Put replaces the whole configuration (what it leaves out is removed), Update changes only what it
  names. MaximumRetryAttempts is 0-2, MaximumEventAgeInSeconds 60-21600; an answer is
  {FunctionArn (qualified), LastModified, MaximumRetryAttempts?, MaximumEventAgeInSeconds?,
  DestinationConfig: {OnSuccess: {Destination?}, OnFailure: {Destination?}}}. Get of none:
  ResourceNotFoundException.
- `settings(arn)` is what an asynchronous invocation of that function ARN (qualified or not) runs
  with: retries of a function error (default 2) and the event's maximum age (default 6 hours).
  events_to_lambda, which makes EventBridge's asynchronous invocations, follows them.
- `send_record(...)` sends Lambda's invocation record to the OnFailure destination (the event
  failed every attempt: condition RetriesExhausted, or grew too old for another: EventAgeExceeded)
  or the OnSuccess one (condition Success):

      {"version": "1.0", "timestamp": "2019-11-14T18:16:05.568Z",
       "requestContext": {"requestId", "functionArn" (with its qualifier, $LATEST when none),
                          "condition", "approximateInvokeCount"},
       "requestPayload": the event, "responseContext": {"statusCode": 200, "executedVersion",
       "functionError"? ("Unhandled")}, "responsePayload": what the function answered}

  A destination is a standard SQS queue here (the record is the message body, as Lambda sends it);
  Lambda's other destination kinds (SNS, S3, Lambda, EventBridge) are not delivered locally: the
  attempt is reported as an error to the caller, which journals it."""

from __future__ import annotations

import copy
import datetime
import json
import threading
import time
import uuid
from urllib.parse import unquote

from moto.awslambda.exceptions import UnknownEventConfig, ValidationException
from moto.awslambda.responses import LambdaResponse
from moto.sqs.models import sqs_backends

RETRIES = (0, 2)  # MaximumRetryAttempts
EVENT_AGE = (60, 21600)  # MaximumEventAgeInSeconds
DEFAULT_RETRIES = 2
DEFAULT_EVENT_AGE = 21600  # six hours
UNQUALIFIED = "$LATEST"

_lock = threading.Lock()
# (account, region, function name, qualifier) -> {"MaximumRetryAttempts"?, "MaximumEventAgeInSeconds"?,
# "DestinationConfig"?, "LastModified": epoch seconds}
_configs: dict[tuple[str, str, str, str], dict] = {}


# --- what an asynchronous invocation runs with ---------------------------------------------------
def split_function_arn(arn: str) -> tuple[str, str, str, str]:
    """arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] -> (account, region, name, qualifier)"""
    parts = arn.split(":")
    return parts[4], parts[3], parts[6], parts[7] if len(parts) == 8 else UNQUALIFIED


def qualified_arn(arn: str) -> str:
    """The function ARN with its qualifier ($LATEST when it has none), as an invocation record names it."""
    account, region, name, qualifier = split_function_arn(arn)
    return f"arn:aws:lambda:{region}:{account}:function:{name}:{qualifier}"


def settings(arn: str) -> dict:
    """{"retries", "maxAge" (seconds), "onSuccess", "onFailure" (destination ARNs or None)} of an
    asynchronous invocation of `arn`."""
    with _lock:
        config = copy.deepcopy(_configs.get(split_function_arn(arn)) or {})
    destinations = config.get("DestinationConfig") or {}
    return {
        "retries": int(config.get("MaximumRetryAttempts", DEFAULT_RETRIES)),
        "maxAge": int(config.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE)),
        "onSuccess": (destinations.get("OnSuccess") or {}).get("Destination") or None,
        "onFailure": (destinations.get("OnFailure") or {}).get("Destination") or None,
    }


def lambda_time(epoch: float) -> str:
    t = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def invocation_record(
    arn: str,
    request_id: str,
    condition: str,
    invoke_count: int,
    request_payload,
    executed_version: str | None,
    function_error: str | None,
    response_payload,
) -> dict:
    response_context = {"statusCode": 200, "executedVersion": executed_version or UNQUALIFIED}
    if function_error:
        response_context["functionError"] = function_error
    return {
        "version": "1.0",
        "timestamp": lambda_time(time.time()),
        "requestContext": {
            "requestId": request_id,
            "functionArn": qualified_arn(arn),
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": request_payload,
        "responseContext": response_context,
        "responsePayload": response_payload,
    }


def send_record(destination: str, record: dict) -> str:
    """Sends the record to the destination; returns the message id. Raises when it cannot."""
    parts = destination.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"the local stack delivers invocation records to SQS queues only, not {destination}")
    region, account, queue = parts[3], parts[4], parts[5]
    message = sqs_backends[account][region].send_message(queue, json.dumps(record))
    return message.id


# --- the configuration API ---------------------------------------------------------------------
def _validate(config: dict) -> dict:
    out = {}
    for key, (low, high) in (("MaximumRetryAttempts", RETRIES), ("MaximumEventAgeInSeconds", EVENT_AGE)):
        if config.get(key) is None:
            continue
        value = config[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            name = key[0].lower() + key[1:]
            raise ValidationException(value, name, f"Member must have value between {low} and {high}")
        out[key] = value
    destinations = config.get("DestinationConfig")
    if destinations is not None:
        out["DestinationConfig"] = {
            kind: {"Destination": d["Destination"]} if (d := destinations.get(kind) or {}).get("Destination") else {}
            for kind in ("OnSuccess", "OnFailure")
        }
    return out


def _answer(account: str, region: str, name: str, qualifier: str, config: dict) -> dict:
    out = {
        "FunctionArn": f"arn:aws:lambda:{region}:{account}:function:{name}:{qualifier}",
        "LastModified": config["LastModified"],
    }
    out.update({k: v for k, v in config.items() if k != "LastModified"})
    out.setdefault("DestinationConfig", {"OnSuccess": {}, "OnFailure": {}})
    return out


def _target(response: LambdaResponse, segments_after: int) -> tuple[tuple[str, str, str, str], str]:
    """The (account, region, name, qualifier) a call names, checked to exist, and its ARN."""
    name = unquote(response.path.split("?")[0].rstrip("/").split("/")[-1 - segments_after])
    qualifier = None
    if ":" in name:
        name, qualifier = name.split(":", 1)
    qualifier = (response.querystring.get("Qualifier") or [qualifier])[0] or UNQUALIFIED
    backend = response.backend
    if qualifier == UNQUALIFIED or qualifier.isdigit():
        backend.get_function(name, None if qualifier == UNQUALIFIED else qualifier)
    else:
        backend.get_function(name)
        backend.get_alias(qualifier, name)
    key = (backend.account_id, backend.region_name, name, qualifier)
    return key, f"arn:aws:lambda:{key[1]}:{key[0]}:function:{name}:{qualifier}"


def _json(status: int, document) -> tuple[int, dict, str]:
    return status, {"status": status, "Content-Type": "application/json"}, json.dumps(document)


def serve_event_invoke_configs() -> None:
    def put(self):
        key, _arn = _target(self, 1)
        config = {**_validate(self.json_body or {}), "LastModified": time.time()}
        with _lock:
            _configs[key] = config
        return _json(200, _answer(*key, config))

    def update(self):
        key, arn = _target(self, 1)
        changes = _validate(self.json_body or {})
        with _lock:
            if key not in _configs:
                raise UnknownEventConfig(arn)
            config = {**_configs[key], **changes, "LastModified": time.time()}
            _configs[key] = config
        return _json(200, _answer(*key, config))

    def get(self):
        key, arn = _target(self, 1)
        with _lock:
            config = copy.deepcopy(_configs.get(key))
        if config is None:
            raise UnknownEventConfig(arn)
        return _json(200, _answer(*key, config))

    def delete(self):
        key, arn = _target(self, 1)
        with _lock:
            if _configs.pop(key, None) is None:
                raise UnknownEventConfig(arn)
        return 204, {"status": 204}, ""

    def list_configs(self):
        (account, region, name, _q), _arn = _target(self, 2)
        with _lock:
            found = [(k, copy.deepcopy(c)) for k, c in _configs.items() if k[:3] == (account, region, name)]
        return _json(200, {"FunctionEventInvokeConfigs": [_answer(*k, c) for k, c in found]})

    LambdaResponse.put_function_event_invoke_config = put
    LambdaResponse.update_function_event_invoke_config = update
    LambdaResponse.get_function_event_invoke_config = get
    LambdaResponse.delete_function_event_invoke_config = delete
    LambdaResponse.list_function_event_invoke_configs = list_configs


def new_request_id() -> str:
    return str(uuid.uuid4())
