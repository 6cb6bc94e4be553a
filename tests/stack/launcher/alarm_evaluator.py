"""Patch 6. moto never moves an alarm from metric data (only SetAlarmState does). This evaluator
judges metric alarms on the AWS/Lambda metrics that lambda_invoke records, four times a second,
with alarm_judgement.judge, and sets the state it finds when that differs. It acts only when
the alarm's window has data, so an alarm a test flips by hand stays as the test set it."""

from __future__ import annotations

import datetime
import sys
import threading

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.utils import utcnow

from .alarm_judgement import AlarmDefinition, Datapoint, judge

# The only metrics anything records locally (lambda_invoke); alarms on others are left alone.
NAMESPACE = "AWS/Lambda"


def _naive(t: datetime.datetime) -> datetime.datetime:
    """moto keeps naive UTC datetimes; a timestamp a client sent may be aware."""
    return t.astimezone(datetime.timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def definition(alarm) -> AlarmDefinition:
    """A moto MetricAlarm as the judgement reads it."""
    return AlarmDefinition(
        namespace=alarm.namespace,
        metric_name=alarm.metric_name,
        statistic=alarm.statistic or "Sum",
        comparison_operator=alarm.comparison_operator,
        threshold=float(alarm.threshold),
        period=int(alarm.period),
        evaluation_periods=int(alarm.evaluation_periods),
        dimensions={d.name: d.value for d in (alarm.dimensions or [])},
    )


def datapoints(cw) -> list[Datapoint]:
    """The single values moto holds for NAMESPACE (statistic sets carry no value)."""
    return [
        Datapoint(
            namespace=d.namespace,
            metric_name=d.name,
            value=d.value,
            timestamp=_naive(d.timestamp),
            dimensions={x.name: x.value for x in d.dimensions},
        )
        for d in list(cw.metric_data)
        if d.namespace == NAMESPACE and getattr(d, "value", None) is not None and d.timestamp is not None
    ]


def tick(scale: float) -> None:
    for account in list(cloudwatch_backends.keys()):
        for region in list(cloudwatch_backends[account].keys()):
            cw = cloudwatch_backends[account][region]
            now = utcnow()
            data = None
            for alarm in list(cw.alarms.values()):
                if alarm.namespace != NAMESPACE or not alarm.metric_name:
                    continue
                if data is None:
                    data = datapoints(cw)
                judgement = judge(definition(alarm), data, now, scale)
                if judgement is not None and alarm.state_value != judgement.state:
                    cw.set_alarm_state(alarm.name, judgement.reason, None, judgement.state)


def evaluate_alarms(scale: float, stop: threading.Event) -> threading.Thread:
    def loop():
        while not stop.wait(0.25):
            try:
                tick(scale)
            except Exception as e:  # never let the evaluator take the server down
                print(f"alarm evaluator: {e!r}", file=sys.stderr)

    thread = threading.Thread(target=loop, name="alarm-evaluator", daemon=True)
    thread.start()
    return thread
