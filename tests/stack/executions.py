"""sluice's deployments as Step Functions executions: waiting for one to end, reading its history, a
callback task's token. Each takes the Step Functions client to use (a soak thread has its own).

No imports of moto: this runs in the pytest and demo processes."""

from __future__ import annotations

import json
import time


def wait(sfn, execution_arn: str, timeout: float = 120) -> dict:
    """DescribeExecution once the execution is no longer RUNNING."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        d = sfn.describe_execution(executionArn=execution_arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.1)
    raise TimeoutError(f"{execution_arn} still RUNNING after {timeout}s")


def history(sfn, execution_arn: str) -> list[dict]:
    """Every history event of the execution, oldest first."""
    events: list[dict] = []
    args = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**args)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        args["nextToken"] = page["nextToken"]


def task_token(sfn, execution_arn: str, state: str, key: str = "token", timeout: float = 10) -> str:
    """The task token the callback task `state` (`.waitForTaskToken`) passed its resource, read
    from the history: the value under `key` in its TaskScheduled parameters' Payload (or in the
    parameters themselves). Waits up to `timeout` seconds for the task to be scheduled; the last
    one, when the state ran more than once."""
    deadline = time.time() + timeout
    while True:
        events = history(sfn, execution_arn)
        entered = {e["id"] for e in events if e.get("stateEnteredEventDetails", {}).get("name") == state}
        tokens = []
        for e in events:
            if e["type"] == "TaskScheduled" and e["previousEventId"] in entered:
                parameters = json.loads(e["taskScheduledEventDetails"]["parameters"])
                payload = parameters.get("Payload")
                found = payload.get(key) if isinstance(payload, dict) else None
                tokens.append(found if found is not None else parameters.get(key))
        if tokens and tokens[-1] is not None:
            return tokens[-1]
        if time.time() >= deadline:
            raise TimeoutError(f"{state} of {execution_arn} scheduled no task with a {key!r} within {timeout}s")
        time.sleep(0.02)
