"""Patch 18. EventBridge schedule rules. moto 5.2.5 stores a rule's ScheduleExpression and never runs
it, accepts rates AWS refuses (`rate(1 minutes)`, `rate(0 minutes)`), and, worse, treats a rule
with a schedule and no pattern as matching every event put on the bus. On AWS:

- a rate expression is `rate(VALUE UNIT)`: VALUE a positive whole number, UNIT minute, hour or day,
  singular when VALUE is 1 and plural otherwise (`rate(1 hour)`, `rate(5 hours)`); anything else
  is a ValidationException "Parameter ScheduleExpression is not valid.", as moto answers it;
- the rule fires once a period, starting when it is created (the first time one period after);
- each time, its targets get the Scheduled Event, {"version": "0", "id", "detail-type":
  "Scheduled Event", "source": "aws.events", "account", "time", "region", "resources": [the rule's
  ARN], "detail": {}}, or what their Input, InputPath or InputTransformer makes of it;
- a scheduled rule matches no event on the bus.

Here a scheduler thread fires every ENABLED rule with a rate expression when its period is up (the
period scaled like Waits, see time_scale: `rate(5 minutes)` at 0.02 fires every 6 s), through
events_to_lambda.deliver_to_targets: Lambda targets are invoked asynchronously with EventBridge's
and Lambda's retries and journaled like every delivery (the deliveries journal is how a test sees
that a schedule fired: `rule` is the rule's ARN, the payload the event); other targets get it as
moto sends events to them. A rule disabled and enabled again, or given a new expression, starts
its period again from then.

`cron(...)` expressions are refused at PutRule (ValidationException, saying the local stack runs
rate expressions only): a wall-clock schedule has no meaning on a stack whose time is scaled."""

from __future__ import annotations

import re
import sys
import threading
import time
import uuid

from moto.core.utils import unix_time
from moto.events.exceptions import ValidationException
from moto.events.models import EventsBackend, Rule, events_backends

from .events_to_lambda import deliver_to_targets

SOURCE = "aws.events"
DETAIL_TYPE = "Scheduled Event"
UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
TICK = 0.05  # seconds between two looks at the rules


def rate_seconds(expression: str) -> int:
    """The period of a rate expression in seconds; ValueError when AWS would refuse it."""
    m = _RATE.fullmatch(expression.strip())
    if not m:
        raise ValueError(expression)
    value, unit = int(m.group(1)), m.group(2)
    if value < 1 or (value == 1) != (not unit.endswith("s")):
        raise ValueError(expression)
    return value * UNITS[unit.rstrip("s")]


def scheduled_event(rule) -> dict:
    """The Scheduled Event, as moto keeps events before delivery (`time` in epoch seconds)."""
    now = unix_time()
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": rule.account_id,
        "time": now,
        "region": rule.region_name,
        "resources": [rule.arn],
        "detail": {},
        "ingestion-time": now,
    }


def validate_schedules() -> None:
    original = EventsBackend.put_rule

    def put_rule(self, name, *args, **kwargs):
        expression = kwargs.get("scheduled_expression")
        if expression:
            if expression.strip().startswith("cron("):
                raise ValidationException(
                    "Parameter ScheduleExpression is not valid: the local stack runs rate(...) schedules only "
                    "(its time is scaled, so a wall-clock cron(...) schedule has no meaning here)."
                )
            try:
                rate_seconds(expression)
            except ValueError:
                raise ValidationException("Parameter ScheduleExpression is not valid.") from None
        return original(self, name, *args, **kwargs)

    EventsBackend.put_rule = put_rule

    # A scheduled rule without a pattern matches no event put on the bus (moto's empty pattern
    # matches all of them).
    send = Rule.send_to_targets

    def send_to_targets(self, original_event, transform_input=True):
        if self.scheduled_expression and not self.event_pattern.dump():
            return None
        return send(self, original_event, transform_input)

    Rule.send_to_targets = send_to_targets


class Scheduler:
    """Fires each ENABLED scheduled rule once a (scaled) period."""

    def __init__(self, scale: float):
        self.scale = scale
        # rule ARN -> (expression, when it fires next, epoch seconds)
        self.next: dict[str, tuple[str, float]] = {}

    def tick(self, now: float) -> None:
        seen = set()
        for account in list(events_backends.keys()):
            for region in list(events_backends[account].keys()):
                backend = events_backends[account][region]
                bus = backend.event_buses.get("default")
                if bus is None:
                    continue
                for rule in list(bus.rules.values()):
                    if rule.state != "ENABLED" or not rule.scheduled_expression:
                        continue
                    seen.add(rule.arn)
                    self._consider(rule, now)
        for arn in set(self.next) - seen:  # deleted, disabled or no longer scheduled
            del self.next[arn]

    def _consider(self, rule, now: float) -> None:
        expression = rule.scheduled_expression
        try:
            period = rate_seconds(expression) * self.scale
        except ValueError:
            return  # refused at PutRule; nothing else sets one
        known = self.next.get(rule.arn)
        if known is None or known[0] != expression:
            self.next[rule.arn] = (expression, now + period)
            return
        if now < known[1]:
            return
        # The next period counts from when this one was due, so the schedule does not drift.
        self.next[rule.arn] = (expression, max(known[1] + period, now))
        try:
            deliver_to_targets(rule, scheduled_event(rule))
        except Exception as e:  # one rule's targets never stop the others' schedules
            print(f"events_schedule: {rule.arn}: {e!r}", file=sys.stderr, flush=True)


def run_schedules(scale: float, stop: threading.Event) -> threading.Thread:
    """Applies the patch: schedules validated as AWS does, and fired."""
    validate_schedules()
    scheduler = Scheduler(scale)

    def loop():
        while not stop.wait(TICK):
            try:
                scheduler.tick(time.time())
            except Exception as e:  # never let the scheduler take the server down
                print(f"events_schedule: {e!r}", file=sys.stderr, flush=True)

    thread = threading.Thread(target=loop, name="event-schedules", daemon=True)
    thread.start()
    return thread
