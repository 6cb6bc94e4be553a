//! How a deployment ends outside rollback: its own last step (every alias on the new version,
//! the locks released), or the safety net, which settles a deployment whose execution ended
//! where no Catch runs (stopped, timed out, failed at a limit or inside Rollback itself).

use super::{Deployment, Failure, Status};
use crate::bounds::{MAX_CAUSE_CHARS, clip};
use crate::error::Error;
use serde_json::Value;

/// A Step Functions "Execution Status Change" event for an execution that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionEnded {
    pub execution_arn: String,
    /// The execution's name: the deployment id.
    pub deployment_id: String,
    /// ABORTED, FAILED, TIMED_OUT, or SUCCEEDED.
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl ExecutionEnded {
    /// The event, when it is one the safety net acts on: an ending (RUNNING and other events:
    /// None).
    pub fn from_event(event: &Value) -> Option<ExecutionEnded> {
        if event.get("detail-type")?.as_str()? != "Step Functions Execution Status Change" {
            return None;
        }
        let detail = event.get("detail")?;
        let text = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_string);
        let status = text("status")?;
        if !matches!(
            status.as_str(),
            "ABORTED" | "FAILED" | "TIMED_OUT" | "SUCCEEDED"
        ) {
            return None;
        }
        Some(ExecutionEnded {
            execution_arn: text("executionArn")?,
            deployment_id: text("name")?,
            status,
            error: text("error").filter(|e| !e.is_empty()),
            cause: text("cause").filter(|c| !c.is_empty()),
        })
    }

    fn what_happened(&self) -> String {
        let how = match self.status.as_str() {
            "ABORTED" => "was stopped".to_string(),
            "TIMED_OUT" => "timed out".to_string(),
            _ => match (&self.error, &self.cause) {
                (Some(e), Some(c)) => format!(
                    "failed with {e} ({})",
                    Failure {
                        error: e.clone(),
                        cause: c.clone(),
                    }
                    .plain_cause()
                ),
                (Some(e), None) => format!("failed with {e}"),
                _ => "failed".to_string(),
            },
        };
        format!("the execution {how} ({})", self.status)
    }
}

impl Deployment {
    /// Whether the safety net has an ending to settle for `ended`: the record is this
    /// execution's, and no ending was recorded (rolled back, deployed, nothing to deploy).
    pub fn unsettled_by(&self, ended: &ExecutionEnded) -> bool {
        self.execution_arn == ended.execution_arn && !self.status.is_settled()
    }

    /// Whether an execution that SUCCEEDED left this deployment to be finished: every alias is
    /// on its new version, and only the record and the locks are left (its Finish failed).
    pub fn finished_by(&self, ended: &ExecutionEnded) -> bool {
        ended.status == "SUCCEEDED" && self.status == Status::AllShifted
    }

    /// Notes why the safety net rolls back: what the execution did, where the deployment
    /// was, and any failure it had recorded already.
    pub fn fail_from(&mut self, ended: &ExecutionEnded) {
        let at = match self.step {
            Some(_) => format!("{} ({} on the new version)", self.step_label(), self.weight),
            None => "before any traffic moved".to_string(),
        };
        let happened = format!(
            "{} at {at}; sluice's safety net rolled it back",
            ended.what_happened()
        );
        let (error, cause) = match &self.failure {
            Some(f) => (
                f.error.clone(),
                format!("{}; then {happened}", f.plain_cause()),
            ),
            None => (
                ended
                    .error
                    .clone()
                    .unwrap_or_else(|| format!("Execution{}", title(&ended.status))),
                happened,
            ),
        };
        self.failure = Some(Failure {
            error,
            cause: clip(&cause, MAX_CAUSE_CHARS),
        });
    }

    /// The execution stopped while validate ran (the safety net found no record then): nothing
    /// moved, and validate gives back the locks it took.
    pub fn stopped_while_validating(&mut self, now: &str) {
        let cause = "the execution stopped while validate ran, before any traffic moved; validate \
                     released the aliases' locks"
            .to_string();
        self.record(now, cause.clone());
        self.status = Status::RolledBack;
        self.failure = Some(Failure {
            error: "ExecutionAborted".into(),
            cause,
        });
    }

    /// The last step of a successful deployment: every alias serves its new version.
    pub fn finish(&mut self, now: &str) -> Result<(), Error> {
        if self.status != Status::AllShifted {
            return Err(Error::internal(format!(
                "finish was called with status {:?}; it runs only after AllShifted",
                self.status
            )));
        }
        self.status = Status::Deployed;
        let message = format!(
            "deployed: {}",
            self.targets
                .iter()
                .map(|t| format!("{} on version {}", t.name(), t.target_version))
                .collect::<Vec<_>>()
                .join("; ")
        );
        self.record(now, message);
        Ok(())
    }
}

/// "TIMED_OUT" -> "TimedOut".
fn title(status: &str) -> String {
    status
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_string() + &c.as_str().to_lowercase())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{EXECUTION, breached, one_target};
    use serde_json::json;

    fn event(status: &str) -> Value {
        json!({
            "version": "0", "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": EXECUTION, "name": "d-1", "status": status,
                       "error": null, "cause": null}
        })
    }

    #[test]
    fn acts_only_on_bad_endings_of_status_change_events() {
        let e = ExecutionEnded::from_event(&event("ABORTED")).unwrap();
        assert_eq!(
            (e.deployment_id.as_str(), e.status.as_str()),
            ("d-1", "ABORTED")
        );
        assert!(ExecutionEnded::from_event(&event("SUCCEEDED")).is_some());
        assert!(ExecutionEnded::from_event(&event("RUNNING")).is_none());
        assert!(ExecutionEnded::from_event(&json!({"detail-type": "x"})).is_none());
    }

    #[test]
    fn a_stop_mid_bake_is_explained_and_settled_once() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.record_shift(0, vec!["r1".into()], "t1").unwrap();
        let ended = ExecutionEnded::from_event(&event("ABORTED")).unwrap();
        assert!(d.unsettled_by(&ended));
        d.fail_from(&ended);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, "ExecutionAborted");
        assert_eq!(
            f.cause,
            "the execution was stopped (ABORTED) at step 1/2 (10% on the new version); sluice's safety net rolled it back"
        );
        d.status = Status::RolledBack;
        assert!(!d.unsettled_by(&ended), "a duplicate event changes nothing");
        let mut other = ended.clone();
        other.execution_arn = "arn:another".into();
        let fresh = one_target(json!("AllAtOnce"), &[]);
        assert!(!fresh.unsettled_by(&other), "another execution's event");
    }

    #[test]
    fn a_rollback_that_failed_keeps_its_reason() {
        let mut d = breached(["r1", "r2"]);
        let ended = ExecutionEnded::from_event(&json!({
            "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": EXECUTION, "name": "d-1", "status": "FAILED",
                       "error": "TransientAws", "cause": "{\"errorType\":\"TransientAws\",\"errorMessage\":\"throttled\"}"}
        }))
        .unwrap();
        d.fail_from(&ended);
        let f = d.failure.unwrap();
        assert_eq!(f.error, "AlarmBreached");
        assert!(
            f.cause.starts_with(
                "alarm errors is in ALARM; then the execution failed with TransientAws (throttled)"
            ),
            "{}",
            f.cause
        );
    }

    #[test]
    fn finishing_needs_every_step_done() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        assert!(d.finish("t").is_err());
        d.record_shift(0, vec!["r1".into()], "t1").unwrap();
        d.finish("t2").unwrap();
        assert_eq!(d.status, Status::Deployed);
        assert_eq!(
            d.history.last().unwrap().message,
            "deployed: orders:live on version 4"
        );
    }
}
