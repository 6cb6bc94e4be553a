"""A composite alarm's AlarmRule (launcher/alarm_rule.py) on plain values: no stack."""

import pytest

from launcher.alarm_rule import Const, Not, Op, StateOf, evaluate, parse_rule, references


def value(rule: str, **states: str) -> bool:
    return evaluate(parse_rule(rule), states.get)


def test_functions_name_alarms_with_or_without_quotes_and_by_arn():
    tree = parse_rule('ALARM("cpu high") OR OK(disk) OR INSUFFICIENT_DATA( arn:aws:cloudwatch:r:1:alarm:x )')
    assert [(r.state, r.alarm) for r in references(tree)] == [
        ("ALARM", "cpu high"),
        ("OK", "disk"),
        ("INSUFFICIENT_DATA", "arn:aws:cloudwatch:r:1:alarm:x"),
    ]


def test_each_function_is_true_in_its_state_only():
    assert value("ALARM(a)", a="ALARM") and not value("ALARM(a)", a="OK")
    assert value("OK(a)", a="OK") and not value("OK(a)", a="INSUFFICIENT_DATA")
    assert value("INSUFFICIENT_DATA(a)", a="INSUFFICIENT_DATA")
    assert not value("ALARM(missing)") and not value("OK(missing)"), "an alarm that does not exist is in no state"
    assert value("TRUE") and not value("FALSE")


def test_not_binds_closest_then_and_then_or():
    assert parse_rule("NOT ALARM(a) AND ALARM(b) OR ALARM(c)") == Op(
        "OR", (Op("AND", (Not(StateOf("ALARM", "a")), StateOf("ALARM", "b"))), StateOf("ALARM", "c"))
    )
    # a OR b AND c is a OR (b AND c)
    assert value("ALARM(a) OR ALARM(b) AND ALARM(c)", a="ALARM", b="OK", c="OK")
    assert not value("(ALARM(a) OR ALARM(b)) AND ALARM(c)", a="ALARM", b="OK", c="OK")
    assert value("NOT NOT TRUE") and parse_rule("NOT (TRUE)") == Not(Const(True))
    assert value("ALARM(a) AND NOT OK(b)", a="ALARM", b="ALARM")


@pytest.mark.parametrize(
    "rule",
    [
        "",
        "ALARM(a) AND",
        "ALARM()",
        "ALARM(a",
        "(ALARM(a)",
        "ALARM(a) ALARM(b)",
        "alarm(a)",
        "ALARM(a) XOR ALARM(b)",
        "WARN(a)",
        "ALARM(a))",
    ],
)
def test_what_is_not_a_rule_is_refused(rule):
    with pytest.raises(ValueError):
        parse_rule(rule)
