//! reconcile: settles a deployment's ending from its ledger record.
//! - `{"finished": <document>}`, the state machine's last step: the deployment is done; record
//!   it and release its locks.
//! - An EventBridge "Step Functions Execution Status Change" event for an execution that was
//!   stopped, timed out or failed where no Catch runs: roll back every alias that still carries
//!   sluice's weights (the same rule as rollback, conditional on RevisionId, fencing off any
//!   task of the execution still running), record why, and release the locks. For one that
//!   succeeded but could not finish, finish it. Safe to run twice, and beside the state
//!   machine's own Rollback. AWS failures are retried here for most of a minute, then by Lambda.

use serde_json::{Value, json};
use sluice_aws::alias::{Fence, restore_all};
use sluice_aws::locks::{forget_watches, unlock_aliases};
use sluice_aws::{FunctionStore, Ledger, Watches};
use sluice_core::{Deployment, Error, ErrorName, ExecutionEnded};
use std::time::Duration;

/// Tries of one settlement, with 1, 2, 4, 8, 16 s between them.
const TRIES: u32 = 6;

pub async fn reconcile<F: FunctionStore, L: Ledger + Watches>(
    functions: &F,
    ledger: &L,
    input: Value,
    now: &str,
) -> Result<Value, Error> {
    let mut wait = Duration::from_secs(1);
    for _ in 1..TRIES {
        match settle(functions, ledger, &input, now).await {
            Err(e) if e.name == ErrorName::TransientAws => tokio::time::sleep(wait).await,
            done => return done,
        }
        wait *= 2;
    }
    settle(functions, ledger, &input, now).await
}

async fn settle<F: FunctionStore, L: Ledger + Watches>(
    functions: &F,
    ledger: &L,
    input: &Value,
    now: &str,
) -> Result<Value, Error> {
    if let Some(document) = input.get("finished") {
        let mut doc = Deployment::from_json(document.clone())?;
        doc.finish(now)?;
        ledger.save(&doc).await?;
        unlock_aliases(ledger, &doc).await?;
        forget_watches(ledger, &doc).await;
        return Ok(doc.to_json());
    }
    let Some(ended) = ExecutionEnded::from_event(input) else {
        return Ok(json!({"settled": "not an execution that ended"}));
    };
    let Some(record) = ledger.load(&ended.deployment_id).await? else {
        return Ok(json!({"settled": "no record: the deployment moved nothing"}));
    };
    let mut doc = Deployment::from_json(record)?;
    if doc.execution_arn != ended.execution_arn {
        return Ok(json!({"settled": "another execution's deployment"}));
    }
    if doc.finished_by(&ended) {
        doc.finish(now)?;
        ledger.save(&doc).await?;
    } else if doc.unsettled_by(&ended) && ended.status != "SUCCEEDED" {
        doc.fail_from(&ended);
        let outcomes = restore_all(functions, ledger, &doc, Fence::Yes).await;
        doc.record_rollback(outcomes, now)?;
        ledger.save(&doc).await?;
    }
    unlock_aliases(ledger, &doc).await?;
    forget_watches(ledger, &doc).await;
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
    async fn a_deployment_whose_finish_failed_is_finished_when_it_succeeded() {
        let (aws, mut d) = stopped();
        d.status = Status::AllShifted;
        aws.set_record("d-1", d.to_json());
        reconcile(&aws, &aws, event("SUCCEEDED", EXECUTION), "t9")
            .await
            .unwrap();
        assert_eq!(aws.record("d-1").unwrap()["status"], "Deployed");
        assert!(aws.locks().is_empty());
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            ten(),
            "nothing rolled back"
        );
    }

    #[tokio::test]
    async fn an_alias_another_deployment_locked_since_is_left_to_it() {
        let (aws, d) = stopped();
        let key = d.locks()[0].key.clone();
        let next = sluice_core::LockHolder {
            deployment_id: "d-2".into(),
            execution_arn: "arn:next".into(),
            since: "t5".into(),
        };
        let aws = aws.lock(&key, next.clone());
        reconcile(&aws, &aws, event("ABORTED", EXECUTION), "t9")
            .await
            .unwrap();
        assert_eq!(aws.current("a", "live").unwrap().routing, ten());
        assert_eq!(aws.lock_holder(&key), Some(next));
        let record = aws.record("d-1").unwrap();
        assert_eq!(record["status"], "RollbackIncomplete");
        assert!(
            record["failure"]["Cause"]
                .as_str()
                .unwrap()
                .contains("is locked by deployment d-2")
        );
    }

    #[tokio::test]
    async fn a_stop_fences_off_a_shift_still_running() {
        // Stopped before the first shift landed: the alias is as the record says, and a shift of
        // the stopped execution may still be running with that revision.
        let aws = FakeAws::new()
            .function("a", 2)
            .alias("a", "live", Routing::only(v("1")));
        let mut d =
            sluice_core::testing::one_target(serde_json::json!("Canary10Percent5Minutes"), &[]);
        d.targets[0].function_name = "a".into();
        d.targets[0].previous_version = Some(v("1"));
        d.targets[0].target_version = v("2");
        d.targets[0].revision_id = aws.current("a", "live").unwrap().revision_id;
        let aws = d
            .locks()
            .iter()
            .fold(aws, |aws, l| aws.lock(&l.key, d.holder("t0")));
        aws.set_record("d-1", d.to_json());
        reconcile(&aws, &aws, event("ABORTED", EXECUTION), "t9")
            .await
            .unwrap();
        assert_ne!(
            aws.current("a", "live").unwrap().revision_id,
            d.targets[0].revision_id,
            "the recorded revision no longer opens the alias"
        );
        // The late shift's conditional write now fails, and its record is refused.
        let late = sluice_aws::alias::write_alias(
            &aws,
            &d.targets[0],
            &d.targets[0]
                .wanted_routing(sluice_core::Weight::from_percent(10.0).unwrap())
                .unwrap(),
            |o| {
                d.targets[0].decide_shift(
                    o,
                    &d.targets[0]
                        .wanted_routing(sluice_core::Weight::from_percent(10.0).unwrap())
                        .unwrap(),
                )
            },
        )
        .await
        .unwrap();
        assert!(
            matches!(late, sluice_core::AliasWrite::Conflict(_)),
            "{late:?}"
        );
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("1"))
        );
        assert_eq!(
            sluice_aws::Ledger::save(&aws, &d).await.unwrap(),
            sluice_aws::Saved::AlreadySettled
        );
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
            event("RUNNING", EXECUTION),
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
    async fn an_aws_failure_is_retried_until_it_passes() {
        let (aws, _) = stopped();
        aws.fail_next("UpdateAlias", AwsErrorKind::Transient, false);
        // One settlement fails, saying where the alias is; reconcile's own loop tries again.
        let err = settle(&aws, &aws, &event("FAILED", EXECUTION), "t9")
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
