//! reconcile, the safety net: an EventBridge "Step Functions Execution Status Change" event for
//! an execution that ended -> what it settled. An execution stopped, timed out or failed where
//! no Catch runs: roll back every alias that still carries sluice's weights (the same rule as
//! rollback, conditional on RevisionId, fencing off any task of the execution still running),
//! record why, and release the locks and watches. One that succeeded but could not finish:
//! finish it. sluice-core decides which (`Deployment::settlement`). Safe to run twice, and beside
//! the state machine's own Rollback. AWS failures are retried here for about half a minute
//! (`Backoff::SAFETY_NET`), then by Lambda's retries of the event.

use sluice_aws::ending::{Settled, settle};
use sluice_aws::retry::Backoff;
use sluice_aws::sweep::note_failure;
use sluice_aws::{Executions, FunctionStore, Ledger, Watches};
use sluice_core::{Error, ExecutionEnded, Incoming, SettledBy, Timestamp};

pub async fn reconcile<F: FunctionStore, L: Ledger + Watches, X: Executions>(
    functions: &F,
    ledger: &L,
    executions: &X,
    event: Incoming<ExecutionEnded>,
    now: Timestamp,
) -> Result<Settled, Error> {
    reconcile_with(
        Backoff::SAFETY_NET,
        functions,
        ledger,
        executions,
        event,
        now,
    )
    .await
}

async fn reconcile_with<F: FunctionStore, L: Ledger + Watches, X: Executions>(
    backoff: Backoff,
    functions: &F,
    ledger: &L,
    executions: &X,
    event: Incoming<ExecutionEnded>,
    now: Timestamp,
) -> Result<Settled, Error> {
    let ended = match event {
        Incoming::Event(ended) => ended,
        Incoming::Ignored(why) => return Ok(Settled::Ignored { why }),
    };
    // Redriven since this event (same ARN, running again): its own phases carry the deployment
    // on, and would meet this settlement's fence. Unread (throttled), the event is trusted.
    if executions
        .runs_again(&ended.execution_arn)
        .await
        .unwrap_or(false)
    {
        return Ok(Settled::Ignored {
            why: format!(
                "{} is running again (redriven) since it ended {}",
                ended.execution_arn, ended.status
            ),
        });
    }
    let settled = backoff
        .run(|| settle(functions, ledger, &ended, &SettledBy::SafetyNet, now))
        .await;
    if let Err(e) = &settled {
        // Said in the record; Lambda retries the event, then the sweeper tries on its schedule.
        note_failure(ledger, &ended.deployment_id, &e.message, now).await;
    }
    settled
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_aws::AwsErrorKind;
    use sluice_aws::fake::FakeAws;
    use sluice_aws::runtime::read_input;
    use sluice_core::testing::{EXECUTION, t, ten, v};
    use sluice_core::{Deployment, FromEvent, Routing, Status};

    /// reconcile, handed `event` as EventBridge hands it over; the document it settled, if any.
    async fn run(aws: &FakeAws, event: Value, now: Timestamp) -> Result<Option<Deployment>, Error> {
        Ok(
            match reconcile(aws, aws, aws, read_input("reconcile", event)?, now).await? {
                Settled::Settled { document, .. } => Some(*document),
                _ => None,
            },
        )
    }

    /// a:live at 10 % of version 2 mid-bake, recorded and locked, as a stopped execution left it.
    fn stopped() -> (FakeAws, Deployment) {
        sluice_aws::fake::baking_and_locked()
    }

    fn event(status: &str, execution: &str) -> Value {
        json!({
            "version": "0", "source": "aws.states",
            "detail-type": "Step Functions Execution Status Change",
            "detail": {"executionArn": execution, "name": "d-1", "status": status}
        })
    }

    /// A stopped dry run is settled with no alias written: not even the fence a real
    /// deployment's settling writes.
    #[tokio::test]
    async fn a_stopped_dry_run_is_settled_writing_no_alias() {
        let (aws, mut d) = stopped();
        d.dry_run = true;
        aws.set_record("d-1", d.to_json());
        let before = aws.current("a", "live");
        let out = run(&aws, event("ABORTED", EXECUTION), t(9))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out.status, Status::RolledBack);
        assert_eq!(aws.current("a", "live"), before);
        assert!(
            !aws.writes().iter().any(|w| w.contains("Alias")),
            "{:?}",
            aws.writes()
        );
    }

    #[tokio::test]
    async fn a_stopped_execution_is_rolled_back_and_unlocked() {
        let (aws, _) = stopped();
        let out = run(&aws, event("ABORTED", EXECUTION), t(9)).await.unwrap();
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("1"))
        );
        assert!(aws.locks().is_empty());
        let record = Deployment::from_json(aws.record("d-1").unwrap()).unwrap();
        assert_eq!(record.status, Status::RolledBack);
        assert_eq!(Some(&record), out.as_ref());
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
        run(&aws, event("SUCCEEDED", EXECUTION), t(9))
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
            since: t(5),
        };
        let aws = aws.lock(&key, next.clone());
        run(&aws, event("ABORTED", EXECUTION), t(9)).await.unwrap();
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
        d.targets[0].function_name = sluice_core::testing::function("a");
        d.targets[0].previous_version = Some(v("1"));
        d.targets[0].target_version = v("2");
        d.targets[0].revision_id = aws.current("a", "live").unwrap().revision_id;
        let aws = d
            .locks()
            .iter()
            .fold(aws, |aws, l| aws.lock(&l.key, d.holder(t(0))));
        aws.set_record("d-1", d.to_json());
        run(&aws, event("ABORTED", EXECUTION), t(9)).await.unwrap();
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
        run(&aws, event("ABORTED", EXECUTION), t(9)).await.unwrap();
        let (writes, record) = (aws.writes(), aws.record("d-1"));
        run(&aws, event("ABORTED", EXECUTION), t(10)).await.unwrap();
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
            run(&aws, e, t(9)).await.unwrap();
        }
        assert_eq!(aws.current("a", "live").unwrap().routing, ten());
        assert_eq!(
            aws.locks().len(),
            1,
            "the running deployment keeps its lock"
        );
    }

    /// AWS keeps failing past the safety net's own tries: the record says so (when, and where
    /// the alias was left), so `sluice status` can tell; the sweeper tries again later.
    #[tokio::test]
    async fn a_safety_net_that_cannot_settle_says_so_in_the_record() {
        let (aws, _) = stopped();
        for _ in 0..6 {
            aws.fail_next("UpdateAlias", AwsErrorKind::Transient, false);
        }
        let quick = Backoff {
            first_wait: std::time::Duration::from_millis(1),
            ..Backoff::SAFETY_NET
        };
        let event = read_input("reconcile", event("ABORTED", EXECUTION)).unwrap();
        let err = reconcile_with(quick, &aws, &aws, &aws, event, t(9))
            .await
            .unwrap_err();
        assert_eq!(err.name, sluice_core::ErrorName::TransientAws);
        let record = Deployment::from_json(aws.record("d-1").unwrap()).unwrap();
        assert!(!record.status.is_settled());
        let note = record.safety_net.unwrap();
        assert_eq!(note.at, t(9));
        assert!(
            note.why.contains("a:live could not be rolled back")
                && note.why.contains("is at version 1 with 10%"),
            "{}",
            note.why
        );
    }

    /// A redrive within the safety net's reach (its event came before the redrive started the
    /// execution again): the running execution's phases own the deployment; nothing is settled.
    #[tokio::test]
    async fn an_execution_running_again_is_left_to_itself() {
        let (aws, _) = stopped();
        aws.redriven(EXECUTION);
        let out = reconcile(
            &aws,
            &aws,
            &aws,
            read_input("reconcile", event("ABORTED", EXECUTION)).unwrap(),
            t(9),
        )
        .await
        .unwrap();
        assert!(matches!(out, Settled::Ignored { .. }), "{out:?}");
        assert_eq!(aws.current("a", "live").unwrap().routing, ten());
        assert!(!aws.locks().is_empty());
    }

    #[tokio::test]
    async fn an_aws_failure_is_retried_until_it_passes() {
        let (aws, _) = stopped();
        aws.fail_next("UpdateAlias", AwsErrorKind::Transient, false);
        // One settlement fails, saying where the alias is; reconcile's own loop tries again.
        let ended = ExecutionEnded::from_event(&event("FAILED", EXECUTION)).unwrap();
        let err = settle(&aws, &aws, &ended, &SettledBy::SafetyNet, t(9))
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
        run(&aws, event("FAILED", EXECUTION), t(10)).await.unwrap();
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("1"))
        );
        assert!(aws.locks().is_empty());
    }
}
