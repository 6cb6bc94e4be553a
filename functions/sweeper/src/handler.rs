//! sweeper: a scheduled EventBridge event -> what it swept. The safety net's second chance, for a
//! status event Step Functions did not deliver (it delivers them best effort) or a safety net
//! whose tries ran out: every deployment whose record is not settled and whose execution is not
//! running is settled (as reconcile would), and every lock of an ended execution with nothing left
//! to settle is released (`sluice_aws::sweep`).

use serde::Deserialize;
use sluice_aws::sweep::Swept;
#[cfg(test)]
use sluice_aws::{Executions, FunctionStore, Ledger, Watches, sweep::sweep};
#[cfg(test)]
use sluice_core::Timestamp;
use sluice_core::{Error, ErrorName};

/// The schedule's event: its content does not matter, only that it came.
#[derive(Debug, Clone, Deserialize)]
pub struct Tick {}

/// One sweep, judged (main.rs runs the two halves itself, telling EventBridge in between).
#[cfg(test)]
pub async fn sweeper<F: FunctionStore, L: Ledger + Watches, X: Executions>(
    functions: &F,
    ledger: &L,
    executions: &X,
    _tick: Tick,
    now: Timestamp,
) -> Result<Swept, Error> {
    judged(sweep(functions, ledger, executions, now).await?)
}

/// A sweep's result as its invocation ends: a sweep that could not settle something is a failed
/// invocation (its record reaches the SafetyNetFailures queue, and its alarm).
pub fn judged(swept: Swept) -> Result<Swept, Error> {
    if swept.failed.is_empty() {
        return Ok(swept);
    }
    Err(Error::new(
        ErrorName::AwsFailure,
        format!(
            "settled {}, released {}; could not settle now (the next sweep tries again; each record \
             says why): {}",
            swept.settled.len(),
            swept.released.len(),
            swept.failed.join("; ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_aws::runtime::read_input;
    use sluice_core::testing::{EXECUTION, t, ten, v};
    use sluice_core::{Deployment, LockHolder, Routing, Status};

    async fn run(aws: &sluice_aws::fake::FakeAws) -> Swept {
        let tick = read_input(
            "sweeper",
            json!({"detail-type": "Scheduled Event", "detail": {}}),
        )
        .unwrap();
        sweeper(aws, aws, aws, tick, t(9)).await.unwrap()
    }

    /// A stop whose status event was lost: the record stays unsettled, the alias weighted and
    /// locked, until the sweeper comes.
    #[tokio::test]
    async fn a_deployment_whose_status_event_was_lost_is_settled() {
        let (aws, _) = sluice_aws::fake::baking_and_locked();
        let swept = run(&aws).await;
        assert_eq!(swept.settled, vec!["d-1".to_string()]);
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("1"))
        );
        assert!(aws.locks().is_empty());
        let record = Deployment::from_json(aws.record("d-1").unwrap()).unwrap();
        assert_eq!(record.status, Status::RolledBack);
        assert!(
            record
                .failure
                .unwrap()
                .cause
                .contains("sluice's safety net rolled it back")
        );
        // Nothing open is left: a second sweep does nothing.
        assert_eq!(run(&aws).await, Swept::default());
    }

    /// What cannot be settled now is said: the sweep fails (its invocation record goes to the
    /// failure queue, whose alarm a user subscribes to) after doing all it could, and the record
    /// says why; the next sweep settles it.
    #[tokio::test]
    async fn a_deployment_that_cannot_be_settled_now_fails_the_sweep_and_is_noted() {
        let (aws, _) = sluice_aws::fake::baking_and_locked();
        aws.fail_next("UpdateAlias", sluice_aws::AwsErrorKind::Transient, false);
        let tick = read_input(
            "sweeper",
            json!({"detail-type": "Scheduled Event", "detail": {}}),
        )
        .unwrap();
        let err = sweeper(&aws, &aws, &aws, tick, t(9)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AwsFailure);
        assert!(
            err.message
                .starts_with("settled 0, released 0; could not settle now"),
            "{}",
            err.message
        );
        let record = Deployment::from_json(aws.record("d-1").unwrap()).unwrap();
        assert!(!record.status.is_settled());
        assert_eq!(record.safety_net.unwrap().at, t(9));
        assert_eq!(run(&aws).await.settled, vec!["d-1".to_string()]);
    }

    #[tokio::test]
    async fn a_running_deployment_is_left_to_its_execution() {
        let (aws, _) = sluice_aws::fake::baking_and_locked();
        aws.running(EXECUTION);
        let swept = run(&aws).await;
        assert_eq!((swept.running, swept.settled.len()), (1, 0));
        assert_eq!(aws.current("a", "live").unwrap().routing, ten());
        assert_eq!(aws.locks().len(), 1);
    }

    /// A validate that died after it locked and before it recorded leaves locks nothing else
    /// would release.
    #[tokio::test]
    async fn a_lock_of_an_ended_execution_with_no_record_is_released() {
        let aws = sluice_aws::fake::FakeAws::new().lock(
            "LOCK#arn:f#live",
            LockHolder {
                deployment_id: "d-9".into(),
                execution_arn: "arn:aws:states:us-east-1:123456789012:execution:m:d-9".into(),
                since: t(0),
            },
        );
        let swept = run(&aws).await;
        assert_eq!(swept.released, vec!["LOCK#arn:f#live".to_string()]);
        assert!(aws.locks().is_empty());
    }
}
