//! How a deployment ends outside rollback: its own last step (every alias on the new version,
//! the locks released), or the safety net, which settles a deployment whose execution ended
//! where no Catch runs (stopped, timed out, failed at a limit or inside Rollback itself).

use super::{Deployment, Status};
use crate::bounds::{MAX_CAUSE_CHARS, clip};
use crate::error::{Error, ErrorName, FailureName};
use crate::events::{ExecutionEnded, ExecutionStatus};
use crate::failure::Failure;
use crate::time::Timestamp;

/// Who settles a deployment whose execution ended where no Catch ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettledBy {
    /// The safety net, on the execution's status event (or the sweeper, when one was lost).
    SafetyNet,
    /// The next deployment of one of its aliases, before it takes the alias's lock.
    Takeover { deployment_id: String },
}

impl SettledBy {
    /// "sluice's safety net rolled it back", as a cause says who did.
    fn rolled_back(&self) -> String {
        match self {
            SettledBy::SafetyNet => "sluice's safety net rolled it back".to_string(),
            SettledBy::Takeover { deployment_id } => format!(
                "deployment {deployment_id} rolled it back before taking over its lock (the safety net \
                 had not yet)"
            ),
        }
    }
}

/// What the safety net does for an execution that ended, decided on the deployment's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Settlement {
    /// The record is another execution's (a name reused): leave everything alone.
    NotOurs,
    /// The execution succeeded but its Finish did not record it: every alias is on its new
    /// version; record the deployment as deployed.
    Finish,
    /// The execution ended without settling the deployment: roll back every alias that still
    /// carries sluice's weights and record why.
    RollBack,
    /// The deployment is settled already: only release what it may still hold.
    Release,
}

impl Deployment {
    /// The safety net's one decision for an execution that ended.
    pub fn settlement(&self, ended: &ExecutionEnded) -> Settlement {
        if self.execution_arn != ended.execution_arn {
            Settlement::NotOurs
        } else if ended.status == ExecutionStatus::Succeeded && self.all_shifted() {
            Settlement::Finish
        } else if self.unsettled_by(ended) && ended.status != ExecutionStatus::Succeeded {
            Settlement::RollBack
        } else {
            Settlement::Release
        }
    }

    /// Whether the safety net has an ending to settle for `ended`: the record is this
    /// execution's, and no ending was recorded (rolled back, deployed, nothing to deploy).
    pub fn unsettled_by(&self, ended: &ExecutionEnded) -> bool {
        self.execution_arn == ended.execution_arn && !self.status.is_settled()
    }

    /// Notes why the deployment is rolled back after its execution ended: what the execution
    /// did, where the deployment was, any failure it had recorded already, and who rolls it back.
    pub fn fail_from(&mut self, ended: &ExecutionEnded, by: &SettledBy) {
        let at = match self.step {
            Some(_) => format!(
                "at {} ({} on the new version)",
                self.step_label(),
                self.weight
            ),
            None => "before any traffic moved".to_string(),
        };
        let settled = if self.dry_run {
            // Nothing to roll back: the record's ending says what a real rollback would do.
            "sluice's safety net settled the dry run".to_string()
        } else {
            by.rolled_back()
        };
        let happened = format!("{} {at}; {settled}", what_happened(ended));
        let (error, cause) = match &self.failure {
            Some(f) => (
                f.error.clone(),
                format!("{}; then {happened}", f.plain_cause()),
            ),
            None => (
                match (&ended.error, ended.status.failure_name()) {
                    (Some(caught), _) => FailureName::from(caught.clone()),
                    (None, Some(name)) => name.into(),
                    (None, None) => ErrorName::ExecutionFailed.into(),
                },
                happened,
            ),
        };
        self.failure = Some(Failure {
            error,
            cause: clip(&cause, MAX_CAUSE_CHARS),
        });
    }

    /// Notes that the safety net could not settle the deployment now (it tries again).
    pub fn safety_net_failed(&mut self, why: &str, now: Timestamp) {
        self.safety_net = Some(super::SafetyNetNote {
            at: now,
            why: clip(why, MAX_CAUSE_CHARS),
        });
    }

    /// The execution stopped while validate ran (the safety net found no record then): nothing
    /// moved, and validate gives back the locks it took.
    pub fn stopped_while_validating(&mut self, now: Timestamp) {
        let cause = if self.dry_run {
            "the execution stopped while validate ran: the dry run is over (it held no lock)"
        } else {
            "the execution stopped while validate ran, before any traffic moved; validate \
             released the aliases' locks"
        }
        .to_string();
        self.record(now, cause.clone());
        self.status = Status::RolledBack;
        self.failure = Some(Failure::new(ErrorName::ExecutionAborted, cause));
    }

    /// What Finish makes of the record it found settled when it came to record this deployment
    /// (`record` is the ledger's): its own earlier try's (deployed: nothing more to do), or an
    /// ending recorded before — the safety net's, after a stop — which this execution's end must
    /// not turn into a success (a redriven execution, or a Finish that outlived its stop).
    pub fn finished_before(record: Deployment) -> Result<Deployment, Error> {
        if record.status == Status::Deployed {
            return Ok(record);
        }
        Err(Self::settled_before(&record))
    }

    /// Why a phase refuses to act for a deployment whose record is settled already (`record` is
    /// the ledger's): a redriven execution, or a task that outlived its stop, must move nothing
    /// and end nothing as a success. `AlreadySettled`, saying how it was settled.
    pub fn settled_before(record: &Deployment) -> Error {
        let how = record
            .failure
            .as_ref()
            .map_or_else(String::new, |f| format!(": {}", f.plain_cause()));
        Error::new(
            ErrorName::AlreadySettled,
            clip(
                &format!(
                    "deployment {} was settled as {} before this execution reached its end (a \
                     redrive, or a task that outlived a stop), so it is not deployed; nothing was \
                     changed{how}",
                    record.deployment_id,
                    record.status.as_str()
                ),
                MAX_CAUSE_CHARS,
            ),
        )
    }

    /// Whether every alias serves its new version as recorded: the last shift is recorded
    /// (`AllShifted`), or its final bake is under way (`Baking` at 100 %: a bake's end is not
    /// recorded, so a success whose Finish failed leaves the record there).
    pub(crate) fn all_shifted(&self) -> bool {
        self.status == Status::AllShifted
            || (self.status == Status::Baking && self.weight.is_full())
    }

    /// The last step of a successful deployment: every alias serves its new version.
    pub fn finish(&mut self, now: Timestamp) -> Result<(), Error> {
        if !self.all_shifted() {
            return Err(Error::internal(format!(
                "finish was called with status {:?}; it runs only after AllShifted",
                self.status
            )));
        }
        self.status = Status::Deployed;
        let warnings = match self.warnings.len() {
            0 => String::new(),
            1 => " (1 warning: see warnings)".to_string(),
            n => format!(" ({n} warnings: see warnings)"),
        };
        let on_new: Vec<String> = self
            .targets
            .iter()
            .map(|t| format!("{} on version {}", t.name(), t.target_version))
            .collect();
        let message = if self.dry_run && !self.would_refuse.is_empty() {
            format!(
                "dry run over, no alias written: every check passed, but a real deployment would \
                 have been refused: {}{warnings}",
                self.would_refuse.join("; ")
            )
        } else if self.dry_run {
            format!(
                "dry run passed, no alias written: a real deployment would have deployed {}{warnings}",
                on_new.join("; ")
            )
        } else {
            format!("deployed: {}{warnings}", on_new.join("; "))
        };
        self.record(now, message);
        Ok(())
    }
}

/// "the execution was stopped (ABORTED)", "the execution failed with States.Runtime (...)".
fn what_happened(ended: &ExecutionEnded) -> String {
    let how = match ended.status {
        ExecutionStatus::Aborted => "was stopped".to_string(),
        ExecutionStatus::TimedOut => "timed out".to_string(),
        ExecutionStatus::Unknown => "ended, and Step Functions no longer knows how".to_string(),
        _ => match (&ended.error, &ended.cause) {
            (Some(e), Some(c)) => format!(
                "failed with {e} ({})",
                Failure {
                    error: FailureName::from(e.clone()),
                    cause: c.clone(),
                }
                .plain_cause()
            ),
            (Some(e), None) => format!("failed with {e}"),
            _ => "failed".to_string(),
        },
    };
    format!("the execution {how} ({})", ended.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::FromEvent;
    use crate::testing::{EXECUTION, breached, one_target, t};
    use serde_json::{Value, json};

    fn event(status: &str) -> Value {
        json!({
            "version": "0", "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": EXECUTION, "name": "d-1", "status": status,
                       "error": null, "cause": null}
        })
    }

    fn ended(status: &str) -> ExecutionEnded {
        ExecutionEnded::from_event(&event(status)).unwrap()
    }

    /// A dry run ends saying what a real deployment would have done, and that it wrote nothing;
    /// it holds no lock, and the alias journal does not list it.
    #[test]
    fn a_dry_run_ends_saying_it_wrote_nothing() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        d.dry_run = true;
        assert!(d.locks().is_empty());
        assert!(d.journal_entries().is_empty());
        d.record_shift(0, vec![String::new()], t(1)).unwrap();
        d.finish(t(2)).unwrap();
        assert_eq!(d.status, Status::Deployed);
        assert!(
            d.history.last().unwrap().message.starts_with(
                "dry run passed, no alias written: a real deployment would have deployed"
            ),
            "{:?}",
            d.history
        );
        // Through a freeze: every check passed, and the ending says a real one would be refused.
        let mut frozen = one_target(json!("AllAtOnce"), &[]);
        frozen.dry_run = true;
        frozen.record_would_refuse(vec!["all functions frozen by alice".into()], t(0));
        frozen.record_shift(0, vec![String::new()], t(1)).unwrap();
        frozen.finish(t(2)).unwrap();
        assert_eq!(
            frozen.history.last().unwrap().message,
            "dry run over, no alias written: every check passed, but a real deployment would have \
             been refused: all functions frozen by alice"
        );
        let mut stopped = one_target(json!("Canary10Percent5Minutes"), &[]);
        stopped.dry_run = true;
        stopped.fail_from(&ended("ABORTED"), &SettledBy::SafetyNet);
        assert!(
            stopped
                .failure
                .unwrap()
                .cause
                .ends_with("; sluice's safety net settled the dry run")
        );
    }

    #[test]
    fn a_stop_mid_bake_is_explained_and_settled_once() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let ended = ended("ABORTED");
        assert!(d.unsettled_by(&ended));
        assert_eq!(d.settlement(&ended), Settlement::RollBack);
        d.fail_from(&ended, &SettledBy::SafetyNet);
        let f = d.failure.clone().unwrap();
        assert_eq!(f.error, "ExecutionAborted");
        assert_eq!(
            f.cause,
            "the execution was stopped (ABORTED) at step 1/2 (10% on the new version); sluice's safety net rolled it back"
        );
        d.status = Status::RolledBack;
        assert!(!d.unsettled_by(&ended), "a duplicate event changes nothing");
        assert_eq!(d.settlement(&ended), Settlement::Release);
        let mut other = ended.clone();
        other.execution_arn = "arn:another".into();
        let fresh = one_target(json!("AllAtOnce"), &[]);
        assert!(!fresh.unsettled_by(&other), "another execution's event");
        assert_eq!(fresh.settlement(&other), Settlement::NotOurs);
    }

    #[test]
    fn a_success_whose_finish_failed_is_finished() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        assert_eq!(d.settlement(&ended("SUCCEEDED")), Settlement::Finish);
        d.finish(t(2)).unwrap();
        assert_eq!(d.settlement(&ended("SUCCEEDED")), Settlement::Release);
    }

    /// A last step with a bake: the record says Baking at 100 % while the final bake runs (its
    /// end is not recorded). When Finish then keeps failing and the execution succeeds, the
    /// safety net (and the sweeper) record it as deployed, instead of leaving it open for ever.
    #[test]
    fn a_success_whose_finish_failed_after_a_final_bake_is_finished() {
        let steps = json!({"steps": [{"weight": 50, "bake": "1m"}, {"weight": 100, "bake": "5m"}]});
        let mut d = one_target(steps, &[]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        d.status = Status::ShiftNext;
        d.record_shift(1, vec!["r2".into()], t(2)).unwrap();
        assert_eq!(d.status, Status::Baking);
        assert_eq!(d.settlement(&ended("SUCCEEDED")), Settlement::Finish);
        d.finish(t(3)).unwrap();
        assert_eq!(d.status, Status::Deployed);
        // A bake at less than 100 % is never finished: the execution cannot have succeeded there.
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        assert!(d.finish(t(2)).is_err());
    }

    #[test]
    fn a_timeout_without_a_recorded_failure_is_named_from_the_catalog() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.fail_from(&ended("TIMED_OUT"), &SettledBy::SafetyNet);
        let f = d.failure.unwrap();
        assert_eq!(f.error, ErrorName::ExecutionTimedOut);
        assert!(
            f.cause
                .starts_with("the execution timed out (TIMED_OUT) before any traffic moved")
        );
    }

    #[test]
    fn a_deployment_settled_by_the_next_one_says_so() {
        let mut d = one_target(json!("Canary10Percent5Minutes"), &[]);
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        let by = SettledBy::Takeover {
            deployment_id: "d-2".into(),
        };
        d.fail_from(&ended("ABORTED"), &by);
        assert_eq!(
            d.failure.unwrap().cause,
            "the execution was stopped (ABORTED) at step 1/2 (10% on the new version); deployment \
             d-2 rolled it back before taking over its lock (the safety net had not yet)"
        );
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
        d.fail_from(&ended, &SettledBy::SafetyNet);
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
    fn a_finish_that_comes_after_a_settlement_is_no_success() {
        let mut record = breached(["r1", "r2"]);
        record.status = Status::RolledBack;
        let e = Deployment::finished_before(record).unwrap_err();
        assert_eq!(e.name, ErrorName::AlreadySettled);
        assert!(
            e.message.starts_with(
                "deployment d-1 was settled as RolledBack before this execution reached its end"
            ),
            "{}",
            e.message
        );
        assert!(
            e.message.ends_with(": alarm errors is in ALARM"),
            "{}",
            e.message
        );
        let mut deployed = one_target(json!("AllAtOnce"), &[]);
        deployed.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        deployed.finish(t(2)).unwrap();
        assert_eq!(
            Deployment::finished_before(deployed.clone()).unwrap(),
            deployed,
            "its own earlier try"
        );
    }

    #[test]
    fn finishing_needs_every_step_done() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        assert!(d.finish(t(0)).is_err());
        d.record_shift(0, vec!["r1".into()], t(1)).unwrap();
        d.finish(t(2)).unwrap();
        assert_eq!(d.status, Status::Deployed);
        assert_eq!(
            d.history.last().unwrap().message,
            "deployed: orders:live on version 4"
        );
    }
}
