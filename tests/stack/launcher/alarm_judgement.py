"""The alarm evaluator's decision, kept apart from moto so it can be tested alone: given a metric
alarm, the datapoints and the time, the state the alarm should be in and why. Plain values in,
plain values out; alarm_evaluator converts moto's objects and applies the result.

The judgement follows CloudWatch where sluice depends on it: the alarm's statistic over the
datapoints of its metric and dimensions in the last Period x EvaluationPeriods, against the
threshold. It is simpler in what sluice does not use: one window rather than N periods each
judged, and no TreatMissingData (a window without data is no judgement at all).
"""

from __future__ import annotations

import datetime
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

ALARM = "ALARM"
OK = "OK"


@dataclass(frozen=True)
class AlarmDefinition:
    namespace: str
    metric_name: str
    comparison_operator: str  # GreaterThanThreshold, ...; any other never breaches
    threshold: float
    period: int  # seconds
    evaluation_periods: int
    statistic: str = "Sum"  # Sum, Maximum, Minimum, SampleCount; any other is the average
    dimensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Datapoint:
    namespace: str
    metric_name: str
    value: float
    timestamp: datetime.datetime  # naive UTC, as moto keeps them; `now` must be the same kind
    dimensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Judgement:
    state: str  # ALARM or OK
    reason: str


COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def _average(values: list[float]) -> float:
    return sum(values) / len(values)


STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "Sum": sum,
    "Maximum": max,
    "Minimum": min,
    "SampleCount": len,
}


def _never(_value: float, _threshold: float) -> bool:
    return False


def judge(
    alarm: AlarmDefinition,
    datapoints: Iterable[Datapoint],
    now: datetime.datetime,
    time_scale: float = 1.0,
) -> Judgement | None:
    """The alarm's state from the datapoints of its namespace, metric and dimensions (a datapoint
    may carry more dimensions than the alarm names) no older than Period x EvaluationPeriods,
    that window scaled like the interpreter's Waits. None when no datapoint is in the window: the
    alarm then keeps whatever state it has, so one a test set by hand stays as it was set."""
    window = datetime.timedelta(seconds=float(alarm.period) * int(alarm.evaluation_periods) * time_scale)
    wanted = alarm.dimensions.items()
    values = [
        d.value
        for d in datapoints
        if d.namespace == alarm.namespace
        and d.metric_name == alarm.metric_name
        and now - d.timestamp <= window
        and wanted <= d.dimensions.items()
    ]
    if not values:
        return None
    value = STATISTICS.get(alarm.statistic, _average)(values)
    breached = COMPARISONS.get(alarm.comparison_operator, _never)(value, float(alarm.threshold))
    seconds = int(alarm.period) * int(alarm.evaluation_periods)
    verdict = "crossed" if breached else "is within"
    reason = (
        f"{alarm.metric_name} {alarm.statistic} {value:g} over the last {seconds}s "
        f"{verdict} the threshold {float(alarm.threshold):g}"
    )
    return Judgement(ALARM if breached else OK, reason)
