"""What every end-to-end scenario shares: running a deployment to its end (holding a FAILED one
to a plain-text cause), waiting for a condition, and the alias states as Lambda stores them."""

import json
import time

ON_V1 = ("1", {})
ON_V2 = ("2", {})
# What a raw Lambda error (or any JSON) in a cause looks like: a cause is written for people.
RAW_ERROR_MARKERS = ("errorType", "stackTrace", '{"')


def W(percent):
    """Version 2 at `percent` %, as Lambda stores an alias's weights."""
    return {"2": percent / 100}


def finish(stack, arn, timeout=120):
    """Waits for the execution to end; every scenario's execution ends here, so each FAILED one
    is checked for a plain-text cause."""
    d = stack.wait(arn, timeout)
    if d["status"] == "FAILED":
        cause = d.get("cause", "")
        raw = [m for m in RAW_ERROR_MARKERS if m in cause]
        assert not raw, f"{d.get('error')} cause is not plain text (contains {raw}): {cause}"
    return d


def run(stack, request, timeout=120):
    arn = stack.start_deployment(request)
    return arn, finish(stack, arn, timeout)


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def output(description) -> dict:
    return json.loads(description["output"])
