//! shift: Deployment -> Deployment. Moves every target's alias to the next step's weight,
//! conditional on the RevisionId sluice last saw. Idempotent under retry.

use serde_json::Value;
use sluice_aws::FunctionStore;
use sluice_aws::alias::write_alias;
use sluice_core::{Deployment, Error};

pub async fn shift<F: FunctionStore>(
    functions: &F,
    input: Value,
    now: &str,
) -> Result<Deployment, Error> {
    let mut doc = Deployment::from_json(input)?;
    let (index, step) = doc.next_step()?;
    let mut revisions = Vec::new();
    for target in doc.shifting_targets() {
        let wanted = target.wanted_routing(step.weight)?;
        let decide = |observed: Option<&_>| target.decide_shift(observed, &wanted);
        revisions.push(
            write_alias(functions, target, &wanted, decide)
                .await?
                .revision()?,
        );
    }
    doc.record_shift(index, revisions, now)?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_aws::AwsErrorKind;
    use sluice_aws::fake::FakeAws;
    use sluice_core::testing::{ten, two_targets, v};
    use sluice_core::{ErrorName, Routing, Status};

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

    #[tokio::test]
    async fn shifts_every_target_in_lockstep_then_finishes_on_the_new_version() {
        let (aws, d) = setup(json!({"canary": {"percent": 10, "interval": "1m"}}));
        let d = shift(&aws, d.to_json(), "t1").await.unwrap();
        assert_eq!(d.status, Status::Baking);
        assert_eq!(aws.current("a", "live").unwrap().routing, ten());
        assert_eq!(aws.current("b", "live").unwrap().routing, ten());
        let mut d = d;
        d.status = Status::ShiftNext; // as check-alarms leaves it once baked
        let d = shift(&aws, d.to_json(), "t2").await.unwrap();
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
        let err = shift(&aws, d.to_json(), "t1").await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
        let retried = shift(&aws, d.to_json(), "t1").await.unwrap();
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
        shift(&aws, d.to_json(), "t1").await.unwrap();
        assert_eq!(aws.writes().len(), 2);
    }

    #[tokio::test]
    async fn a_foreign_change_is_a_conflict_and_is_not_clobbered() {
        let (aws, d) = setup(json!("Canary10Percent5Minutes"));
        aws.set_alias("b", "live", Routing::only(v("2")));
        let before = aws.current("b", "live").unwrap();
        let err = shift(&aws, d.to_json(), "t1").await.unwrap_err();
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
        let err = shift(&aws, d.to_json(), "t1").await.unwrap_err();
        assert_eq!(err.name, ErrorName::AliasConflict);
        assert!(err.message.contains("deleted"));
    }

    #[tokio::test]
    async fn refuses_a_document_at_the_wrong_point() {
        let (aws, mut d) = setup(json!("AllAtOnce"));
        d.status = Status::Baking;
        assert_eq!(
            shift(&aws, d.to_json(), "t").await.unwrap_err().name,
            ErrorName::InternalError
        );
        assert_eq!(
            shift(&aws, json!({"hello": 1}), "t")
                .await
                .unwrap_err()
                .name,
            ErrorName::InternalError
        );
        assert!(aws.writes().is_empty());
    }
}
