"""Live traffic on a function's alias, for tests and the demo: a background thread invokes
function:alias at a steady rate, as clients would, and counts what each version answered.

    with Traffic(stack, "orders", "live", per_second=10, payload={"order": 42}) as traffic:
        ...  # a deployment shifts the alias
    traffic.by_version()  # {"1": {"calls": 52, "errors": 0}, "2": {"calls": 8, "errors": 8}}

Invokes are sent on a schedule (call k at start + k / per_second), not one pause after another, so
the rate does not drift with the time each invoke takes; a call that is more than a second late
(the stack stalled) is skipped and counted in `skipped`, instead of being sent in a burst. Each call
is one attempt (the client does not retry): a throttled invoke (429 TooManyRequestsException) is
counted in `throttled`, any other exception in `exceptions` (the last one in `last_exception`);
nothing raises out of the thread. One invoke at a time: the local stack's cargo-lambda runs one
instance of a function by default, so a rate above what one invoke's duration allows is not kept.

No imports of moto: this runs in the pytest and demo processes."""

from __future__ import annotations

import json
import threading
import time

import botocore.exceptions

# How late a call may be sent before it is skipped.
MAX_LATENESS = 1.0


class Traffic:
    def __init__(
        self,
        clients,
        function: str,
        alias: str = "live",
        per_second: float = 10.0,
        payload: bytes | str | dict = b"{}",
    ):
        """`clients`: the stack (processes.Clients: LocalStack or anything with .client()).
        `payload`: bytes, text, or an object sent as JSON."""
        if per_second <= 0:
            raise ValueError("per_second must be > 0")
        self.lam = clients.client("lambda", retries={"total_max_attempts": 1})
        self.function = function
        self.alias = alias
        self.per_second = float(per_second)
        if isinstance(payload, str):
            payload = payload.encode()
        self.payload = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self._lock = threading.Lock()
        self._versions: dict[str, dict[str, int]] = {}
        self.sent = 0  # invokes attempted
        self.throttled = 0
        self.exceptions = 0
        self.skipped = 0
        self.last_exception: str | None = None
        self.started_at: float | None = None  # time.monotonic()
        self.stopped_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"traffic-{function}-{alias}", daemon=True)

    # --- what was counted ---
    def by_version(self) -> dict[str, dict[str, int]]:
        """{executed version: {"calls": invokes it answered, "errors": of those, function errors}}"""
        with self._lock:
            return {v: dict(c) for v, c in self._versions.items()}

    @property
    def calls(self) -> int:
        """Invokes answered (by any version)."""
        return sum(c["calls"] for c in self.by_version().values())

    @property
    def errors(self) -> int:
        """Function errors (X-Amz-Function-Error), of any version."""
        return sum(c["errors"] for c in self.by_version().values())

    def rate(self) -> float:
        """Invokes attempted per second, from start to stop (or to now)."""
        if self.started_at is None:
            return 0.0
        elapsed = (self.stopped_at or time.monotonic()) - self.started_at
        return self.sent / elapsed if elapsed > 0 else 0.0

    # --- running ---
    def start(self) -> Traffic:
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        """Stops sending and waits for the call in flight; raises if it did not end in `timeout`."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"traffic on {self.function}:{self.alias} did not stop within {timeout}s")
        if self.stopped_at is None:
            self.stopped_at = time.monotonic()

    def __enter__(self) -> Traffic:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            due = self.started_at + k / self.per_second
            k += 1
            late = time.monotonic() - due
            if late > MAX_LATENESS:
                with self._lock:
                    self.skipped += 1
                continue
            if late < 0 and self._stop.wait(-late):
                break
            self._invoke_once()
        self.stopped_at = time.monotonic()

    def _invoke_once(self) -> None:
        with self._lock:
            self.sent += 1
        try:
            out = self.lam.invoke(FunctionName=self.function, Qualifier=self.alias, Payload=self.payload)
            out["Payload"].read()
            version = out.get("ExecutedVersion", "?")
            errored = "FunctionError" in out
            with self._lock:
                counts = self._versions.setdefault(version, {"calls": 0, "errors": 0})
                counts["calls"] += 1
                counts["errors"] += int(errored)
        except botocore.exceptions.ClientError as e:
            with self._lock:
                if e.response.get("Error", {}).get("Code") == "TooManyRequestsException":
                    self.throttled += 1
                else:
                    self.exceptions += 1
                    self.last_exception = repr(e)
        except Exception as e:  # never out of the thread
            with self._lock:
                self.exceptions += 1
                self.last_exception = repr(e)
