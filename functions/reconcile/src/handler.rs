//! reconcile: settles a deployment's ending from its ledger record.
//! - `{"finished": <document>}`, the state machine's last step: the deployment is done; record
//!   it and release its locks.
//! - An EventBridge "Step Functions Execution Status Change" event for an execution that was
//!   stopped, timed out or failed where no Catch runs: roll back every alias that still carries
//!   sluice's weights (the same rule as rollback, conditional on RevisionId), record why, and
//!   release the locks. Safe to run twice, and beside the state machine's own Rollback.

use serde_json::{Value, json};
use sluice_aws::alias::restore_all;
use sluice_aws::locks::unlock_aliases;
use sluice_aws::{FunctionStore, Ledger};
use sluice_core::{Deployment, Error, ExecutionEnded};

pub async fn reconcile<F: FunctionStore, L: Ledger>(
    functions: &F,
    ledger: &L,
    input: Value,
    now: &str,
) -> Result<Value, Error> {
    if let Some(document) = input.get("finished") {
        let mut doc = Deployment::from_json(document.clone())?;
        doc.finish(now)?;
        ledger.save(&doc).await?;
        unlock_aliases(ledger, &doc).await?;
        return Ok(doc.to_json());
    }
    let Some(ended) = ExecutionEnded::from_event(&input) else {
        return Ok(json!({"settled": "not an execution that ended badly"}));
    };
    let Some(record) = ledger.load(&ended.deployment_id).await? else {
        return Ok(json!({"settled": "no record: the deployment moved nothing"}));
    };
    let mut doc = Deployment::from_json(record)?;
    if doc.unsettled_by(&ended) {
        doc.fail_from(&ended);
        let outcomes = restore_all(functions, &doc).await;
        doc.record_rollback(outcomes, now)?;
        ledger.save(&doc).await?;
    }
    if doc.execution_arn == ended.execution_arn {
        unlock_aliases(ledger, &doc).await?;
    }
    Ok(doc.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_aws::AwsErrorKind;
    use sluice_aws::fake::FakeAws;
    use sluice_core::testing::{EXECUTION, ten, v};
    use sluice_core::{Routing, Status};

    /// a:live at 10 % of version 2 mid-bake, recorded and locked, as a stopped execution left it.
    fn stopped() -> (FakeAws, Deployment) {
        let aws = FakeAws::new()
            .function("a", 2)
            .alias("a", "live", ten())
            .function("c", 1);
        let mut d = sluice_core::testing::baking(&[]);
        d.targets[0].revision_id = aws.current("a", "live").unwrap().revision_id;
        let aws = d
            .locks()
            .iter()
            .fold(aws, |aws, l| aws.lock(&l.key, d.holder("t0")));
        aws.set_record("d-1", d.to_json());
        (aws, d)
    }

    fn event(status: &str, execution: &str) -> Value {
        json!({
            "version": "0", "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": execution, "name": "d-1", "status": status}
        })
    }

    #[tokio::test]
    async fn a_stopped_execution_is_rolled_back_and_unlocked() {
        let (aws, _) = stopped();
        let out = reconcile(&aws, &aws, event("ABORTED", EXECUTION), "t9")
            .await
            .unwrap();
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("1"))
        );
        assert!(aws.locks().is_empty());
        let record = Deployment::from_json(aws.record("d-1").unwrap()).unwrap();
        assert_eq!(record.status, Status::RolledBack);
        assert_eq!(record.to_json(), out);
        assert!(record.failure.unwrap().cause.starts_with(
            "the execution was stopped (ABORTED) at step 1/2 (10% on the new version); \
                 sluice's safety net rolled it back. Rolled back: a:live back on version 1"
        ));
    }

    #[tokio::test]
    async fn twice_or_after_rollback_changes_nothing() {
        let (aws, _) = stopped();
        reconcile(&aws, &aws, event("ABORTED", EXECUTION), "t9")
            .await
            .unwrap();
        let (writes, record) = (aws.writes(), aws.record("d-1"));
        reconcile(&aws, &aws, event("ABORTED", EXECUTION), "t10")
            .await
            .unwrap();
        assert_eq!((aws.writes(), aws.record("d-1")), (writes, record));
    }

    #[tokio::test]
    async fn events_of_other_executions_and_statuses_are_ignored() {
        let (aws, _) = stopped();
        for e in [
            event("ABORTED", "arn:another"),
            event("SUCCEEDED", EXECUTION),
            json!({"hello": 1}),
        ] {
            reconcile(&aws, &aws, e, "t9").await.unwrap();
        }
        assert_eq!(aws.current("a", "live").unwrap().routing, ten());
        assert_eq!(
            aws.locks().len(),
            1,
            "the running deployment keeps its lock"
        );
    }

    #[tokio::test]
    async fn an_aws_failure_is_an_error_to_be_retried_and_the_retry_finishes() {
        let (aws, _) = stopped();
        aws.fail_next("UpdateAlias", AwsErrorKind::Transient, false);
        let err = reconcile(&aws, &aws, event("FAILED", EXECUTION), "t9")
            .await
            .unwrap_err();
        assert!(
            err.message
                .contains("Rollback not finished: a:live could not be rolled back"),
            "{}",
            err.message
        );
        assert_eq!(
            aws.locks().len(),
            1,
            "locks stay until the aliases are back"
        );
        reconcile(&aws, &aws, event("FAILED", EXECUTION), "t10")
            .await
            .unwrap();
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("1"))
        );
        assert!(aws.locks().is_empty());
    }

    #[tokio::test]
    async fn the_last_step_of_a_success_records_it_and_unlocks() {
        let (aws, mut d) = stopped();
        d.status = Status::AllShifted;
        let out = reconcile(&aws, &aws, json!({"finished": d.to_json()}), "t9")
            .await
            .unwrap();
        assert_eq!(out["status"], "Deployed");
        assert!(aws.locks().is_empty());
        assert_eq!(aws.record("d-1").unwrap()["status"], "Deployed");
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            ten(),
            "finish moves no alias"
        );
    }
}
