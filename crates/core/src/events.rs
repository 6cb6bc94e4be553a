//! The EventBridge events sluice reacts to, parsed at the edge: CloudWatch's "CloudWatch Alarm
//! State Change" (an alarm event stops the bakes watching that alarm) and Step Functions'
//! "Execution Status Change" (the safety net settles a deployment whose execution ended).

use crate::alarms::AlarmState;
use crate::bounds::clip;
use crate::error::ErrorName;
use crate::names::AlarmName;
use crate::time::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A Step Functions execution's status, as Step Functions names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    PendingRedrive,
    /// A status this code does not know yet (Step Functions may add some).
    #[serde(other)]
    Unknown,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
            ExecutionStatus::PendingRedrive => "PENDING_REDRIVE",
            ExecutionStatus::Unknown => "UNKNOWN",
        }
    }

    /// Reads Step Functions' name of a status.
    pub fn of(name: &str) -> ExecutionStatus {
        serde_json::from_value(Value::String(name.to_string())).unwrap_or(ExecutionStatus::Unknown)
    }

    /// The execution has ended: the safety net has an ending to settle.
    pub fn has_ended(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Succeeded
                | ExecutionStatus::Failed
                | ExecutionStatus::TimedOut
                | ExecutionStatus::Aborted
        )
    }

    /// The catalog name sluice records for an execution that ended this way without an error of
    /// its own (None: it did not fail).
    pub fn failure_name(self) -> Option<ErrorName> {
        match self {
            ExecutionStatus::Aborted => Some(ErrorName::ExecutionAborted),
            ExecutionStatus::TimedOut => Some(ErrorName::ExecutionTimedOut),
            ExecutionStatus::Failed => Some(ErrorName::ExecutionFailed),
            _ => None,
        }
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event a function is handed by EventBridge: the kind it acts on, or anything else, with why
/// it is ignored (retrying an event sluice cannot read would not make it readable).
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming<T> {
    Event(T),
    Ignored(String),
}

/// An event kind read from EventBridge's JSON, saying what is wrong with anything else.
pub trait FromEvent: Sized {
    fn from_event(event: &Value) -> Result<Self, String>;
}

impl<'de, T: FromEvent> Deserialize<'de> for Incoming<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Ok(match T::from_event(&value) {
            Ok(event) => Incoming::Event(event),
            Err(why) => Incoming::Ignored(why),
        })
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn detail_type<'a>(event: &'a Value, wanted: &str) -> Result<&'a Value, String> {
    if event.get("detail-type").and_then(Value::as_str) == Some(wanted) {
        return Ok(event.get("detail").unwrap_or(&Value::Null));
    }
    Err(format!(
        "not a {wanted} event (detail-type {})",
        clip(
            &event
                .get("detail-type")
                .map_or("absent".into(), Value::to_string),
            100
        )
    ))
}

/// CloudWatch's "CloudWatch Alarm State Change" event, the parts sluice reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmEvent {
    pub alarm_name: AlarmName,
    /// The new state.
    pub state: AlarmState,
    pub reason: String,
    /// When the state changed (`detail.state.timestamp`, else the event's `time`).
    pub at: Option<Timestamp>,
}

impl AlarmEvent {
    /// Only a move into ALARM stops a bake (OK and INSUFFICIENT_DATA do not).
    pub fn stops_bakes(&self) -> bool {
        self.state == AlarmState::Alarm
    }
}

impl FromEvent for AlarmEvent {
    fn from_event(event: &Value) -> Result<AlarmEvent, String> {
        let detail = detail_type(event, "CloudWatch Alarm State Change")?;
        let state = detail.get("state").unwrap_or(&Value::Null);
        let alarm_name = text(detail.get("alarmName"))
            .filter(|n| !n.is_empty())
            .ok_or("the event has no detail.alarmName")?;
        let alarm_name =
            AlarmName::parse(&alarm_name).map_err(|e| format!("detail.alarmName: {e}"))?;
        let value = state
            .get("value")
            .ok_or("the event has no detail.state.value")?;
        let state_value = AlarmState::deserialize(value).map_err(|_| {
            format!(
                "detail.state.value {} is not ALARM, OK or INSUFFICIENT_DATA",
                clip(&value.to_string(), 40)
            )
        })?;
        let at = text(state.get("timestamp"))
            .or_else(|| text(event.get("time")))
            .and_then(|t| Timestamp::parse(&t).ok());
        Ok(AlarmEvent {
            alarm_name,
            state: state_value,
            reason: text(state.get("reason")).unwrap_or_default(),
            at,
        })
    }
}

/// A Step Functions "Execution Status Change" event for an execution that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionEnded {
    pub execution_arn: String,
    /// The execution's name: the deployment id.
    pub deployment_id: String,
    /// ABORTED, FAILED, TIMED_OUT, or SUCCEEDED.
    pub status: ExecutionStatus,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl FromEvent for ExecutionEnded {
    /// The event, when it is one the safety net acts on: an ending (RUNNING and others are not).
    fn from_event(event: &Value) -> Result<ExecutionEnded, String> {
        let detail = detail_type(event, "Step Functions Execution Status Change")?;
        let field =
            |key: &str| text(detail.get(key)).ok_or(format!("the event has no detail.{key}"));
        let status = ExecutionStatus::of(&field("status")?);
        if !status.has_ended() {
            return Err(format!("the execution is {status}: it has not ended"));
        }
        Ok(ExecutionEnded {
            execution_arn: field("executionArn")?,
            deployment_id: field("name")?,
            status,
            error: text(detail.get("error")).filter(|e| !e.is_empty()),
            cause: text(detail.get("cause")).filter(|c| !c.is_empty()),
        })
    }
}

/// Where an execution is, as Step Functions describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionState {
    /// Running (or about to run again: a redrive was asked for).
    Running,
    /// It ended, and how.
    Ended(ExecutionEnded),
    /// Step Functions does not know it (it never was, or ended more than 90 days ago).
    Unknown,
}

impl ExecutionState {
    pub fn is_running(&self) -> bool {
        matches!(self, ExecutionState::Running)
    }

    /// How the execution of `deployment_id` ended, for whoever settles it: as Step Functions
    /// said, or, for an execution it no longer knows, an ending without status.
    pub fn ending(self, execution_arn: &str, deployment_id: &str) -> Option<ExecutionEnded> {
        match self {
            ExecutionState::Running => None,
            ExecutionState::Ended(ended) => Some(ended),
            ExecutionState::Unknown => Some(ExecutionEnded {
                execution_arn: execution_arn.to_string(),
                deployment_id: deployment_id.to_string(),
                status: ExecutionStatus::Unknown,
                error: None,
                cause: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::EXECUTION;
    use serde_json::json;

    fn alarm_event(state: &str, at: &str) -> Value {
        crate::testing::alarm_event(state, "Threshold Crossed", at)
    }

    fn status_event(status: &str) -> Value {
        json!({
            "version": "0", "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": EXECUTION, "name": "d-1", "status": status,
                       "error": null, "cause": null}
        })
    }

    #[test]
    fn an_alarm_event_is_read_with_its_state_and_time() {
        let e =
            AlarmEvent::from_event(&alarm_event("ALARM", "2026-11-27T10:01:32.500+0000")).unwrap();
        assert_eq!(e.alarm_name, "errors");
        assert_eq!(e.state, AlarmState::Alarm);
        assert_eq!(e.at.unwrap().to_string(), "2026-11-27T10:01:32.500Z");
        let e = AlarmEvent::from_event(&alarm_event("INSUFFICIENT_DATA", "not a time")).unwrap();
        assert_eq!(e.state, AlarmState::InsufficientData);
        assert_eq!(e.at, None, "an unreadable time is no time");
        assert!(
            AlarmEvent::from_event(&alarm_event("PANIC", "x"))
                .unwrap_err()
                .contains("is not ALARM, OK or INSUFFICIENT_DATA")
        );
    }

    #[test]
    fn events_sluice_cannot_read_are_told_apart() {
        let other = json!({"detail-type": "EC2 Instance State-change Notification", "detail": {}});
        assert!(
            AlarmEvent::from_event(&other)
                .unwrap_err()
                .contains("not a CloudWatch")
        );
        let nameless = json!({"detail-type": "CloudWatch Alarm State Change", "detail": {"state": {"value": "ALARM"}}});
        assert!(
            AlarmEvent::from_event(&nameless)
                .unwrap_err()
                .contains("alarmName")
        );
        assert!(AlarmEvent::from_event(&json!([1, 2])).is_err());
        let incoming: Incoming<AlarmEvent> = serde_json::from_value(json!([1, 2])).unwrap();
        assert!(matches!(incoming, Incoming::Ignored(_)));
    }

    #[test]
    fn the_safety_net_acts_only_on_endings_of_status_change_events() {
        let e = ExecutionEnded::from_event(&status_event("ABORTED")).unwrap();
        assert_eq!(
            (e.deployment_id.as_str(), e.status),
            ("d-1", ExecutionStatus::Aborted)
        );
        assert!(ExecutionEnded::from_event(&status_event("SUCCEEDED")).is_ok());
        assert!(ExecutionEnded::from_event(&status_event("RUNNING")).is_err());
        assert!(ExecutionEnded::from_event(&status_event("SOMETHING_NEW")).is_err());
        assert!(ExecutionEnded::from_event(&json!({"detail-type": "x"})).is_err());
    }

    #[test]
    fn statuses_read_and_write_as_step_functions_names_them() {
        for s in [
            ExecutionStatus::Running,
            ExecutionStatus::Succeeded,
            ExecutionStatus::Failed,
            ExecutionStatus::TimedOut,
            ExecutionStatus::Aborted,
            ExecutionStatus::PendingRedrive,
        ] {
            assert_eq!(ExecutionStatus::of(s.as_str()), s);
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        assert_eq!(ExecutionStatus::of("NEW"), ExecutionStatus::Unknown);
    }
}
