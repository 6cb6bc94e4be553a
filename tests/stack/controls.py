"""The local stack's test controls: thin clients of the launcher's test endpoints (paths it answers
itself, not AWS APIs; launcher/endpoints.py), one class per endpoint. Faults in AWS calls
(launcher/faults.py), functions that crash or time out and tasks that time out
(launcher/function_faults.py), things done at chosen moments (launcher/moments.py), the delivery of
alarm and status events (launcher/event_delivery.py), throttled function versions
(launcher/lambda_invoke.py), and the journals of alias writes and of EventBridge's deliveries to
Lambda.

Standard library only: this runs in the pytest and demo processes."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable

from local_aws import (
    ALARM_EVENTS_PATH,
    ALIAS_JOURNAL_PATH,
    FAULTS_PATH,
    FUNCTION_FAULTS_PATH,
    LAMBDA_DELIVERIES_PATH,
    MOMENTS_PATH,
    STATUS_EVENTS_PATH,
    THROTTLES_PATH,
)

# What AWS answers when it throttles a call, and when it fails one, per service (the error codes of
# each service's model; CloudWatch's 500 is its InternalServiceFault, code InternalServiceError).
THROTTLES = {
    "lambda": [{"error": "TooManyRequestsException", "status": 429}],
    "dynamodb": [
        {"error": "ThrottlingException", "status": 400},
        {"error": "ProvisionedThroughputExceededException", "status": 400},
    ],
    "cloudwatch": [{"error": "Throttling", "status": 400}],
    "states": [{"error": "ThrottlingException", "status": 400}],
}
SERVICE_ERRORS = {
    "lambda": [{"error": "ServiceException", "status": 500}],
    "dynamodb": [{"error": "InternalServerError", "status": 500}],
    "cloudwatch": [{"error": "InternalServiceError", "status": 500}],
    "states": [{"error": "InternalFailure", "status": 500}, {"error": "ServiceUnavailable", "status": 503}],
}


class EndpointClient:
    """One test endpoint of the launcher at `endpoint` (the stack's URL) + `path`."""

    def __init__(self, endpoint: str, path: str):
        self.url = f"{endpoint}{path}"

    def call(self, method: str = "GET", body: dict | None = None, **query: str | None):
        """The endpoint's JSON answer (None for none); `query` without its None values."""
        query = {k: v for k, v in query.items() if v is not None}
        url = f"{self.url}?{urllib.parse.urlencode(query)}" if query else self.url
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def arm(self, spec: dict) -> dict:
        return self.call("POST", spec)

    def clear(self, **query: str | None) -> None:
        self.call("DELETE", **query)


def present(**values) -> dict:
    """`values` without those that are None."""
    return {k: v for k, v in values.items() if v is not None}


class FaultControls:
    """Faults in the AWS calls the launcher answers (launcher/faults.py)."""

    def __init__(self, endpoint: str):
        self.endpoint = EndpointClient(endpoint, FAULTS_PATH)

    def inject(
        self,
        operation: str | list[str],
        count: int | None = None,
        error: str | None = None,
        status: int | None = None,
        delay_seconds: float = 0,
        message: str | None = None,
        *,
        rate: float | None = None,
        seed: int | str | None = None,
        services: list[str] | None = None,
        match: str | None = None,
        callers: list[str] | None = None,
        skip: int = 0,
        errors: list[dict] | None = None,
    ) -> dict:
        """The next `count` (default 1) calls of `operation` (e.g. "UpdateAlias", "PutItem",
        "DescribeExecution"; a list of them, or "*" for any), from any caller, are held
        `delay_seconds` and then fail with `error` (HTTP `status`), or, without `error`, answered
        normally after the delay. Returns the armed fault (with its `id`, for disarm).

        Which calls: `services` (lambda, dynamodb, cloudwatch, states, events), `match` (a text in
        the call's path or body: a function, alarm or deployment name), `callers` (sluice: the Rust
        functions; states: the Step Functions interpreter's own calls; events: EventBridge's
        deliveries; harness: the tests' own clients), `skip` (let that many matching calls through
        first). `rate`: a seeded share of the matching calls instead of the next ones (`count` then
        caps it; unbounded without); `errors`: [{"error", "status"}] to pick from per call. See
        launcher/faults.py."""
        spec = {
            "operation": operation,
            "delaySeconds": delay_seconds,
            **present(
                count=count,
                error=error,
                status=status,
                message=message,
                rate=rate,
                seed=seed,
                services=services,
                match=match,
                callers=callers,
                skip=skip or None,
                errors=errors,
            ),
        }
        return self.endpoint.arm(spec)

    def inject_rate(
        self,
        rate: float,
        seed: int | str = 0,
        services: tuple[str, ...] = ("lambda", "cloudwatch", "dynamodb", "states"),
        kinds: tuple[str, ...] = ("throttle", "5xx"),
        match: str | None = None,
        callers: list[str] | None = None,
    ) -> list[dict]:
        """A share `rate` of every call to `services` (any operation) answered with that service's
        throttling error or its 5xx, as AWS sends them (THROTTLES, SERVICE_ERRORS), decided by
        `seed`; `match` and `callers` as for inject (callers default to everything but the harness:
        the tests' own reads stay exact). One fault per service; returns them (their ids for
        disarm)."""
        armed = []
        for service in services:
            errors = (THROTTLES[service] if "throttle" in kinds else []) + (
                SERVICE_ERRORS[service] if "5xx" in kinds else []
            )
            armed.append(
                self.inject(
                    "*",
                    rate=rate,
                    seed=seed,
                    services=[service],
                    errors=errors,
                    match=match,
                    callers=callers or ["sluice", "states", "events"],
                )
            )
        return armed

    def disarm(self, fault_id: str) -> None:
        """Disarms one fault (what it injected stays counted)."""
        self.endpoint.clear(id=fault_id)

    def state(self) -> dict:
        """{"armed": [...], "injected": {operation: calls hit so far}, "errors": {error or "delay": n}}"""
        return self.endpoint.call()

    def clear(self) -> None:
        self.endpoint.clear()


class FunctionFaultControls:
    """Functions that crash or time out, tasks that time out (launcher/function_faults.py).
    `function_name` turns what a test names a function by into its name (sluice's logical ids)."""

    def __init__(self, endpoint: str, function_name: Callable[[str], str]):
        self.endpoint = EndpointClient(endpoint, FUNCTION_FAULTS_PATH)
        self.function_name = function_name

    def fail_invocation(
        self,
        function: str,
        kind: str = "crash",
        nth: int = 1,
        count: int = 1,
        deployment: str | None = None,
        when: str = "before",
        seconds: float | None = None,
        error_type: str | None = "",
    ) -> dict:
        """Invocations nth .. nth+count-1 of `function` (a name, or a sluice logical id such as
        "ShiftFunction"), of `deployment` only when given (the payload's deploymentId), fail as
        Lambda reports a `kind` of "crash" (Runtime.ExitError) or "timeout" (Sandbox.Timedout, held
        `seconds` first; error_type=None: an older runtime's timeout, Lambda.Unknown to Step
        Functions). `when`="after": the function runs first (its writes land), then its answer is
        lost."""
        spec = {
            "kind": kind,
            "function": self.function_name(function),
            "nth": nth,
            "count": count,
            "when": when,
            **present(deployment=deployment, seconds=seconds),
        }
        if error_type != "":
            spec["errorType"] = error_type
        return self.endpoint.arm(spec)

    def time_out_task(
        self, state: str, nth: int = 1, count: int = 1, deployment: str | None = None, seconds: float = 0.2
    ) -> dict:
        """The nth time an execution (named `deployment`, or any) enters Task state `state`, the task
        runs into its TimeoutSeconds after `seconds`: States.Timeout, while its invocation goes on."""
        spec = {"kind": "task-timeout", "state": state, "nth": nth, "count": count, "seconds": seconds}
        return self.endpoint.arm({**spec, **present(deployment=deployment)})

    def state(self) -> dict:
        """{"armed": [...], "fired": [{id, kind, function | state, deployment, invocation, at}]}"""
        return self.endpoint.call()

    def clear(self) -> None:
        self.endpoint.clear()


class ThrottleControls:
    """Invocations of a function version throttled as Lambda throttles them (launcher/lambda_invoke.py).
    `function_name` turns what a test names a function by into its name (sluice's logical ids)."""

    def __init__(self, endpoint: str, function_name: Callable[[str], str]):
        self.endpoint = EndpointClient(endpoint, THROTTLES_PATH)
        self.function_name = function_name

    def throttle(self, function: str, version: str, rate: float = 1.0) -> dict:
        """A share `rate` (0..1) of the invocations of `function`'s `version` from now on, through an
        alias or not, answered 429 TooManyRequestsException "Rate Exceeded." and recorded as
        Throttles (not Invocations): exactly floor(n x rate) of the next n, spread evenly. Arming a
        function and version again replaces its control."""
        return self.endpoint.arm({"function": self.function_name(function), "version": str(version), "rate": rate})

    def state(self) -> dict:
        """{"armed": [{id, function, version, rate, seen, throttled}], "fired": [{id, function,
        version, invocation, at}]}"""
        return self.endpoint.call()

    def clear(self) -> None:
        self.endpoint.clear()


class MomentControls:
    """Something done at a chosen moment (launcher/moments.py): `when` is after_alias_write(...) or
    on_state_entered(...)."""

    def __init__(self, endpoint: str):
        self.endpoint = EndpointClient(endpoint, MOMENTS_PATH)

    @staticmethod
    def after_alias_write(function: str, nth: int = 1, alias: str = "live") -> dict:
        """The moment right after the nth UpdateAlias on function:alias lands (before its caller
        hears back)."""
        return {"aliasWrite": {"function": function, "alias": alias, "nth": nth}}

    @staticmethod
    def on_state_entered(state: str, execution: str | None = None, nth: int = 1) -> dict:
        """The moment an execution (named `execution`, or any) enters `state` for the nth time."""
        return {"stateEntered": {"state": state, "nth": nth, **present(execution=execution)}}

    def at(self, when: dict, do: dict) -> dict:
        """Arms {"when": when, "do": do} (see launcher/moments.py); returns it with its id."""
        return self.endpoint.arm({"when": when, "do": do})

    def other_writer(
        self, when: dict, function: str, version: str, weights: dict | None = None, alias: str = "live"
    ) -> dict:
        """At `when`, someone else points function:alias at `version` (with `weights`), without a
        RevisionId, as a person or another tool would."""
        spec = {"function": function, "alias": alias, "version": version, "weights": weights or {}}
        return self.at(when, {"updateAlias": spec})

    def stop_at(
        self,
        when: dict,
        execution: str | None = None,
        error: str | None = None,
        cause: str | None = None,
        delay_seconds: float = 0,
    ) -> dict:
        """At `when`, StopExecution of `execution` (default: the one whose state was entered)."""
        spec = {"delaySeconds": delay_seconds, **present(execution=execution, error=error, cause=cause)}
        return self.at(when, {"stopExecution": spec})

    def alarm_at(self, when: dict, alarm: str, state: str = "ALARM", reason: str = "set at a moment") -> dict:
        """At `when`, SetAlarmState of `alarm` to `state`."""
        return self.at(when, {"setAlarmState": {"alarm": alarm, "state": state, "reason": reason}})

    def state(self) -> dict:
        """{"armed": [...], "fired": [{id, when, do, at, result}]}"""
        return self.endpoint.call()

    def clear(self) -> None:
        self.endpoint.clear()


class EventControls:
    """The delivery of the events one emitter puts on the bus (launcher/event_delivery.py): each
    control applies to the next `count` events its filters match; controls are used in the order
    armed. Subclasses name the filters."""

    def __init__(self, endpoint: str, path: str):
        self.endpoint = EndpointClient(endpoint, path)

    def _arm(self, action: str, count: int, seconds: float = 0, **filters: str | None) -> dict:
        spec = {"action": action, "count": count, **present(**filters)}
        if seconds:
            spec["delaySeconds"] = seconds
        return self.endpoint.arm(spec)

    def _emitted(self, **query: str | None) -> list[dict]:
        return self.endpoint.call(**query)["events"]

    def armed(self) -> list[dict]:
        """The controls still armed: {action, remaining, filters..., delaySeconds}."""
        return self.endpoint.call()["armed"]

    def clear(self) -> None:
        """Disarms every control; the events emitted so far stay listed."""
        self.endpoint.clear()


class AlarmEventControls(EventControls):
    """CloudWatch's alarm state-change events (launcher/alarm_events.py), of `alarm` only when given."""

    def __init__(self, endpoint: str):
        super().__init__(endpoint, ALARM_EVENTS_PATH)

    def drop(self, count: int = 1, alarm: str | None = None) -> dict:
        """The next `count` alarm state-change events never reach EventBridge (listed as dropped)."""
        return self._arm("drop", count, alarm=alarm)

    def duplicate(self, count: int = 1, alarm: str | None = None) -> dict:
        """The next `count` alarm state-change events are delivered twice, with the same event id."""
        return self._arm("duplicate", count, alarm=alarm)

    def delay(self, seconds: float, count: int = 1, alarm: str | None = None) -> dict:
        """The next `count` alarm state-change events reach EventBridge `seconds` late."""
        return self._arm("delay", count, seconds, alarm=alarm)

    def emitted(self, alarm: str | None = None) -> list[dict]:
        """Every alarm state-change event the local CloudWatch emitted (of `alarm` only, when given),
        oldest first: {id, alarmName, alarmArn, state, previousState, emittedAt, action (deliver, drop,
        duplicate, delay), delaySeconds, dropped, delivered, deliveries (epoch seconds of each time it
        was put on the bus), event (as a target receives it)}."""
        return self._emitted(alarm=alarm)


class StatusEventControls(EventControls):
    """Step Functions' execution status-change events (launcher/sfn_status_events.py), of `execution`
    and `status` only when given."""

    def __init__(self, endpoint: str):
        super().__init__(endpoint, STATUS_EVENTS_PATH)

    def drop(self, count: int = 1, execution: str | None = None, status: str | None = None) -> dict:
        """The next `count` status events never reach EventBridge (listed as dropped)."""
        return self._arm("drop", count, execution=execution, status=status)

    def duplicate(self, count: int = 1, execution: str | None = None, status: str | None = None) -> dict:
        """The next `count` status events are delivered twice, with the same event id."""
        return self._arm("duplicate", count, execution=execution, status=status)

    def delay(self, seconds: float, count: int = 1, execution: str | None = None, status: str | None = None) -> dict:
        """The next `count` status events reach EventBridge `seconds` late."""
        return self._arm("delay", count, seconds, execution=execution, status=status)

    def emitted(self, execution: str | None = None) -> list[dict]:
        """Every status event Step Functions emitted (of `execution` only, when given), oldest
        first: {id, executionArn, name, status, emittedAt, action, delaySeconds, dropped,
        delivered, deliveries}."""
        return self._emitted(execution=execution)


class Journals:
    """What the launcher recorded that AWS keeps no readable record of."""

    def __init__(self, endpoint: str):
        self.alias_journal = EndpointClient(endpoint, ALIAS_JOURNAL_PATH)
        self.lambda_deliveries = EndpointClient(endpoint, LAMBDA_DELIVERIES_PATH)

    def aliases(self) -> list[dict]:
        """Every alias write that landed, in order: {operation (CreateAlias or UpdateAlias),
        function (the function's name, whatever form the caller used), alias, version, weights,
        revisionId, expectedRevisionId (what the write was conditional on, or None), at}."""
        return self.alias_journal.call()

    def deliveries(self, rule: str | None = None) -> list[dict]:
        """Every event EventBridge delivered to a Lambda target (of the rules whose ARN contains
        `rule`, when given), in the order the invokes ended: {rule, targetId, target, eventId,
        payload, executedVersion, functionError, response (the function's answer, a string), attempt
        (1, then each retry: EventBridge's and Lambda's), at, finishedAt}, or `error` when the
        invoke itself failed."""
        return self.lambda_deliveries.call(rule=rule)
