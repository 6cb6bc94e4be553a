"""The alarm evaluator's judgement (launcher/alarm_judgement.py) on plain values: no stack."""

import datetime

import pytest

from launcher.alarm_judgement import ALARM, OK, AlarmDefinition, Datapoint, Judgement, judge

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0)
DIMS = {"FunctionName": "orders", "Resource": "orders:live"}


def alarm(**overrides) -> AlarmDefinition:
    """Errors Sum >= 3 over one 600 s period on orders:live, unless overridden."""
    fields = {
        "namespace": "AWS/Lambda",
        "metric_name": "Errors",
        "statistic": "Sum",
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "threshold": 3.0,
        "period": 600,
        "evaluation_periods": 1,
        "dimensions": DIMS,
    }
    return AlarmDefinition(**{**fields, **overrides})


def point(value, seconds_ago=0.0, metric="Errors", namespace="AWS/Lambda", dimensions=None) -> Datapoint:
    return Datapoint(
        namespace=namespace,
        metric_name=metric,
        value=value,
        timestamp=NOW - datetime.timedelta(seconds=seconds_ago),
        dimensions={**DIMS, "ExecutedVersion": "2"} if dimensions is None else dimensions,
    )


def test_sums_the_window_and_says_why():
    j = judge(alarm(), [point(1), point(1, 60), point(1, 300), point(1, 600)], NOW)  # the edge is in
    assert j == Judgement(ALARM, "Errors Sum 4 over the last 600s crossed the threshold 3")


def test_under_the_threshold_is_ok():
    j = judge(alarm(), [point(1), point(1, 60)], NOW)
    assert j == Judgement(OK, "Errors Sum 2 over the last 600s is within the threshold 3")


def test_a_window_without_data_is_no_judgement():
    assert judge(alarm(), [], NOW) is None
    assert judge(alarm(), [point(5, 601)], NOW) is None, "only data older than the window"


def test_the_window_is_period_times_evaluation_periods():
    data = [point(2, 100), point(2, 250)]
    assert judge(alarm(period=60, evaluation_periods=2), data, NOW).state == OK  # 120 s: only the first
    assert judge(alarm(period=60, evaluation_periods=5), data, NOW).state == ALARM  # 300 s: both


def test_the_window_scales_like_waits_but_the_reason_does_not():
    data = [point(4, 5), point(4, 20)]
    j = judge(alarm(), data, NOW, time_scale=0.02)  # 600 s at 1/50 is 12 s: only the first
    assert j == Judgement(ALARM, "Errors Sum 4 over the last 600s crossed the threshold 3")
    assert judge(alarm(), [point(4, 20)], NOW, time_scale=0.02) is None


def test_other_metrics_namespaces_and_dimensions_are_ignored():
    others = [
        point(9, metric="Invocations"),
        point(9, namespace="Custom/Test"),
        point(9, dimensions={"FunctionName": "billing", "Resource": "billing:live"}),
        point(9, dimensions={"FunctionName": "orders"}),  # lacks the alarm's Resource
    ]
    assert judge(alarm(), others, NOW) is None
    j = judge(alarm(), [*others, point(1)], NOW)
    assert j == Judgement(OK, "Errors Sum 1 over the last 600s is within the threshold 3")


def test_an_alarm_without_dimensions_takes_every_datapoint_of_its_metric():
    data = [point(2, dimensions={}), point(2, dimensions={"FunctionName": "billing"})]
    assert judge(alarm(dimensions={}), data, NOW).state == ALARM


@pytest.mark.parametrize(
    ("operator", "below", "equal", "above"),
    [
        ("GreaterThanThreshold", OK, OK, ALARM),
        ("GreaterThanOrEqualToThreshold", OK, ALARM, ALARM),
        ("LessThanThreshold", ALARM, OK, OK),
        ("LessThanOrEqualToThreshold", ALARM, ALARM, OK),
        ("LessThanLowerOrGreaterThanUpperThreshold", OK, OK, OK),  # not supported: never breaches
    ],
)
def test_each_comparison_operator(operator, below, equal, above):
    def state(total):
        return judge(alarm(comparison_operator=operator), [point(total)], NOW).state

    assert (state(2), state(3), state(4)) == (below, equal, above)


@pytest.mark.parametrize(
    ("statistic", "value"),
    [("Sum", "6"), ("Maximum", "3"), ("Minimum", "1"), ("SampleCount", "3"), ("Average", "2")],
)
def test_statistics(statistic, value):
    j = judge(alarm(statistic=statistic, threshold=100.0), [point(1), point(2), point(3)], NOW)
    assert j.reason == f"Errors {statistic} {value} over the last 600s is within the threshold 100"


def test_numbers_in_the_reason_are_short():
    j = judge(alarm(threshold=0.5, comparison_operator="GreaterThanThreshold"), [point(0.25), point(0.5)], NOW)
    assert j == Judgement(ALARM, "Errors Sum 0.75 over the last 600s crossed the threshold 0.5")
