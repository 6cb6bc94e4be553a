//! Event-driven bakes, as sluice-core sees them: a bake's watch (the task token the state
//! machine waits on, registered against each of the deployment's alarms), CloudWatch's alarm
//! state-change event, and the rule that turns one into the other's failure.
//!
//! Storage: the ledger keeps one item per alarm, `WATCH#<alarm name>`, whose `watches` map holds
//! each deployment's watch by deployment id (the table has a hash key only, so the watches of one
//! alarm are found with one read), and one item per bake, `BAKE#<deployment id>#<step>`, where the
//! watch and the bake's end meet: whichever comes second finishes the watch's task.

use crate::bounds::{MAX_CAUSE_CHARS, MAX_REASON_CHARS, clip};
use crate::deployment::{Deployment, Failure};
use crate::duration::format_seconds;
use crate::error::{Error, ErrorName};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The ledger key of an alarm's watches.
pub fn watch_key(alarm: &str) -> String {
    format!("WATCH#{alarm}")
}

/// The ledger key where a bake's watch and the bake's end meet.
pub fn bake_key(deployment_id: &str, step: usize) -> String {
    format!("BAKE#{deployment_id}#{step}")
}

/// One deployment's watch on an alarm during one bake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Watch {
    pub deployment_id: String,
    pub execution_arn: String,
    /// The task token the bake's Watch state waits on.
    pub token: String,
    /// Index of the step baking.
    pub step: usize,
    /// "step 1/2 (10% on the new version": where a breach happens.
    pub label: String,
    /// When the deployment started: an alarm event from before it is not about it (RFC 3339).
    pub since: String,
    /// When the watch began (RFC 3339), and how much of the bake had passed by then.
    pub watching_since: String,
    pub baked_seconds: u64,
    pub bake_seconds: u64,
}

impl Watch {
    /// The watch of the bake `doc` is in, waiting on `token`, as of `now`.
    pub fn of(doc: &Deployment, token: &str, now: &str) -> Result<Watch, Error> {
        let step = doc
            .step
            .ok_or_else(|| Error::internal("watch was called before any traffic moved"))?;
        if token.is_empty() {
            return Err(Error::internal("watch was called without a task token"));
        }
        Ok(Watch {
            deployment_id: doc.deployment_id.clone(),
            execution_arn: doc.execution_arn.clone(),
            token: token.to_string(),
            step,
            label: doc.bake_label(),
            since: doc.started_at.clone(),
            watching_since: now.to_string(),
            baked_seconds: doc.bake.elapsed_seconds,
            bake_seconds: doc.bake.required_seconds,
        })
    }

    /// What an alarm event does to this watch: the failure to send its task, or None when the
    /// event is not about this deployment (its alarm changed before the deployment started).
    pub fn stopped_by(&self, event: &AlarmEvent) -> Option<Failure> {
        if event.state != "ALARM" {
            return None;
        }
        if let (Some(changed), Some(started)) = (unix_seconds(&event.at), unix_seconds(&self.since))
            && changed < started
        {
            return None;
        }
        let baked = match (unix_seconds(&event.at), unix_seconds(&self.watching_since)) {
            (Some(changed), Some(from)) => {
                let more = u64::try_from(changed - from).unwrap_or(0);
                (self.baked_seconds + more).min(self.bake_seconds)
            }
            _ => self.baked_seconds,
        };
        let reason = if event.reason.is_empty() {
            String::new()
        } else {
            format!(" ({})", clip(&event.reason, MAX_REASON_CHARS))
        };
        let cause = format!(
            "alarm {} went to ALARM{reason} at {}, {} of {} baked); CloudWatch's alarm event stopped the bake",
            event.alarm_name,
            self.label,
            format_seconds(baked),
            format_seconds(self.bake_seconds)
        );
        Some(Failure {
            error: ErrorName::AlarmBreached.as_str().to_string(),
            cause: clip(&cause, MAX_CAUSE_CHARS),
        })
    }
}

/// CloudWatch's "CloudWatch Alarm State Change" event, the parts sluice reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmEvent {
    pub alarm_name: String,
    /// The new state: ALARM, OK or INSUFFICIENT_DATA.
    pub state: String,
    pub reason: String,
    /// When the state changed (`detail.state.timestamp`, else the event's `time`).
    pub at: String,
}

impl AlarmEvent {
    /// Reads an EventBridge event; says what is wrong with anything else.
    pub fn from_event(event: &Value) -> Result<AlarmEvent, String> {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        if text(event.get("detail-type")).as_deref() != Some("CloudWatch Alarm State Change") {
            return Err(format!(
                "not a CloudWatch Alarm State Change event (detail-type {})",
                clip(
                    &event
                        .get("detail-type")
                        .map_or("absent".into(), Value::to_string),
                    100
                )
            ));
        }
        let detail = event.get("detail").unwrap_or(&Value::Null);
        let state = detail.get("state").unwrap_or(&Value::Null);
        let alarm_name = text(detail.get("alarmName"))
            .filter(|n| !n.is_empty())
            .ok_or("the event has no detail.alarmName")?;
        let value = text(state.get("value")).ok_or("the event has no detail.state.value")?;
        Ok(AlarmEvent {
            alarm_name,
            state: value,
            reason: text(state.get("reason")).unwrap_or_default(),
            at: text(state.get("timestamp"))
                .or_else(|| text(event.get("time")))
                .unwrap_or_default(),
        })
    }
}

/// Seconds since the Unix epoch of an RFC 3339 / ISO 8601 timestamp as AWS writes them
/// ("2026-11-27T06:30:00Z", "2026-11-27T06:30:00.123+0000"); None for anything else.
pub fn unix_seconds(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Skip fractional seconds, then read the offset.
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) => {
            let rest = text.get(i + 1..)?.replace(':', "");
            if rest.len() != 4 || !rest.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let minutes = rest[..2].parse::<i64>().ok()? * 60 + rest[2..].parse::<i64>().ok()?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        None => 0,
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::one_target;
    use serde_json::json;

    fn event(state: &str, at: &str) -> Value {
        json!({
            "version": "0",
            "source": "aws.cloudwatch",
            "detail-type": "CloudWatch Alarm State Change",
            "time": "2026-11-27T10:00:09Z",
            "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:errors"],
            "detail": {
                "alarmName": "errors",
                "state": {"value": state, "reason": "Threshold Crossed: 1 datapoint [3.0] >= 1.0", "timestamp": at},
                "previousState": {"value": "OK", "reason": "", "timestamp": "2026-11-27T09:00:00.000+0000"},
                "configuration": {"metrics": []}
            }
        })
    }

    fn watch() -> Watch {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.started_at = "2026-11-27T10:00:00Z".into();
        d.record_shift(0, vec!["r1".into()], "2026-11-27T10:00:01Z")
            .unwrap();
        Watch::of(&d, "token-1", "2026-11-27T10:00:02Z").unwrap()
    }

    #[test]
    fn an_alarm_event_fails_the_watch_naming_alarm_reason_and_step() {
        let e = AlarmEvent::from_event(&event("ALARM", "2026-11-27T10:01:32.500+0000")).unwrap();
        let f = watch().stopped_by(&e).unwrap();
        assert_eq!(f.error, "AlarmBreached");
        assert_eq!(
            f.cause,
            "alarm errors went to ALARM (Threshold Crossed: 1 datapoint [3.0] >= 1.0) at step 1/2 (10% on the \
             new version, 1m30s of 5m baked); CloudWatch's alarm event stopped the bake"
        );
    }

    #[test]
    fn events_that_are_not_about_the_deployment_do_nothing() {
        let w = watch();
        let ok = AlarmEvent::from_event(&event("OK", "2026-11-27T10:01:00Z")).unwrap();
        assert_eq!(w.stopped_by(&ok), None, "only ALARM stops a bake");
        let before = AlarmEvent::from_event(&event("ALARM", "2026-11-27T09:59:59Z")).unwrap();
        assert_eq!(
            w.stopped_by(&before),
            None,
            "a change before the deployment started"
        );
        let foreign =
            json!({"detail-type": "EC2 Instance State-change Notification", "detail": {}});
        assert!(
            AlarmEvent::from_event(&foreign)
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
    }

    #[test]
    fn a_watch_needs_a_step_and_a_token() {
        let d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        assert_eq!(
            Watch::of(&d, "t", "now").unwrap_err().name,
            ErrorName::InternalError
        );
    }

    #[test]
    fn reads_the_timestamps_aws_writes() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2026-11-26T10:59:17Z"), Some(1_795_690_757));
        assert_eq!(
            unix_seconds("2026-11-26T10:59:17.123+0000"),
            Some(1_795_690_757)
        );
        assert_eq!(
            unix_seconds("2026-11-26T11:59:17+01:00"),
            Some(1_795_690_757)
        );
        assert_eq!(unix_seconds("2000-02-29T00:00:00Z"), Some(951_782_400));
        for bad in [
            "",
            "t1",
            "2026-13-01T00:00:00Z",
            "2026-11-26T10:59:17Q",
            "2026-11-26T10:59",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
    }
}
