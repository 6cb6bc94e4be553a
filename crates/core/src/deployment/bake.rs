//! The bake: how long the next Wait is, and what an alarm check makes of the deployment.

use super::{Deployment, Failure, Status};
use crate::alarms::{AlarmReading, AlarmSummary, AlarmTransition};
use crate::bounds::{MAX_CAUSE_CHARS, clip};
use crate::duration::format_seconds;
use crate::error::{Error, ErrorName};
use serde::{Deserialize, Serialize};

/// The last health check, kept for whoever watches the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub checked_at: String,
    pub healthy: bool,
    /// Alarms in ALARM, with CloudWatch's reason.
    pub firing: Vec<AlarmReading>,
    /// Alarms with too little data to judge: counted healthy, but shown (never silently passed).
    pub insufficient_data: Vec<String>,
    /// Alarms named in the request that CloudWatch no longer has.
    pub missing: Vec<String>,
    /// Alarms that went to ALARM since the check before and out of it again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fired: Vec<AlarmTransition>,
}

/// How long a bake's watch outlives the bake before it stops waiting for alarm events: the
/// backstop's last check decides the bake, and a lost release must not hold the Parallel for long.
pub const WATCH_GRACE_SECONDS: u64 = 900;

impl Deployment {
    /// Sets status and the next wait from bake progress.
    pub(crate) fn after_progress(&mut self) {
        let remaining = self
            .bake
            .required_seconds
            .saturating_sub(self.bake.elapsed_seconds);
        if remaining == 0 {
            self.next_wait_seconds = 0;
            let last = self.step.map(|s| s + 1) == Some(self.plan.step_count());
            self.status = if last {
                Status::AllShifted
            } else {
                Status::ShiftNext
            };
        } else {
            // Without alarms there is nothing to poll: wait out the bake in one go.
            self.next_wait_seconds = if self.alarms.is_empty() {
                remaining
            } else {
                remaining.min(self.check_interval_seconds.max(1))
            };
            self.watch_timeout_seconds = remaining + WATCH_GRACE_SECONDS;
            self.status = Status::Baking;
        }
    }

    /// Whether the bake of the step on the aliases is over and healthy: its watch is released.
    pub fn bake_is_over(&self) -> bool {
        matches!(self.status, Status::ShiftNext | Status::AllShifted)
    }

    /// "step 1/2 (10% on the new version", how a breach names where it happened; the bake
    /// figures and the closing parenthesis follow.
    pub fn bake_label(&self) -> String {
        format!("{} ({} on the new version", self.step_label(), self.weight)
    }

    /// Records a health check made after waiting `next_wait_seconds`: the alarms' state now,
    /// and their moves into ALARM since `bake.history_since` (read from their history).
    pub fn record_check(
        &mut self,
        readings: &[AlarmReading],
        fired: &[AlarmTransition],
        now: &str,
    ) -> Result<(), Error> {
        if self.status != Status::Baking {
            return Err(Error::internal(format!(
                "check-alarms was called with status {:?}; it runs only while Baking",
                self.status
            )));
        }
        self.bake.elapsed_seconds =
            (self.bake.elapsed_seconds + self.next_wait_seconds).min(self.bake.required_seconds);
        self.updated_at = now.to_string();
        self.bake.history_since = Some(now.to_string());
        let summary = AlarmSummary::of(&self.alarms, readings).with_history(&self.alarms, fired);
        let healthy = summary.healthy();
        let breaches = summary.breaches();
        self.last_check = Some(Verdict {
            checked_at: now.to_string(),
            healthy,
            firing: summary.firing,
            insufficient_data: summary.insufficient_data,
            missing: summary.missing,
            fired: summary.fired,
        });
        if healthy {
            self.after_progress();
            if self.status != Status::Baking {
                let message = format!(
                    "{} baked {} with no alarm",
                    self.step_label(),
                    format_seconds(self.bake.required_seconds)
                );
                self.record(now, message);
            }
            return Ok(());
        }
        // Clip the alarms' part, so where it happened is always told.
        let breaches = clip(&breaches, MAX_CAUSE_CHARS - 200);
        let cause = format!(
            "{breaches} at {}, {} of {} baked)",
            self.bake_label(),
            format_seconds(self.bake.elapsed_seconds),
            format_seconds(self.bake.required_seconds)
        );
        self.record(now, cause.clone());
        self.status = Status::AlarmBreached;
        self.next_wait_seconds = 0;
        self.failure = Some(Failure {
            error: ErrorName::AlarmBreached.as_str().to_string(),
            cause,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarms::AlarmState;
    use crate::testing::one_target;
    use crate::testing::reading;
    use serde_json::json;

    #[test]
    fn an_alarm_breach_names_the_alarm_and_stops() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors", "latency"]);
        d.record_shift(0, vec!["r1".into()], "t1").unwrap();
        let ok = |n| reading(n, AlarmState::Ok, "");
        d.record_check(&[ok("errors"), ok("latency")], &[], "t2")
            .unwrap();
        let firing = reading("latency", AlarmState::Alarm, "p99 > 1s");
        d.record_check(&[ok("errors"), firing], &[], "t3").unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, "AlarmBreached");
        assert!(
            f.cause.contains("alarm latency is in ALARM (p99 > 1s)"),
            "{}",
            f.cause
        );
        assert!(
            f.cause
                .contains("step 1/2 (10% on the new version, 20s of 5m baked)"),
            "{}",
            f.cause
        );
    }

    #[test]
    fn insufficient_data_passes_visibly_and_a_missing_alarm_fails() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors", "gone"]);
        d.record_shift(0, vec!["r1".into()], "t1").unwrap();
        let quiet = reading("errors", AlarmState::InsufficientData, "");
        d.record_check(
            &[quiet.clone(), reading("gone", AlarmState::Ok, "")],
            &[],
            "t2",
        )
        .unwrap();
        let verdict = d.last_check.clone().unwrap();
        assert!(verdict.healthy);
        assert_eq!(verdict.insufficient_data, vec!["errors".to_string()]);
        d.record_check(&[quiet], &[], "t3").unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        assert!(
            d.failure
                .unwrap()
                .cause
                .contains("alarm gone no longer exists")
        );
    }

    #[test]
    fn an_alarm_that_fired_between_checks_is_a_breach_and_each_check_moves_the_window() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &["errors"]);
        d.record_shift(0, vec!["r1".into()], "t1").unwrap();
        assert_eq!(d.bake.history_since.as_deref(), Some("t1"));
        assert_eq!(d.watch_timeout_seconds, 300 + WATCH_GRACE_SECONDS);
        let ok = [reading("errors", AlarmState::Ok, "")];
        d.record_check(&ok, &[], "t2").unwrap();
        assert_eq!(d.bake.history_since.as_deref(), Some("t2"));
        let blip = AlarmTransition {
            name: "errors".into(),
            at: "t2.5".into(),
            reason: "1 error".into(),
        };
        d.record_check(&ok, &[blip], "t3").unwrap();
        assert_eq!(d.status, Status::AlarmBreached);
        assert!(d.failure.unwrap().cause.starts_with(
            "alarm errors went to ALARM at t2.5 (1 error) and out of it again before this check at \
                 step 1/2 (10% on the new version, 20s of 5m baked)"
        ),);
    }

    #[test]
    fn a_check_outside_a_bake_is_refused() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        assert_eq!(
            d.record_check(&[], &[], "t").unwrap_err().name,
            ErrorName::InternalError
        );
    }
}
