"""Bad execution inputs end in RequestRefused as InvalidRequest with a short plain cause, through
the real state machine: inputs that are no JSON object at all (a path into them would fail as
States.Runtime, which no Catch sees), inputs that repeat a 200 KB value (the cause must not echo
it), and input nested deeper than the Lambda runtime reads into values."""

import json

import pytest
from scenario import finish

MAX_CAUSE = 1024


def refused(stack, execution_input: str) -> dict:
    arn = stack.sfn.start_execution(stateMachineArn=stack.state_machine_arn, input=execution_input)["executionArn"]
    d = finish(stack, arn)
    assert d["status"] == "FAILED", d
    assert d["error"] == "InvalidRequest", d
    assert len(d["cause"]) < MAX_CAUSE, len(d["cause"])
    return d


@pytest.mark.parametrize("execution_input", ["[1,2]", "[]", '"x"', "42", "null", "true"])
def test_an_input_that_is_not_an_object_is_refused_cleanly(stack, execution_input):
    d = refused(stack, execution_input)
    assert d["cause"] == 'request: must be a JSON object with "targets" and "strategy"'


@pytest.mark.parametrize(
    "alarms, field",
    [("x" * 200_000, "alarms: invalid type: string"), (["x" * 200_000], "alarms[0]: an alarm name is 1 to 255")],
)
def test_a_200_kb_value_is_not_echoed_in_the_cause(stack, app, alarms, field):
    a = app()
    request = {"targets": [a.target()], "strategy": "AllAtOnce", "alarms": alarms}
    d = refused(stack, json.dumps(request))
    assert d["cause"].startswith(field), d["cause"]
    assert a.journal() == [], "nothing was touched"


def test_input_nested_deeper_than_the_runtime_reads_is_refused_as_the_request(stack, app):
    a = app()
    deep = "[" * 200 + "]" * 200
    execution_input = json.dumps({"targets": [a.target()], "strategy": "AllAtOnce"})[:-1] + f', "junk": {deep}}}'
    d = refused(stack, execution_input)
    assert d["cause"].startswith("request: cannot be read: it nests arrays and objects more than 127 levels deep")
    assert a.journal() == []
