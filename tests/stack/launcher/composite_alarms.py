"""Patch 20. CloudWatch composite alarms. moto 5.2.5 has no PutCompositeAlarm (a 500), never evaluates
an AlarmRule, and its DescribeAlarms returns both kinds of alarm whatever AlarmTypes says and
applies only one of its filters. As AWS documents them:

- PutCompositeAlarm {AlarmName, AlarmRule, AlarmDescription?, ActionsEnabled?, AlarmActions?,
  OKActions?, InsufficientDataActions?, ActionsSuppressor?, ActionsSuppressorWaitPeriod?,
  ActionsSuppressorExtensionPeriod?, Tags?} creates the alarm in INSUFFICIENT_DATA and evaluates it
  at once; on an existing composite alarm it replaces the configuration and keeps the state, then
  evaluates the new rule. Over every protocol, RPC-v2 CBOR too (cloudwatch_cbor).
- The AlarmRule: ALARM(x), OK(x), INSUFFICIENT_DATA(x) (x an alarm name or ARN, in double quotes or
  not; true when that alarm is in that state), TRUE, FALSE, NOT, AND, OR and parentheses, NOT
  binding closest and AND before OR. At most 10240 characters; anything else is a ValidationError.
  An alarm the rule names that does not exist counts as in no state.
- The composite alarm is ALARM when its rule is true, else OK. It is evaluated whenever one of the
  alarms its rule names changes state (SetAlarmState, the alarm evaluator, another composite
  alarm), in the thread that made the change, right after that alarm's own history item and event.
  A change is recorded as every alarm's is (alarm_events): a StateUpdate history item (AlarmType
  CompositeAlarm) and a "CloudWatch Alarm State Change" event in AWS's shape for composite alarms:
  detail {alarmName, state: {value, reason, reasonData, timestamp}, previousState, configuration:
  {alarmRule, description?, actionsSuppressor?, ...}}, where reason is "<child ARN> transitioned to
  ALARM at Friday 22 July, 2022 15:57:45 UTC" (or "<ARN> was created and its alarm rule evaluates
  to OK") and reasonData {"triggeringAlarms": [{"arn", "state": {"value", "timestamp"}}]}: the
  alarms that made the rule what it is. A cycle of composite alarms (AWS allows one) is evaluated
  once around per change.
- DescribeAlarms returns metric alarms only unless AlarmTypes names CompositeAlarm (AWS's default),
  and applies AlarmNames or AlarmNamePrefix, StateValue and ActionPrefix together.

Not modelled: action suppression (the suppressor settings are stored and shown, never applied),
DescribeAlarms' ChildrenOfAlarmName, ParentsOfAlarmName and paging, and refusing to delete an
alarm a composite alarm names."""

from __future__ import annotations

import datetime
import json
import threading

from moto.cloudwatch.exceptions import ValidationError
from moto.cloudwatch.models import CloudWatchBackend
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import utcnow

from . import alarm_events
from .alarm_rule import evaluate, parse_rule, references

MAX_RULE = 10240
# PutCompositeAlarm's suppressor parameters -> the attribute each is kept in (moto's serializer reads
# the attribute named like the output member, in snake case).
SUPPRESSOR_FIELDS = {
    "ActionsSuppressor": "actions_suppressor",
    "ActionsSuppressorWaitPeriod": "actions_suppressor_wait_period",
    "ActionsSuppressorExtensionPeriod": "actions_suppressor_extension_period",
}


# --- the alarms ----------------------------------------------------------------------------------
def _name(backend: CloudWatchBackend, alarm: str) -> str:
    """An alarm the rule names by ARN of this account and region, by name."""
    prefix = f"arn:aws:cloudwatch:{backend.region_name}:{backend.account_id}:alarm:"
    return alarm[len(prefix) :] if alarm.startswith(prefix) else alarm


def is_composite(alarm) -> bool:
    return getattr(alarm, "rule", None) is not None


def _child_time(t: datetime.datetime) -> str:
    """'Friday 22 July, 2022 15:57:45 UTC', as a composite alarm's reason says when."""
    t = alarm_events._utc(t)
    return f"{t.strftime('%A')} {t.day:02d} {t.strftime('%B, %Y %H:%M:%S')} UTC"


def _triggering(backend, tree, value: bool) -> list[dict]:
    """The alarms that make the rule `value`: those whose function in the rule is `value`."""
    out, seen = [], set()
    for ref in references(tree):
        child = backend.alarms.get(_name(backend, ref.alarm))
        if child is None or child.name in seen or (child.state_value == ref.state) != value:
            continue
        seen.add(child.name)
        stamp = alarm_events.cloudwatch_time(child.state_updated_timestamp)
        out.append({"arn": child.alarm_arn, "state": {"value": child.state_value, "timestamp": stamp}})
    return out


_evaluating = threading.local()


def evaluate_composite(backend: CloudWatchBackend, alarm, reason: str | None = None) -> None:
    """Sets the composite alarm to what its rule says now, if that is a change (with `reason`, or
    the reason a change of one of its alarms gives)."""
    tree = parse_rule(alarm.rule)
    value = evaluate(tree, lambda a: getattr(backend.alarms.get(_name(backend, a)), "state_value", None))
    state = "ALARM" if value else "OK"
    if state == alarm.state_value:
        return
    data = json.dumps({"triggeringAlarms": _triggering(backend, tree, value)}, separators=(",", ":"))
    backend.set_alarm_state(alarm.name, reason or f"{alarm.alarm_arn} evaluates to {state}", data, state)


def evaluate_parents(backend: CloudWatchBackend, child) -> None:
    """Evaluates every composite alarm whose rule names `child`, which just changed state."""
    chain = getattr(_evaluating, "chain", None)
    top = chain is None
    if top:
        chain = _evaluating.chain = set()
    try:
        when = _child_time(child.state_updated_timestamp)
        reason = f"{child.alarm_arn} transitioned to {child.state_value} at {when}"
        for parent in list(backend.alarms.values()):
            if not is_composite(parent) or parent.name in chain:
                continue
            if any(_name(backend, r.alarm) == child.name for r in references(parse_rule(parent.rule))):
                chain.add(parent.name)
                evaluate_composite(backend, parent, reason)
    finally:
        if top:
            del _evaluating.chain


def evaluate_on_state_changes() -> None:
    original = CloudWatchBackend.set_alarm_state

    def set_alarm_state(self, alarm_name, reason, reason_data, state_value):
        # alarm_events' lock: a parent's change is recorded right after its child's, in order.
        with alarm_events._lock:
            alarm = self.alarms.get(alarm_name)
            before = alarm.state_value if alarm is not None else None
            original(self, alarm_name, reason, reason_data, state_value)
            if alarm.state_value != before:
                evaluate_parents(self, alarm)

    CloudWatchBackend.set_alarm_state = set_alarm_state


# --- the API -------------------------------------------------------------------------------------
def put_composite_alarm(backend: CloudWatchBackend, params: dict) -> None:
    name, rule = params.get("AlarmName"), params.get("AlarmRule")
    if not name:
        raise ValidationError("AlarmName is required")
    if not rule:
        raise ValidationError("AlarmRule is required")
    if len(rule) > MAX_RULE:
        raise ValidationError(f"AlarmRule must be at most {MAX_RULE} characters long")
    try:
        parse_rule(rule)
    except ValueError as e:
        raise ValidationError(f"Invalid AlarmRule: {e}") from None
    with alarm_events._lock:
        existing = backend.alarms.get(name)
        if existing is not None and not is_composite(existing):
            raise ValidationError(f"An alarm named {name} exists and is a metric alarm")
        if existing is None:
            alarm = backend.put_metric_alarm(
                name=name,
                namespace=None,
                metric_name=None,
                comparison_operator=None,
                evaluation_periods=None,
                period=None,
                threshold=None,
                statistic=None,
                description=params.get("AlarmDescription"),
                dimensions=[],
                alarm_actions=params.get("AlarmActions") or [],
                ok_actions=params.get("OKActions") or [],
                insufficient_data_actions=params.get("InsufficientDataActions") or [],
                actions_enabled=params.get("ActionsEnabled"),
                rule=rule,
                tags=params.get("Tags") or [],
            )
            # A new composite alarm starts in INSUFFICIENT_DATA; it leaves it at its first evaluation.
            alarm.state_value = "INSUFFICIENT_DATA"
            alarm.state_updated_timestamp = utcnow()
            how = "created"
        else:
            alarm = existing
            alarm.rule = rule
            alarm.description = params.get("AlarmDescription")
            alarm.alarm_actions = params.get("AlarmActions") or []
            alarm.ok_actions = params.get("OKActions") or []
            alarm.insufficient_data_actions = params.get("InsufficientDataActions") or []
            actions_enabled = params.get("ActionsEnabled")
            alarm.actions_enabled = True if actions_enabled is None else actions_enabled
            alarm.configuration_updated_timestamp = utcnow()
            how = "updated"
        for field, attribute in SUPPRESSOR_FIELDS.items():
            setattr(alarm, attribute, params.get(field))
        tree = parse_rule(rule)
        value = evaluate(tree, lambda a: getattr(backend.alarms.get(_name(backend, a)), "state_value", None))
        reason = f"{alarm.alarm_arn} was {how} and its alarm rule evaluates to {'ALARM' if value else 'OK'}"
        evaluate_composite(backend, alarm, reason)


def configuration(alarm) -> dict:
    """A composite alarm's configuration as its state-change event carries it."""
    out = {"alarmRule": alarm.rule}
    if alarm.description:
        out["description"] = alarm.description
    for field, attribute in SUPPRESSOR_FIELDS.items():
        value = getattr(alarm, attribute, None)
        if value is not None:
            out[field[0].lower() + field[1:]] = value
    return out


def _matches(alarm, params: dict) -> bool:
    names = params.get("AlarmNames") or []
    prefix = params.get("AlarmNamePrefix")
    action_prefix = params.get("ActionPrefix")
    state = params.get("StateValue")
    actions = [*(alarm.alarm_actions or []), *(alarm.ok_actions or []), *(alarm.insufficient_data_actions or [])]
    return (
        (not names or alarm.name in names)
        and (not prefix or alarm.name.startswith(prefix))
        and (not state or alarm.state_value == state)
        and (not action_prefix or any(a.startswith(action_prefix) for a in actions))
    )


def serve_composite_alarms() -> None:
    def put(self) -> EmptyResult:
        params = {
            k: self._get_param(k)
            for k in (
                "AlarmName",
                "AlarmRule",
                "AlarmDescription",
                "AlarmActions",
                "OKActions",
                "InsufficientDataActions",
                "Tags",
                *SUPPRESSOR_FIELDS,
            )
        }
        params["ActionsEnabled"] = self._get_bool_param("ActionsEnabled")
        put_composite_alarm(self.cloudwatch_backend, params)
        return EmptyResult()

    def describe(self) -> ActionResult:
        params = {k: self._get_param(k) for k in ("AlarmNames", "AlarmNamePrefix", "ActionPrefix", "StateValue")}
        if params["AlarmNames"] and params["AlarmNamePrefix"]:
            raise ValidationError("AlarmNames and AlarmNamePrefix cannot be given together")
        types = self._get_param("AlarmTypes") or ["MetricAlarm"]
        alarms = [a for a in list(self.cloudwatch_backend.alarms.values()) if _matches(a, params)]
        return ActionResult(
            {
                "MetricAlarms": [a for a in alarms if not is_composite(a)] if "MetricAlarm" in types else [],
                "CompositeAlarms": [a for a in alarms if is_composite(a)] if "CompositeAlarm" in types else [],
            }
        )

    CloudWatchResponse.put_composite_alarm = put
    CloudWatchResponse.describe_alarms = describe


def run_composite_alarms() -> None:
    """Applies the patch (after alarm_events, whose recording of each change it follows)."""
    evaluate_on_state_changes()
    serve_composite_alarms()
