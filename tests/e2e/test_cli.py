"""The sluice CLI, the real binary, driving deployments on the local stack: deploy --wait to
success and to an alarm's rollback, abort mid-bake, status and list, and a bad flag refused
before anything starts. Exit codes: 0 deployed, 3 back where it was, 4 not back."""

import json
import re
import subprocess
import threading
import time
import uuid

from scenario import ON_V1, ON_V2, W

from conftest import wait_until
from processes import SLUICE_CLI


def sluice(stack, *args, timeout=180, extra_env=None):
    env = stack.cli_env()
    # An empty value unsets: the CLI must then find sluice another way.
    for key, value in (extra_env or {}).items():
        if value:
            env[key] = value
        else:
            env.pop(key, None)
    return subprocess.run([str(SLUICE_CLI), *args], capture_output=True, text=True, env=env, timeout=timeout)


def deployment_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_deploy_wait_watch_abort_status_and_list(stack, app, alarm):
    good, bad, aborted = app(), app(prefix="billing"), app(prefix="reports")
    names = [deployment_name(p) for p in ("good", "bad", "aborted")]

    # A good version: deploy --wait follows it to the end and exits 0.
    out = sluice(
        stack,
        "deploy",
        "--function",
        good.name,
        "--alias",
        "live",
        "--target-version",
        "2",
        "--strategy",
        '{"canary": {"percent": 10, "interval": "20s"}}',
        "--name",
        names[0],
        "--wait",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"deployment {names[0]} started" in out.stdout
    assert f"{names[0]} SUCCEEDED" in out.stdout
    assert good.alias() == ON_V2

    # An alarm fires mid-bake: the rolled-back code, and the alarm named.
    name = alarm()

    def fire():
        wait_until(lambda: bad.journal() == [("1", W(10))], what="the 10% shift")
        stack.cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="errors in the test")

    firing = threading.Thread(target=fire, daemon=True)
    firing.start()
    out = sluice(
        stack,
        "deploy",
        "--function",
        bad.name,
        "--alias",
        "live",
        "--target-version",
        "2",
        "--strategy",
        '{"canary": {"percent": 10, "interval": "10m"}}',
        "--alarm",
        name,
        "--poll-interval",
        "10s",
        "--name",
        names[1],
        "--wait",
    )
    firing.join(timeout=5)
    assert out.returncode == 3, out.stdout + out.stderr
    # Fired just after the shift: the bake's watch reads it as it begins ("is in ALARM") or its
    # event stops the bake ("went to ALARM"), whichever comes first; either names it and why.
    assert re.search(rf"alarm {name} (is in|went to) ALARM \(errors in the test\)", out.stdout), out.stdout
    assert bad.alias() == ON_V1

    # Abort mid-bake: the command returns once the alias is back, saying where it is.
    out = sluice(
        stack,
        "deploy",
        "--function",
        aborted.name,
        "--alias",
        "live",
        "--target-version",
        "2",
        "--strategy",
        '{"canary": {"percent": 10, "interval": "30m"}}',
        "--name",
        names[2],
    )
    assert out.returncode == 0, out.stdout + out.stderr
    wait_until(lambda: aborted.journal() == [("1", W(10))], what="the 10% shift")
    started = time.time()
    out = sluice(stack, "abort", names[2])
    assert out.returncode == 3, out.stdout + out.stderr
    assert time.time() - started < 30
    assert f"{aborted.name}:live is on version 1" in out.stdout, out.stdout
    assert aborted.alias() == ON_V1, "no weights left once abort returned"

    # status --json and list show all three.
    statuses = {}
    for n in names:
        out = sluice(stack, "status", n, "--json")
        assert out.returncode == 0, out.stderr
        statuses[n] = json.loads(out.stdout)
    assert [statuses[n]["execution"] for n in names] == ["SUCCEEDED", "FAILED", "ABORTED"]
    assert [statuses[n]["status"] for n in names] == ["Deployed", "RolledBack", "RolledBack"]
    assert statuses[names[1]]["error"] == "AlarmBreached"
    listed = sluice(stack, "list")
    assert listed.returncode == 0, listed.stderr
    for n in names:
        assert n in listed.stdout
    only = sluice(stack, "list", "--function", good.name)
    assert names[0] in only.stdout and names[1] not in only.stdout


def test_a_bad_flag_is_refused_before_anything_starts(stack, app):
    a = app()
    before = len(stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn, maxResults=1000)["executions"])
    out = sluice(stack, "deploy", "--function", a.name, "--alias", "live", "--strategy", "Canary10Percent7Minutes")
    assert out.returncode == 1
    assert out.stderr.startswith("sluice: --strategy is refused: strategy: unknown preset"), out.stderr
    assert "\n" not in out.stderr.strip(), "one line"
    after = len(stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn, maxResults=1000)["executions"])
    assert after == before, "no execution was started"
    assert a.journal() == []


def test_the_state_machine_and_ledger_come_from_the_stack_name(stack):
    """--stack NAME reads the stack's StateMachineArn and LedgerTableName outputs."""
    name = deployment_name("sluice-outputs")
    template = {
        "Resources": {"Anchor": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "StateMachineArn": {"Value": stack.state_machine_arn},
            "LedgerTableName": {"Value": stack.ledger_table},
        },
    }
    stack.client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    env_without = {"SLUICE_STATE_MACHINE_ARN": "", "SLUICE_LEDGER_TABLE": ""}
    out = sluice(stack, "list", "--stack", name, extra_env=env_without)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("deployment"), out.stdout
    missing = sluice(stack, "list", "--stack", "no-such-stack", extra_env=env_without)
    assert missing.returncode == 1
    assert missing.stderr.startswith("sluice: cannot read the outputs of stack no-such-stack"), missing.stderr


def test_an_unreachable_aws_is_said_in_one_line(stack, app):
    """No SDK debug structure: where sluice could not reach, and why, in one line (the first call
    of a deploy asks STS who is calling)."""
    a = app()
    out = sluice(
        stack,
        "deploy",
        "--function",
        a.name,
        "--alias",
        "live",
        "--strategy",
        "AllAtOnce",
        "--endpoint-url",
        "http://127.0.0.1:9",
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr == (
        "sluice: could not tell who is calling (sts:GetCallerIdentity), which sluice records: "
        "GetCallerIdentity: cannot reach STS at 127.0.0.1:9: connection refused\n"
    ), out.stderr
