"""Patch 10. moto's CloudWatch emits no EventBridge events and keeps no alarm history anyone can
read (it has no DescribeAlarmHistory). On AWS every change of an alarm's state value puts a
"CloudWatch Alarm State Change" event on the default bus of the alarm's account and region (source
aws.cloudwatch, delivery guaranteed: at least once) and writes a StateUpdate item to the alarm's
history. Here both happen wherever the state changes: SetAlarmState, and the alarm evaluator
(alarm_evaluator calls the same backend method).

Only a change of the state VALUE counts, as on AWS: SetAlarmState to the state the alarm is already
in writes no history and emits no event (AWS invokes actions "when the updated state differs from
the previous value"; LocalStack's AWS-validated provider returns early in that case). moto still
stores that call's reason and timestamp, as it did before.

The event is AWS's documented shape for a single-metric alarm (metric math alarms list their
queries the same way; composite alarms carry their rule instead, see composite_alarms):

    {"version": "0", "id", "detail-type": "CloudWatch Alarm State Change", "source": "aws.cloudwatch",
     "account", "time", "region", "resources": [alarm ARN],
     "detail": {"alarmName",
                "state": {"value", "reason", "reasonData" (only when there is one), "timestamp"},
                "previousState": {"value", "reason", "reasonData"?, "timestamp"},
                "configuration": {"description" (only when the alarm has one),
                                  "metrics": [{"id", "metricStat": {"metric": {"namespace", "name",
                                               "dimensions": {name: value}}, "period", "stat",
                                               "unit"?}, "returnData": true}]}}}

with detail timestamps as CloudWatch writes them ("2026-11-27T06:07:18.123+0000"). It is routed to
the rules of the default bus like any event (events_to_lambda invokes Lambda targets), in the thread
that changed the state, right after the change: no queue, no polling.

DescribeAlarmHistory (moto: NotImplementedError) answers from the items recorded here: AlarmName,
AlarmTypes (without it, metric alarms' items only, as AWS documents), HistoryItemType (only
StateUpdate items exist locally: ConfigurationUpdate and Action items are never recorded),
StartDate/EndDate (inclusive), ScanBy (TimestampDescending, the default, or TimestampAscending),
MaxRecords (1-100, default 100) and NextToken. An item is
{AlarmName, AlarmType, Timestamp, HistoryItemType: "StateUpdate", HistorySummary: "Alarm updated
from OK to ALARM", HistoryData: '{"version":"1.0","oldState":{"stateValue","stateReason",
"stateReasonData"?},"newState":{...}}'}. It works over every protocol moto's CloudWatch speaks,
so also over RPC-v2 CBOR through cloudwatch_cbor. History outlives the alarm, as on AWS.

Test controls, at ALARM_EVENTS_PATH (a test endpoint, not an AWS API), so tests can make delivery
misbehave as "at least once" allows (event_delivery has the contract; the filter is the alarm):

    POST   {"action": "drop" | "duplicate" | "delay", "count": 1, "alarm": "name" (optional),
            "delaySeconds": D (delay only)} arms a control for the next `count` events (of that
           alarm, or of any). Answers 201 with the armed control.
    GET    every event emitted (?alarm=NAME: of that alarm only), oldest first, and what is armed:
           {"events": [{"id", "alarmName", "alarmArn", "state", "previousState", "event" (the event
            as delivered), "emittedAt", "action", "delaySeconds", "dropped", "delivered",
            "deliveries"}, ...], "armed": [{action, remaining, alarm, delaySeconds}]}.
    DELETE disarms every control (the events stay listed); answers 204.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import threading
import uuid

from moto.cloudwatch.exceptions import CloudWatchException, InvalidParameterValue
from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.common_models import BaseModel
from moto.core.responses import ActionResult

from local_aws import ALARM_EVENTS_PATH

from .endpoints import Endpoint
from .event_delivery import EventDelivery, aws_event

SOURCE = "aws.cloudwatch"
DETAIL_TYPE = "CloudWatch Alarm State Change"
HISTORY_VERSION = "1.0"
MAX_RECORDS = 100
# DescribeAlarmHistory without AlarmTypes answers metric alarms' items only, as AWS does.
DEFAULT_ALARM_TYPES = ("MetricAlarm",)

_lock = threading.RLock()
# (account, region) -> history items, in the order the changes happened.
_history: dict[tuple[str, str], list[dict]] = {}


# --- the state change -----------------------------------------------------------------------
def _utc(t: datetime.datetime) -> datetime.datetime:
    """moto keeps naive UTC datetimes."""
    return t.replace(tzinfo=datetime.timezone.utc) if t.tzinfo is None else t.astimezone(datetime.timezone.utc)


def cloudwatch_time(t: datetime.datetime) -> str:
    """CloudWatch's timestamps in events and history data: 2019-10-02T17:04:40.985+0000."""
    t = _utc(t)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def _reason_data(value) -> str | None:
    """moto stores "{}" for an alarm nobody gave reason data: that is no reason data."""
    return value if value not in (None, "", "{}") else None


def _snapshot(alarm) -> dict:
    t = _utc(alarm.state_updated_timestamp)
    return {
        "value": alarm.state_value,
        "reason": alarm.state_reason,
        "reasonData": _reason_data(alarm.state_reason_data),
        # CloudWatch's timestamps have millisecond precision (so StartDate/EndDate match them exactly).
        "timestamp": t.replace(microsecond=t.microsecond // 1000 * 1000),
    }


def _event_state(s: dict) -> dict:
    out = {"value": s["value"], "reason": s["reason"]}
    if s["reasonData"] is not None:
        out["reasonData"] = s["reasonData"]
    out["timestamp"] = cloudwatch_time(s["timestamp"])
    return out


def _metric_stat(namespace, name, dimensions, period, stat, unit) -> dict:
    out = {
        "metric": {
            "namespace": namespace,
            "name": name,
            "dimensions": {d.name: d.value for d in dimensions or []},
        },
        "period": int(period) if period is not None else None,
        "stat": stat,
    }
    if unit:
        out["unit"] = unit
    return out


def configuration(alarm) -> dict:
    """The alarm's configuration as the event carries it (a composite alarm's: composite_alarms)."""
    if getattr(alarm, "rule", None) is not None:
        from .composite_alarms import configuration as composite

        return composite(alarm)
    out = {}
    if alarm.description:
        out["description"] = alarm.description
    if alarm.metric_data_queries:
        metrics = []
        for q in alarm.metric_data_queries:
            m = {"id": q.id}
            if q.expression:
                m["expression"] = q.expression
            if q.label:
                m["label"] = q.label
            if q.metric_stat is not None:
                s = q.metric_stat
                m["metricStat"] = _metric_stat(
                    s.metric.namespace, s.metric.metric_name, s.metric.dimensions, s.period, s.stat, s.unit
                )
            m["returnData"] = q.return_data in (True, "true", "True", None)
            metrics.append(m)
    else:
        metrics = [
            {
                # A stable id per alarm (AWS shows a UUID).
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm.alarm_arn)),
                "metricStat": _metric_stat(
                    alarm.namespace,
                    alarm.metric_name,
                    alarm.dimensions,
                    alarm.period,
                    alarm.statistic or alarm.extended_statistic,
                    alarm.unit,
                ),
                "returnData": True,
            }
        ]
    out["metrics"] = metrics
    return out


def event_detail(alarm, old: dict, new: dict) -> dict:
    return {
        "alarmName": alarm.name,
        "state": _event_state(new),
        "previousState": _event_state(old),
        "configuration": configuration(alarm),
    }


def _history_state(s: dict) -> dict:
    out = {"stateValue": s["value"], "stateReason": s["reason"]}
    if s["reasonData"] is not None:
        try:
            out["stateReasonData"] = json.loads(s["reasonData"])
        except ValueError:
            pass
    return out


def history_item(alarm, old: dict, new: dict) -> dict:
    return {
        "AlarmName": alarm.name,
        "AlarmType": "CompositeAlarm" if getattr(alarm, "rule", None) else "MetricAlarm",
        "Timestamp": new["timestamp"],
        "HistoryItemType": "StateUpdate",
        "HistorySummary": f"Alarm updated from {old['value']} to {new['value']}",
        "HistoryData": json.dumps(
            {"version": HISTORY_VERSION, "oldState": _history_state(old), "newState": _history_state(new)},
            separators=(",", ":"),
        ),
    }


def record_state_changes() -> None:
    original = CloudWatchBackend.set_alarm_state

    def set_alarm_state(self, alarm_name, reason, reason_data, state_value):
        with _lock:
            alarm = self.alarms.get(alarm_name)
            old = _snapshot(alarm) if alarm is not None else None
            original(self, alarm_name, reason, reason_data, state_value)  # validates, raises as before
            new = _snapshot(alarm)
            if old["value"] == new["value"]:
                return
            _history.setdefault((self.account_id, self.region_name), []).append(history_item(alarm, old, new))
            # Under the lock, so that the events of one alarm leave in the order its state changed.
            # Routing is quick: Lambda targets are invoked from threads of their own (events_to_lambda).
            emit(self.account_id, self.region_name, alarm.alarm_arn, event_detail(alarm, old, new))

    CloudWatchBackend.set_alarm_state = set_alarm_state


# --- the event and its delivery ------------------------------------------------------------------
def _alarm_name(value) -> None:
    if not isinstance(value, str):
        raise ValueError("alarm must be an alarm name")


delivery = EventDelivery("alarm_events", {"alarm": _alarm_name})


def emit(account: str, region: str, alarm_arn: str, detail: dict) -> None:
    message = aws_event(SOURCE, DETAIL_TYPE, account, region, alarm_arn, detail)
    sent_at = datetime.datetime.fromtimestamp(message["time"], datetime.timezone.utc)
    record = {
        "alarmName": detail["alarmName"],
        "alarmArn": alarm_arn,
        "state": detail["state"]["value"],
        "previousState": detail["previousState"]["value"],
        # As a target receives it (events_to_lambda.aws_event): `time` in ISO 8601, to the second.
        "event": {**copy.deepcopy(message), "time": sent_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }
    delivery.emit(message, {"alarm": detail["alarmName"]}, record, detail["alarmName"])


# --- DescribeAlarmHistory ------------------------------------------------------------------------
class InvalidNextToken(CloudWatchException):
    code = "InvalidNextToken"


class _Item(BaseModel):
    """A history item as moto's serializer reads it (attributes named like the output shape)."""

    def __init__(self, item: dict):
        for k, v in item.items():
            setattr(self, k, v)


def _as_datetime(value) -> datetime.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return _utc(value)
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)
    try:
        return datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)
    except ValueError:
        return _utc(datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def history(
    account: str,
    region: str,
    alarm_name: str | None = None,
    alarm_types: list[str] | None = None,
    item_type: str | None = None,
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
    scan_by: str | None = None,
) -> list[dict]:
    with _lock:
        items = list(_history.get((account, region), []))
    out = [
        i
        for i in items
        if (alarm_name is None or i["AlarmName"] == alarm_name)
        and i["AlarmType"] in (alarm_types or DEFAULT_ALARM_TYPES)
        and (item_type is None or i["HistoryItemType"] == item_type)
        and (start is None or i["Timestamp"] >= start)
        and (end is None or i["Timestamp"] <= end)
    ]
    # Python's sort is stable: items with one timestamp keep the order they happened in.
    out.sort(key=lambda i: i["Timestamp"], reverse=(scan_by or "TimestampDescending") == "TimestampDescending")
    return out


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except Exception as e:
        raise InvalidNextToken("The NextToken is not valid.") from e
    if not isinstance(offset, int) or offset < 0:
        raise InvalidNextToken("The NextToken is not valid.")
    return offset


def serve_alarm_history() -> None:
    def describe_alarm_history(self) -> ActionResult:
        scan_by = self._get_param("ScanBy")
        if scan_by not in (None, "TimestampDescending", "TimestampAscending"):
            raise InvalidParameterValue(f"Invalid ScanBy: {scan_by}")
        max_records = self._get_param("MaxRecords") or MAX_RECORDS
        max_records = int(max_records)
        if not 1 <= max_records <= MAX_RECORDS:
            raise InvalidParameterValue(f"MaxRecords must be between 1 and {MAX_RECORDS}")
        items = history(
            self.current_account,
            self.region,
            alarm_name=self._get_param("AlarmName") or None,
            alarm_types=self._get_param("AlarmTypes") or None,
            item_type=self._get_param("HistoryItemType") or None,
            start=_as_datetime(self._get_param("StartDate")),
            end=_as_datetime(self._get_param("EndDate")),
            scan_by=scan_by,
        )
        offset = _offset(self._get_param("NextToken"))
        page = items[offset : offset + max_records]
        result: dict = {"AlarmHistoryItems": [_Item(i) for i in page]}
        if offset + max_records < len(items):
            result["NextToken"] = _token(offset + max_records)
        return ActionResult(result)

    CloudWatchResponse.describe_alarm_history = describe_alarm_history


def emit_alarm_events() -> None:
    """Applies the patch: history and events on every state change, and DescribeAlarmHistory."""
    record_state_changes()
    serve_alarm_history()


def _under_lock(do):
    """`do`, once no state change is being recorded: a change lists its event and puts it on the bus
    under _lock, so a reader sees an event delivered (or dropped, or delayed), never half-way."""

    def locked(arg):
        with _lock:
            return do(arg)

    return locked


# GET ?alarm=NAME narrows the events listed.
ENDPOINT = Endpoint(
    ALARM_EVENTS_PATH,
    read=_under_lock(lambda query: delivery.state(alarmName=query.get("alarm"))),
    arm=_under_lock(delivery.arm),
    disarm=_under_lock(lambda _query: delivery.disarm()),
)
