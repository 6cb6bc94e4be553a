"""pytest fixtures: one local stack for the whole session (see tests/stack/stack.py)."""

import os
import time
import urllib.request
import uuid

import cbor2
import pytest
import yaml

from processes import stop_on_signals  # tests/stack is on the path: see pytest.ini
from resources import create_alarm
from stack import LocalStack

# Waits and Retry intervals run 50x faster, so a real 5-minute canary bakes in 6 s.
TIME_SCALE = float(os.environ.get("SLUICE_TEST_TIME_SCALE", "0.02"))


def wait_until(fetch, timeout: float = 60, what: str = "condition", every: float = 0.05):
    """Polls fetch() every `every` seconds until it returns something truthy, and returns that;
    fails the test after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def aliased_function(stack, binary: str = "demo-ok", prefix: str = "fn") -> tuple[str, str]:
    """A function running the workspace binary `binary`, version 1 published and alias `live` on it;
    returns (name, alias ARN)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    stack.create_function(name, binary)
    stack.lam.publish_version(FunctionName=name)
    return name, stack.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")["AliasArn"]


def write_template(directory, resources: dict, outputs: dict | None = None):
    """A SAM template of `resources` (and `outputs`) written in `directory`, for deploy_template."""
    document = {"Transform": "AWS::Serverless-2016-10-31", "Resources": resources}
    if outputs:
        document["Outputs"] = {k: {"Value": v} for k, v in outputs.items()}
    path = directory / "template.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def function_resource(binary: str, **properties) -> dict:
    """An AWS::Serverless::Function of a template running the workspace binary `binary`."""
    return {
        "Type": "AWS::Serverless::Function",
        "Metadata": {"BuildProperties": {"Binary": binary}},
        "Properties": {"Runtime": "provided.al2023", "Handler": "bootstrap", "Timeout": 30, **properties},
    }


def cbor_call(stack, operation: str, body: dict) -> tuple[dict, dict]:
    """A CloudWatch operation in RPC-v2 CBOR, as aws-sdk-cloudwatch >= 1.100 sends it; returns the
    response's headers and its decoded document."""
    headers, raw = cbor_raw(stack, operation, body)
    return headers, cbor2.loads(raw) if raw else {}


def cbor_raw(stack, operation: str, body: dict) -> tuple[dict, bytes]:
    """cbor_call's request, answered as the response's headers and its raw bytes."""
    req = urllib.request.Request(
        f"{stack.endpoint}/service/GraniteServiceVersion20100801/operation/{operation}",
        data=cbor2.dumps(body),
        method="POST",
        headers={
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "smithy-protocol": "rpc-v2-cbor",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/monitoring/aws4_request, "
            "SignedHeaders=host, Signature=x",
        },
    )
    with urllib.request.urlopen(req) as r:
        return dict(r.headers), r.read()


@pytest.fixture(scope="session")
def stack():
    stop_on_signals()
    with LocalStack(time_scale=TIME_SCALE) as s:
        yield s


class App:
    """A demo function `name` with versions 1 and 2 (good unless the code is given), alias `live` on
    version 1."""

    def __init__(self, stack, name: str, v2_binary: str = "demo-ok", v1_binary: str = "demo-ok"):
        self.stack = stack
        self.name = name
        stack.create_function(name, v1_binary)
        assert stack.lam.publish_version(FunctionName=name)["Version"] == "1"
        stack.lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        stack.set_code(name, v2_binary)
        assert stack.lam.publish_version(FunctionName=name)["Version"] == "2"
        # The journal from here on: the alias's creation above is the setup, not a deployment's.
        self.since = len(stack.journals.aliases())

    def alias(self) -> tuple[str, dict]:
        a = self.stack.lam.get_alias(FunctionName=self.name, Name="live")
        return a["FunctionVersion"], (a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}

    def writes(self) -> list[dict]:
        """Every alias write that landed on name:live since the setup, in order, as the journal
        has them (see controls.Journals.aliases)."""
        return [
            e
            for e in self.stack.journals.aliases()[self.since :]
            if e["function"] == self.name and e["alias"] == "live"
        ]

    def journal(self) -> list[tuple[str, dict]]:
        """Every alias write that landed on name:live since the setup, in order, as (version, weights)."""
        return [(e["version"], e["weights"]) for e in self.writes()]

    def target(self, version: str = "2") -> dict:
        return {"functionName": self.name, "alias": "live", "targetVersion": version}


@pytest.fixture
def app(stack):
    def make(v2_binary: str = "demo-ok", prefix: str = "orders", v1_binary: str = "demo-ok") -> App:
        return App(stack, f"{prefix}-{uuid.uuid4().hex[:8]}", v2_binary, v1_binary)

    return make


@pytest.fixture
def alarm(stack):
    """Makes metric alarms on a custom metric nothing records, each in `state` (flipped by hand)."""

    def make(state: str = "OK") -> str:
        return create_alarm(stack.cloudwatch, state=state)

    return make
