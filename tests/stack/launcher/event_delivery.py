"""What alarm_events and sfn_status_events share: an event AWS puts on the default bus of its account
and region ("at least once"), every such event listed with what became of it, and the test controls
that make the delivery misbehave as "at least once" allows.

A control, armed from {"action": "drop" | "duplicate" | "delay", "count": 1, FILTER: value
(optional, each filter the emitter names), "delaySeconds": D (delay only)}, applies to each of the
next `count` events its filters match: the event is dropped (never reaches the bus), delivered twice
(same event id, back to back) or delivered D seconds late. Controls are used in the order they were
armed, one per event; an armed control is listed as {action, remaining, FILTER..., delaySeconds}.

Each event is listed as {id, ...what the emitter records of it, emittedAt (epoch s), action
("deliver", "drop", "duplicate" or "delay"), delaySeconds, dropped, delivered (put on the bus at
least once), deliveries (epoch s of each)}."""

from __future__ import annotations

import copy
import sys
import threading
import time
import uuid
from collections.abc import Callable

from moto.core.utils import unix_time
from moto.events.models import events_backends

ACTIONS = ("drop", "duplicate", "delay")

# A filter's check of the value a control names (None: the control matches any); raises ValueError.
Check = Callable[[object], None]


def aws_event(source: str, detail_type: str, account: str, region: str, resource: str, detail: dict) -> dict:
    """A new event in the shape AWS services put on a bus (`time` in epoch seconds until delivered)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": unix_time(),
        "region": region,
        "resources": [resource],
        "detail": detail,
    }


class EventDelivery:
    """The events one emitter put on the bus, and the controls armed for its next ones; thread-safe."""

    def __init__(self, emitter: str, filters: dict[str, Check]):
        self.emitter = emitter  # names the emitter in what it logs
        self.filters = filters
        self._lock = threading.Lock()
        self._controls: list[dict] = []
        self._events: list[dict] = []

    def arm(self, spec: dict) -> dict:
        action = spec.get("action")
        if action not in ACTIONS:
            raise ValueError("action must be drop, duplicate or delay")
        count = spec.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be an integer >= 1")
        control: dict = {"action": action, "remaining": count}
        for key, check in self.filters.items():
            value = spec.get(key) or None
            if value is not None:
                check(value)
            control[key] = value
        delay = spec.get("delaySeconds", 0) or 0
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise ValueError("delaySeconds must be a number >= 0")
        if action == "delay" and delay <= 0:
            raise ValueError("a delay needs delaySeconds > 0")
        control["delaySeconds"] = float(delay) if action == "delay" else 0.0
        with self._lock:
            self._controls.append(control)
        return dict(control)

    def disarm(self) -> None:
        with self._lock:
            self._controls.clear()

    def state(self, **where: str | None) -> dict:
        """{"events": every event listed (those whose fields equal `where`'s values, None: any),
        oldest first, "armed": the controls}."""
        with self._lock:
            events = [e for e in self._events if all(v is None or e[k] == v for k, v in where.items())]
            return {"events": copy.deepcopy(events), "armed": [dict(c) for c in self._controls]}

    def _take(self, event: dict[str, str]) -> dict | None:
        """The control this event (its value of each filter) suffers, if one is armed; counts it."""
        with self._lock:
            for control in self._controls:
                if control["remaining"] > 0 and all(control[k] in (None, event[k]) for k in self.filters):
                    control["remaining"] -= 1
                    if control["remaining"] == 0:
                        self._controls.remove(control)
                    return dict(control)
        return None

    def emit(self, message: dict, match: dict[str, str], record: dict, label: str) -> None:
        """Lists the event `message` (with `record`, what the emitter says of it) and delivers it as
        the first control that `match` (its value of each filter) meets says. `label` names the
        event in what is logged when it cannot be put on the bus."""
        control = self._take(match)
        action = control["action"] if control else "deliver"
        listed = {
            "id": message["id"],
            **record,
            "emittedAt": time.time(),
            "action": action,
            "delaySeconds": control["delaySeconds"] if control else 0.0,
            "dropped": action == "drop",
            "delivered": False,
            "deliveries": [],
        }
        with self._lock:
            self._events.append(listed)
        if action == "drop":
            return
        if action == "delay":
            timer = threading.Timer(listed["delaySeconds"], self._route, args=(message, listed, label))
            timer.daemon = True
            timer.start()
            return
        self._route(message, listed, label)
        if action == "duplicate":
            self._route(message, listed, label)

    def _route(self, message: dict, listed: dict, label: str) -> None:
        """Puts the event on the default bus: every rule matches it and sends it to its targets, as
        moto's put_events does, but with the event's own id (a duplicate keeps it)."""
        try:
            bus = events_backends[message["account"]][message["region"]].describe_event_bus("default")
            for rule in list(bus.rules.values()):
                msg = copy.deepcopy(message)
                msg["ingestion-time"] = unix_time()
                rule.send_to_targets(msg)
        except Exception as e:  # an event that cannot be put never breaks what emitted it
            print(f"{self.emitter}: {label}: {e!r}", file=sys.stderr, flush=True)
            listed.setdefault("errors", []).append(repr(e))
            return
        with self._lock:
            listed["delivered"] = True
            listed["deliveries"].append(time.time())
