"""What tests put into the local account besides sluice: the IAM role functions and state machines
run as, functions whose code is a workspace binary (served by cargo-lambda, see BINARY_VAR), the
metric alarms a deployment watches, and SQS queues to read what reached them. Each takes the boto3
client to use (a soak thread has its own).

No imports of moto: this runs in the pytest and demo processes."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

from local_aws import BINARY_VAR

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}


def create_role(iam, name: str = "sluice-local") -> str:
    """A role Lambda and Step Functions may assume (moto enforces no policy); returns its ARN."""
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]


def placeholder_zip() -> bytes:
    """A function's code as moto stores it: never run, cargo-lambda serves the binary."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", f"#!/bin/sh\n# served locally by cargo-lambda; see {BINARY_VAR}\n")
    return buf.getvalue()


def create_function(lam, role: str, name: str, binary: str, timeout: int = 30, memory: int = 128) -> str:
    """A function whose code is the workspace binary `binary`; returns its ARN."""
    out = lam.create_function(
        FunctionName=name,
        Runtime="provided.al2023",
        Handler="bootstrap",
        Role=role,
        Code={"ZipFile": placeholder_zip()},
        Timeout=timeout,
        MemorySize=memory,
        Environment={"Variables": {BINARY_VAR: binary}},
    )
    return out["FunctionArn"]


def set_code(lam, name: str, binary: str) -> None:
    """Changes which binary the function's unpublished code is, as a code update would; its
    other environment variables stay."""
    variables = (lam.get_function_configuration(FunctionName=name).get("Environment") or {}).get("Variables") or {}
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {**variables, BINARY_VAR: binary}})


def create_alarm(
    cloudwatch,
    name: str | None = None,
    state: str | None = None,
    *,
    function: str | None = None,
    namespace: str = "Custom/Test",
    period: int = 60,
    threshold: float = 1,
    prefix: str = "errors",
    reason: str = "set by the test",
    **extra,
) -> str:
    """A metric alarm on Errors >= `threshold` (Sum over one `period`), named `name` (default:
    `prefix` and a random suffix); returns its name. With `function`: on the AWS/Lambda Errors of
    function:live, as a team would watch a deployment with; without: on a metric of `namespace` that
    nothing records, for a test to flip by hand. Set to `state` (SetAlarmState, for `reason`) when
    given; `extra` adds PutMetricAlarm arguments."""
    name = name or f"{prefix}-{uuid.uuid4().hex[:8]}"
    if function is not None:
        namespace = "AWS/Lambda"
        extra["Dimensions"] = [
            {"Name": "FunctionName", "Value": function},
            {"Name": "Resource", "Value": f"{function}:live"},
        ]
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName="Errors",
        Statistic="Sum",
        Period=period,
        EvaluationPeriods=1,
        Threshold=threshold,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        **extra,
    )
    if state is not None:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
    return name


def receive(sqs, url: str) -> list[dict]:
    """Every message waiting in the queue at `url`, its body parsed, oldest first; they are deleted."""
    out = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


class Queue:
    """An SQS queue whose messages a test reads; with `pattern`, also an EventBridge rule of the
    default bus sending it every event the pattern matches (as EventBridge delivered it)."""

    def __init__(self, sqs, events=None, pattern: dict | None = None, prefix: str = "queue"):
        self.sqs = sqs
        self.events = events
        self.name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.url = sqs.create_queue(QueueName=self.name)["QueueUrl"]
        self.arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.rule = None
        if pattern is not None:
            self.rule = self.name
            events.put_rule(Name=self.rule, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=self.rule, Targets=[{"Id": "q", "Arn": self.arn}])

    def receive(self) -> list[dict]:
        return receive(self.sqs, self.url)

    def close(self) -> None:
        """Removes the rule, if any (the queue stays, with what it holds)."""
        if self.rule is not None:
            self.events.remove_targets(Rule=self.rule, Ids=["q"])
            self.events.delete_rule(Name=self.rule)
