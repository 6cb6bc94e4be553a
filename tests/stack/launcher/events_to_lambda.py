"""Patch 7. moto's EventBridge delivers a matching event to log groups, SQS queues, archives, buses
and API destinations only; a Lambda function target makes its put_events raise NotImplementedError.
EventBridge invokes a Lambda target asynchronously: PutEvents does not wait for the function. Here
each Lambda target of an ENABLED rule whose pattern (moto's own matching) the event matches is
invoked from a background thread with Lambda's Invoke API (InvocationType Event) on this server,
as EventBridge calls it: moto's Invoke handler and lambda_invoke run the real binary, honour an
alias or version qualifier in the target ARN, and faults armed for Invoke apply. The payload is the event in
AWS's shape ({"version": "0", "id", "detail-type", "source", "account", "time": ISO 8601 Z,
"region", "resources", "detail"}), or what the target's Input, InputPath or InputTransformer makes
of it. A delivery that fails (no such function, a function error, no binary) is logged to stderr.

Every delivery, with what the function answered, is recorded and served as JSON at
LAMBDA_DELIVERIES_PATH (a test endpoint, not an AWS API): an asynchronous invoke returns nothing to
its caller, so this is how a test sees that the function ran and with which payload. Each attempt
is one entry (`attempt` counts them per event and target).

Retries, as AWS makes them (their waits scaled like Wait states, see time_scale):
- EventBridge retries a delivery whose Invoke call fails with a throttle (429) or a service error
  (5xx) or does not connect, with exponential backoff and jitter (2^n s, at most 60 s between
  attempts), until the target's RetryPolicy runs out (MaximumRetryAttempts, default 185;
  MaximumEventAgeInSeconds, default 24 h); other errors (no such function) are not retried.
- Lambda retries an asynchronous invocation whose function fails (X-Amz-Function-Error) one
  minute and then two minutes later, as many times as the function's asynchronous configuration
  for the target's qualifier says (lambda_async: MaximumRetryAttempts, default 2), unless the event
  would then be older than its MaximumEventAgeInSeconds (default 6 hours; the age counts from the
  first invocation Lambda accepted). An event that fails its last attempt, or that grows too old
  for another, has Lambda's invocation record (RetriesExhausted or EventAgeExceeded) sent to the
  OnFailure destination when one is configured; one that succeeds, to the OnSuccess destination.
  The last attempt's journal entry says so: `destination` = {"condition", "destination" (its
  ARN), "messageId" or "error", "record"}.

Rules with a ScheduleExpression are events_schedule's: deliver_to_targets is how it hands a
scheduled event to a rule's targets, Lambda ones through the same path and retries.
Not modelled: the rule's DeadLetterConfig."""

from __future__ import annotations

import datetime
import json
import os
import random
import sys
import threading
import time

import boto3
import botocore.config
from moto.events.models import Rule
from moto.events.utils import EventTemplateParser

from local_aws import LAMBDA_DELIVERIES_PATH, REGION

from . import lambda_async
from .endpoints import Endpoint
from .faults import EVENTBRIDGE_AGENT

_deliveries: list[dict] = []
_lock = threading.Lock()


def deliveries(rule: str | None = None) -> list[dict]:
    """Every delivery, or those of rules whose ARN contains `rule` (filtered here: a long session's
    deliveries carry every execution's status event, too many to send for each poll)."""
    with _lock:
        # Copies: an entry gains its `destination` after it is listed.
        return [dict(d) for d in _deliveries if rule is None or rule in d["rule"]]


def _record(entry: dict) -> None:
    with _lock:
        _deliveries.append(entry)


def is_lambda_target(arn: str) -> bool:
    """arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]"""
    parts = arn.split(":")
    return len(parts) in (7, 8) and parts[2] == "lambda" and parts[5] == "function"


def aws_time(value) -> str:
    """EventBridge's `time`: ISO 8601 UTC to the second, with Z. moto keeps epoch seconds."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value  # already a date
    t = datetime.datetime.fromtimestamp(float(value), tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def aws_event(event: dict) -> dict:
    """moto's internal event message as EventBridge hands it to a target."""
    return {
        "version": "0",
        "id": event["id"],
        "detail-type": event["detail-type"],
        "source": event["source"],
        "account": event["account"],
        "time": aws_time(event["time"]),
        "region": event["region"],
        "resources": list(event.get("resources") or []),
        "detail": event["detail"],
    }


def payload_for(target: dict, event: dict, ingestion_time) -> str:
    """The target's input: constant Input, the InputPath's value, the InputTransformer's output,
    or else the whole event."""
    if target.get("Input") is not None:
        return target["Input"]
    if target.get("InputPath"):
        from jsonpath_ng.ext import parse

        found = parse(target["InputPath"]).find(event)
        return json.dumps(found[0].value if found else None)
    transformer = target.get("InputTransformer")
    if transformer:
        rendered = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event={**event, "ingestion-time": ingestion_time},
        )
        return json.dumps(rendered)
    return json.dumps(event)


def _parsed(payload: str):
    try:
        return json.loads(payload)
    except ValueError:
        return payload


_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def _lambda_client(region: str):
    """A Lambda client of this server: EventBridge calls Lambda's Invoke API like any caller, so a
    delivery goes through moto's Invoke handler, lambda_invoke and armed faults alike."""
    with _clients_lock:
        if region not in _clients:
            _clients[region] = boto3.client(
                "lambda",
                endpoint_url=f"http://127.0.0.1:{os.environ['MOTO_PORT']}",
                region_name=region,
                # EventBridge's retries are its own, not an SDK's; the function may run 15 minutes.
                config=botocore.config.Config(
                    retries={"total_max_attempts": 1},
                    read_timeout=900,
                    connect_timeout=10,
                    user_agent_extra=EVENTBRIDGE_AGENT,
                ),
            )
        return _clients[region]


# Waits between attempts are multiplied by this (launcher's --time-scale).
_time_scale = 1.0
# Lambda's waits before its retries of a function error: 1 min, then 2 min.
FUNCTION_ERROR_RETRIES = (60, 120)


def _invoke_once(rule_arn: str, target: dict, payload: str, event_id: str, attempt: int) -> dict:
    arn = target["Arn"]
    entry = {
        "rule": rule_arn,
        "targetId": target.get("Id"),
        "target": arn,
        "eventId": event_id,
        "payload": _parsed(payload),
        "attempt": attempt,
        "at": time.time(),
    }
    try:
        # The qualifier (alias or version) stays in the ARN, as EventBridge passes it.
        out = _lambda_client(arn.split(":")[3]).invoke(FunctionName=arn, InvocationType="Event", Payload=payload)
        text = out["Payload"].read().decode(errors="replace")
        entry["statusCode"] = out.get("StatusCode")
        entry["executedVersion"] = out.get("ExecutedVersion")
        entry["functionError"] = out.get("FunctionError")
        entry["response"] = text
        if entry["functionError"]:
            print(f"events_to_lambda: {arn} failed on event {event_id}: {text[:500]}", file=sys.stderr, flush=True)
    except Exception as e:  # a delivery never takes the server down
        entry["error"] = f"{type(e).__name__}: {e}"
        status = getattr(e, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        entry["errorStatus"] = status
        # Throttles, service errors and connection failures are worth another try; the rest is not.
        entry["retryable"] = status is None or status == 429 or status >= 500
        print(f"events_to_lambda: could not invoke {arn} for event {event_id}: {e!r}", file=sys.stderr, flush=True)
    entry["finishedAt"] = time.time()
    _record(entry)
    return entry


def _to_destination(entry: dict, destination: str | None, condition: str, invocation: dict) -> None:
    """Lambda's invocation record of the event, after its last attempt (`entry`), sent to the
    destination configured for that outcome, if any; the entry notes what became of it."""
    if destination is None:
        return
    record = lambda_async.invocation_record(
        entry["target"],
        invocation["requestId"],
        condition,
        invocation["count"],
        entry["payload"],
        entry.get("executedVersion"),
        entry.get("functionError"),
        _parsed(entry.get("response") or "null"),
    )
    noted = {"condition": condition, "destination": destination, "record": record}
    try:
        noted["messageId"] = lambda_async.send_record(destination, record)
    except Exception as e:  # Lambda counts a destination it cannot reach (DestinationDeliveryFailures)
        noted["error"] = f"{type(e).__name__}: {e}"
        print(f"events_to_lambda: record of event {entry['eventId']} not sent: {e!r}", file=sys.stderr, flush=True)
    with _lock:
        entry["destination"] = noted


def _invoke(rule_arn: str, target: dict, payload: str, event_id: str) -> None:
    policy = target.get("RetryPolicy") or {}
    max_retries = int(policy.get("MaximumRetryAttempts", 185))
    max_age = float(policy.get("MaximumEventAgeInSeconds", 86400))
    first = time.time()
    attempt, delivery_retries = 1, 0
    # Lambda's side: the asynchronous configuration of the target, the invocation once it queued it.
    config = lambda_async.settings(target["Arn"])
    invocation = {"requestId": lambda_async.new_request_id(), "count": 0, "queuedAt": None}
    while True:
        entry = _invoke_once(rule_arn, target, payload, event_id, attempt)
        if "error" in entry:
            wait = min(60.0, 2.0**delivery_retries) * random.uniform(0.5, 1.0)
            age = (time.time() - first) / _time_scale + wait
            if not entry["retryable"] or delivery_retries >= max_retries or age > max_age:
                return
            delivery_retries += 1
        else:
            invocation["count"] += 1
            invocation["queuedAt"] = invocation["queuedAt"] or entry["at"]
            if not entry.get("functionError"):
                _to_destination(entry, config["onSuccess"], "Success", invocation)
                return
            retries = invocation["count"] - 1
            if retries >= min(config["retries"], len(FUNCTION_ERROR_RETRIES)):
                _to_destination(entry, config["onFailure"], "RetriesExhausted", invocation)
                return
            wait = FUNCTION_ERROR_RETRIES[retries]
            if (time.time() - invocation["queuedAt"]) / _time_scale + wait > config["maxAge"]:
                _to_destination(entry, config["onFailure"], "EventAgeExceeded", invocation)
                return
        time.sleep(wait * _time_scale)
        attempt += 1


class _RuleWithTargets:
    """A rule as moto's send_to_targets reads it, with only the given targets."""

    def __init__(self, rule: Rule, targets: list[dict]):
        self._rule = rule
        self.targets = targets

    def __getattr__(self, name):
        return getattr(self._rule, name)


# moto's own Rule.send_to_targets, for the targets that are not Lambda functions.
_moto_send_to_targets = Rule.send_to_targets


def _start_lambda_deliveries(rule, lambdas: list[dict], original_event: dict, transform_input: bool) -> None:
    event = aws_event(original_event)
    for target in lambdas:
        payload = (
            payload_for(target, event, original_event.get("ingestion-time")) if transform_input else json.dumps(event)
        )
        threading.Thread(
            target=_invoke,
            args=(rule.arn, target, payload, event["id"]),
            name=f"event-to-{target.get('Id')}",
            daemon=True,
        ).start()


def deliver_to_targets(rule, original_event: dict) -> None:
    """The event, which the caller decided this rule sends (a scheduled event), to each of its
    targets: Lambda ones asynchronously with the retries above, others as moto sends them."""
    lambdas = [t for t in rule.targets if is_lambda_target(t.get("Arn", ""))]
    others = [t for t in rule.targets if not is_lambda_target(t.get("Arn", ""))]
    _start_lambda_deliveries(rule, lambdas, original_event, True)
    if others:
        _moto_send_to_targets(_RuleWithTargets(rule, others), original_event, True)


def deliver_events_to_lambda(time_scale: float = 1.0) -> None:
    global _time_scale
    _time_scale = time_scale
    # Creating a boto3 client loads Lambda's model (about 0.3 s): done now, in the background, so that
    # the first delivery is as quick as the next ones.
    threading.Thread(target=_lambda_client, args=(REGION,), name="lambda-client", daemon=True).start()

    def send_to_targets(self, original_event, transform_input=True):
        lambdas = [t for t in self.targets if is_lambda_target(t.get("Arn", ""))]
        if not lambdas:
            return _moto_send_to_targets(self, original_event, transform_input)
        others = [t for t in self.targets if not is_lambda_target(t.get("Arn", ""))]
        if self.state == "ENABLED" and self.event_pattern.matches_event(original_event):
            _start_lambda_deliveries(self, lambdas, original_event, transform_input)
        if others:
            _moto_send_to_targets(_RuleWithTargets(self, others), original_event, transform_input)

    Rule.send_to_targets = send_to_targets


# GET ?rule=TEXT: the deliveries of the rules whose ARN contains TEXT.
ENDPOINT = Endpoint(LAMBDA_DELIVERIES_PATH, read=lambda query: deliveries(query.get("rule")))
