//! shift: Deployment -> Deployment. Moves every target's alias to the next step's weight,
//! conditional on the RevisionId sluice last saw (a first deployment's alias is created here,
//! after its PreTraffic hook passed), then records the document in the ledger before returning.
//! A dry run writes no alias: it reads each, and records what a real shift would have written.
//! Idempotent under retry.

use sluice_aws::alias::write_alias;
use sluice_aws::ending::refuse_if_settled;
use sluice_aws::{FunctionStore, Ledger, Saved};
use sluice_core::{Deployment, Error, Timestamp};

pub async fn shift<F: FunctionStore, L: Ledger>(
    functions: &F,
    ledger: &L,
    mut doc: Deployment,
    now: Timestamp,
) -> Result<Deployment, Error> {
    let (index, step) = doc.next_step()?;
    refuse_if_settled(ledger, &doc).await?;
    if doc.dry_run {
        // Nothing is written: each alias is read, to say so when something else moved it.
        let mut observed = Vec::new();
        for target in doc.moving_targets() {
            observed.push(
                functions
                    .get_alias(&target.function_name, &target.alias)
                    .await?,
            );
        }
        doc.record_dry_shift(index, &observed, now)?;
    } else {
        let mut revisions = Vec::new();
        for target in doc.moving_targets() {
            let wanted = target.wanted_routing(step.weight)?;
            let decide = |observed: Option<&_>| target.decide_shift(observed, &wanted);
            revisions.push(
                write_alias(functions, target, &wanted, decide)
                    .await?
                    .revision()?,
            );
        }
        doc.record_shift(index, revisions, now)?;
    }
    match ledger.save(&doc).await? {
        Saved::Written => Ok(doc),
        // The execution ended and the safety net rolled back while this ran: its writes are
        // fenced off already; say so instead of recording a step that no longer holds.
        Saved::AlreadySettled => match ledger.load(&doc.deployment_id).await? {
            Some(record) => Err(Deployment::settled_before(&record)),
            None => Err(Error::internal("a settled record that cannot be read back")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_aws::AwsErrorKind;
    use sluice_aws::fake::FakeAws;
    use sluice_aws::runtime::read_input;
    use sluice_core::testing::t;
    use sluice_core::testing::{ten, two_targets, v};
    use sluice_core::{ErrorName, Routing, Status};

    /// shift, handed `input` as the runtime hands it over.
    async fn run(aws: &FakeAws, input: Value, now: Timestamp) -> Result<Deployment, Error> {
        shift(aws, aws, read_input("shift", input)?, now).await
    }

    /// Two targets on version 1 going to version 2, with the revisions the fake gave them.
    fn setup(strategy: Value) -> (FakeAws, Deployment) {
        let aws = FakeAws::new()
            .function("a", 2)
            .alias("a", "live", Routing::only(v("1")))
            .function("b", 2)
            .alias("b", "live", Routing::only(v("1")));
        let rev = |f| aws.current(f, "live").unwrap().revision_id;
        let d = two_targets(strategy, [&rev("a"), &rev("b")]);
        (aws, d)
    }

    /// A redriven execution reaching Shift after the safety net settled its deployment (it rolled
    /// the aliases back): no alias is written, the execution fails saying so.
    #[tokio::test]
    async fn a_deployment_settled_already_moves_nothing() {
        let (aws, d) = setup(json!({"canary": {"percent": 10, "interval": "1m"}}));
        aws.settle(&d);
        let err = run(&aws, d.to_json(), t(1)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AlreadySettled);
        assert!(aws.writes().is_empty(), "{:?}", aws.writes());
    }

    /// A dry run walks the plan writing no alias: each step is recorded as what a real shift
    /// would have written, and an alias something else moved meanwhile is said once.
    #[tokio::test]
    async fn a_dry_run_writes_no_alias_and_says_what_it_would_have() {
        let (aws, mut d) = setup(json!({"canary": {"percent": 10, "interval": "1m"}}));
        d.dry_run = true;
        let before = (aws.current("a", "live"), aws.current("b", "live"));
        let mut d = run(&aws, d.to_json(), t(1)).await.unwrap();
        assert_eq!(d.status, Status::Baking);
        assert!(aws.writes().is_empty(), "{:?}", aws.writes());
        let said = &d.history.last().unwrap().message;
        assert!(
            said.contains("dry run, no alias written")
                && said.contains("a:live to version 1 with 10% on version 2"),
            "{said}"
        );
        // Someone moves b while the dry run bakes (it holds no lock): said, as a warning.
        aws.set_alias("b", "live", Routing::only(v("2")));
        d.status = Status::ShiftNext;
        let d = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert_eq!(d.status, Status::AllShifted);
        assert!(aws.writes().is_empty(), "{:?}", aws.writes());
        assert_eq!(aws.current("a", "live"), before.0, "a untouched");
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert!(
            d.warnings[0]
                .starts_with("b:live changed (it routes to version 2 now) during the dry run"),
            "{:?}",
            d.warnings
        );
        assert_eq!(aws.record("d-1").unwrap(), d.to_json(), "recorded");
    }

    #[tokio::test]
    async fn shifts_every_target_in_lockstep_then_finishes_on_the_new_version() {
        let (aws, d) = setup(json!({"canary": {"percent": 10, "interval": "1m"}}));
        let d = run(&aws, d.to_json(), t(1)).await.unwrap();
        assert_eq!(d.status, Status::Baking);
        assert_eq!(aws.current("a", "live").unwrap().routing, ten());
        assert_eq!(aws.current("b", "live").unwrap().routing, ten());
        let mut d = d;
        d.status = Status::ShiftNext; // as check-alarms leaves it once baked
        let d = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert_eq!(d.status, Status::AllShifted);
        for f in ["a", "b"] {
            let now = aws.current(f, "live").unwrap();
            assert_eq!(
                now.routing,
                Routing::only(v("2")),
                "no routing config left on {f}"
            );
            assert_eq!(
                d.targets
                    .iter()
                    .find(|t| t.function_name == f)
                    .unwrap()
                    .revision_id,
                now.revision_id
            );
        }
    }

    #[tokio::test]
    async fn a_retry_after_a_lost_response_finds_the_write_and_succeeds() {
        let (aws, d) = setup(json!("Canary10Percent5Minutes"));
        // The write to `a` lands but its response is lost: the Lambda task fails, Step Functions retries
        // with the same document.
        aws.fail_next("UpdateAlias", AwsErrorKind::Transient, true);
        let err = run(&aws, d.to_json(), t(1)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
        let retried = run(&aws, d.to_json(), t(1)).await.unwrap();
        assert_eq!(retried.status, Status::Baking);
        assert_eq!(aws.current("a", "live").unwrap().routing, ten());
        assert_eq!(aws.current("b", "live").unwrap().routing, ten());
        assert_eq!(
            aws.writes().len(),
            2,
            "one write per alias: {:?}",
            aws.writes()
        );
        // And running the very same shift again changes nothing.
        run(&aws, d.to_json(), t(1)).await.unwrap();
        assert_eq!(aws.writes().len(), 2);
    }

    #[tokio::test]
    async fn a_change_by_someone_else_is_a_conflict_and_is_not_clobbered() {
        let (aws, d) = setup(json!("Canary10Percent5Minutes"));
        aws.set_alias("b", "live", Routing::only(v("2")));
        let before = aws.current("b", "live").unwrap();
        let err = run(&aws, d.to_json(), t(1)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AliasConflict);
        assert!(
            err.message.contains("b:live was changed by someone else"),
            "{}",
            err.message
        );
        assert_eq!(aws.current("b", "live").unwrap(), before);
    }

    #[tokio::test]
    async fn a_deleted_alias_is_a_conflict() {
        let aws = FakeAws::new().function("a", 2).function("b", 2).alias(
            "b",
            "live",
            Routing::only(v("1")),
        );
        let (_, d) = setup(json!("AllAtOnce"));
        let err = run(&aws, d.to_json(), t(1)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::AliasConflict);
        assert!(err.message.contains("deleted"));
    }

    #[tokio::test]
    async fn records_each_step_in_the_ledger() {
        let (aws, d) = setup(json!("Canary10Percent5Minutes"));
        let d = run(&aws, d.to_json(), t(1)).await.unwrap();
        assert_eq!(aws.record("d-1").unwrap(), d.to_json());
        // A record that cannot be written fails the step, to be retried (the write is found).
        let (aws, d) = setup(json!("Canary10Percent5Minutes"));
        aws.fail_next("SaveRecord", AwsErrorKind::Transient, false);
        assert_eq!(
            run(&aws, d.to_json(), t(1)).await.unwrap_err().name,
            ErrorName::TransientAws
        );
        run(&aws, d.to_json(), t(1)).await.unwrap();
        assert_eq!(aws.writes().len(), 2, "one write per alias");
    }

    #[tokio::test]
    async fn a_first_deployment_creates_its_alias_at_the_first_shift() {
        let aws = FakeAws::new().function("a", 2).function("b", 2);
        aws.set_alias("b", "live", Routing::only(v("1")));
        let mut d = two_targets(json!("Canary10Percent5Minutes"), ["x", "y"]);
        d.targets[0].action = sluice_core::Action::Created;
        d.targets[0].previous_version = None;
        d.targets[0].revision_id.clear();
        d.targets[1].revision_id = aws.current("b", "live").unwrap().revision_id;
        let d = run(&aws, d.to_json(), t(1)).await.unwrap();
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("2"))
        );
        assert_eq!(aws.current("b", "live").unwrap().routing, ten());
        assert!(!d.targets[0].revision_id.is_empty());
        let mut next = d.clone();
        next.status = Status::ShiftNext;
        run(&aws, next.to_json(), t(2)).await.unwrap();
        assert_eq!(
            aws.writes()
                .iter()
                .filter(|w| w.starts_with("CreateAlias"))
                .count(),
            1,
            "{:?}",
            aws.writes()
        );
    }

    #[tokio::test]
    async fn refuses_a_document_at_the_wrong_point() {
        let (aws, mut d) = setup(json!("AllAtOnce"));
        d.status = Status::Baking;
        assert_eq!(
            run(&aws, d.to_json(), t(0)).await.unwrap_err().name,
            ErrorName::InternalError
        );
        assert_eq!(
            run(&aws, json!({"hello": 1}), t(0)).await.unwrap_err().name,
            ErrorName::InternalError
        );
        assert!(aws.writes().is_empty());
    }
}
