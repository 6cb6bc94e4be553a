//! rollback: Deployment -> Deployment. Points every shifted alias back at its recorded
//! version with no weights, but only an alias that still looks as sluice left it. Safe to run
//! twice. Refusals are reported together, after every alias that could be restored was.

use serde_json::Value;
use sluice_aws::{AwsErrorKind, FunctionStore};
use sluice_core::{
    Action, Deployment, Error, RollbackDecision, RollbackOutcome, Routing, TargetState,
};

pub async fn rollback<F: FunctionStore>(
    functions: &F,
    input: Value,
    now: &str,
) -> Result<Deployment, Error> {
    let mut doc = Deployment::from_json(input)?;
    let mut outcomes = Vec::with_capacity(doc.targets.len());
    for (i, target) in doc.targets.iter().enumerate() {
        let (outcome, revision) = match target.action {
            Action::Created => (
                RollbackOutcome::NotTouched(
                    "created by this deployment; there is no earlier version".into(),
                ),
                None,
            ),
            Action::Unchanged => (
                RollbackOutcome::NotTouched("not shifted by this deployment".into()),
                None,
            ),
            Action::Shift => restore(functions, &doc, target).await?,
        };
        outcomes.push((i, outcome, revision));
    }
    doc.record_rollback(outcomes, now)?;
    Ok(doc)
}

async fn restore<F: FunctionStore>(
    functions: &F,
    doc: &Deployment,
    target: &TargetState,
) -> Result<(RollbackOutcome, Option<String>), Error> {
    let Some(previous) = target.previous_version.clone() else {
        return Ok((
            RollbackOutcome::Refused(format!(
                "{} has no recorded previous version",
                target.name()
            )),
            None,
        ));
    };
    // Two tries: a conflicting write between our read and our write gets one fresh look.
    for _ in 0..2 {
        let Some(observed) = functions
            .get_alias(&target.function_name, &target.alias)
            .await?
        else {
            return Ok((
                RollbackOutcome::Refused(format!(
                    "{} was deleted during the deployment",
                    target.name()
                )),
                None,
            ));
        };
        match doc.decide_rollback(target, &observed) {
            RollbackDecision::AlreadyRolledBack => {
                return Ok((
                    RollbackOutcome::AlreadyRolledBack,
                    Some(observed.revision_id),
                ));
            }
            RollbackDecision::Foreign(why) => return Ok((RollbackOutcome::Refused(why), None)),
            RollbackDecision::RollBack { expected_revision } => {
                match functions
                    .update_alias(
                        &target.function_name,
                        &target.alias,
                        &Routing::only(previous.clone()),
                        &expected_revision,
                    )
                    .await
                {
                    Ok(revision) => return Ok((RollbackOutcome::RolledBack, Some(revision))),
                    Err(e) if e.kind == AwsErrorKind::Conflict => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok((
        RollbackOutcome::Refused(format!(
            "{} kept changing while sluice rolled it back",
            target.name()
        )),
        None,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_aws::fake::FakeAws;
    use sluice_core::{ErrorName, Failure, Request, ResolvedTarget, Status, Version, Weight};

    fn v(n: &str) -> Version {
        Version::parse(n).unwrap()
    }

    fn ten() -> Routing {
        Routing {
            version: v("1"),
            additional: Some((v("2"), Weight::from_percent(10.0).unwrap())),
        }
    }

    /// Targets a and b shifted to 10 % of version 2, then an alarm fired.
    fn breached() -> (FakeAws, Deployment) {
        let aws = FakeAws::new()
            .function("a", 2)
            .alias("a", "live", ten())
            .function("b", 2)
            .alias("b", "live", ten())
            .function("c", 1)
            .alias("c", "live", Routing::only(v("1")));
        let request = Request::parse(&json!({
            "targets": [
                {"functionName": "a", "alias": "live", "targetVersion": "2"},
                {"functionName": "b", "alias": "live", "targetVersion": "2"},
                {"functionName": "c", "alias": "live", "targetVersion": "1"}
            ],
            "strategy": "Canary10Percent5Minutes"
        }))
        .unwrap();
        let mut resolved: Vec<ResolvedTarget> = (0..2)
            .map(|_| ResolvedTarget {
                action: Action::Shift,
                previous_version: Some(v("1")),
                target_version: v("2"),
                revision_id: "old".into(),
            })
            .collect();
        resolved.push(ResolvedTarget {
            action: Action::Unchanged,
            previous_version: Some(v("1")),
            target_version: v("1"),
            revision_id: "c".into(),
        });
        let mut d = Deployment::new(&request, "d-1", "t0", resolved).unwrap();
        let revs = ["a", "b"]
            .iter()
            .map(|f| aws.current(f, "live").unwrap().revision_id)
            .collect();
        d.record_shift(0, revs, "t1").unwrap();
        d.status = Status::AlarmBreached;
        d.failure = Some(Failure {
            error: "AlarmBreached".into(),
            cause: "alarm errors is in ALARM".into(),
        });
        (aws, d)
    }

    #[tokio::test]
    async fn rolls_every_target_back_and_keeps_the_reason() {
        let (aws, d) = breached();
        let out = rollback(&aws, d.to_json(), "t2").await.unwrap();
        assert_eq!(out.status, Status::RolledBack);
        for f in ["a", "b"] {
            assert_eq!(
                aws.current(f, "live").unwrap().routing,
                Routing::only(v("1"))
            );
        }
        let failure = out.failure.unwrap();
        assert_eq!(failure.error, "AlarmBreached");
        assert!(failure.cause.starts_with("alarm errors is in ALARM. Rolled back: a:live back on version 1; b:live back on version 1; c:live left alone"), "{}", failure.cause);
        assert!(!aws.writes().iter().any(|w| w.contains("c:live")));
    }

    #[tokio::test]
    async fn running_twice_is_safe() {
        let (aws, d) = breached();
        rollback(&aws, d.to_json(), "t2").await.unwrap();
        let writes = aws.writes().len();
        let again = rollback(&aws, d.to_json(), "t3").await.unwrap();
        assert_eq!(again.status, Status::RolledBack);
        assert_eq!(aws.writes().len(), writes, "the second run writes nothing");
        assert!(
            again
                .failure
                .unwrap()
                .cause
                .contains("a:live already on version 1")
        );
    }

    #[tokio::test]
    async fn refuses_a_foreign_alias_but_restores_the_others() {
        // Someone set a weight no step of the plan has, under a revision sluice never wrote.
        let (aws, d) = breached();
        aws.set_alias(
            "b",
            "live",
            Routing {
                version: v("1"),
                additional: Some((v("2"), Weight::from_percent(42.0).unwrap())),
            },
        );
        let foreign = aws.current("b", "live").unwrap();
        let err = rollback(&aws, d.to_json(), "t2").await.unwrap_err();
        assert_eq!(err.name, ErrorName::AliasConflict);
        assert!(
            err.message
                .contains("Rollback INCOMPLETE: b:live was changed by someone else"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("Done: a:live back on version 1"),
            "{}",
            err.message
        );
        assert_eq!(
            aws.current("b", "live").unwrap(),
            foreign,
            "the foreign change is left as it is"
        );
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("1"))
        );
    }

    #[tokio::test]
    async fn a_transient_failure_is_retryable_and_the_retry_finishes() {
        let (aws, d) = breached();
        aws.fail_next("UpdateAlias", AwsErrorKind::Transient, true);
        assert_eq!(
            rollback(&aws, d.to_json(), "t2").await.unwrap_err().name,
            ErrorName::TransientAws
        );
        let out = rollback(&aws, d.to_json(), "t3").await.unwrap();
        assert_eq!(out.status, Status::RolledBack);
        assert_eq!(
            aws.current("b", "live").unwrap().routing,
            Routing::only(v("1"))
        );
    }
}
