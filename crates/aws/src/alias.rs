//! The one way sluice writes an alias: read it, let sluice-core decide, write conditionally on
//! the RevisionId that was read (or create it, where it must not exist yet), and when another
//! writer got in between (a 412, or an alias that appeared), read and decide once more. Shift,
//! rollback and reconcile all go through here.

use crate::ports::{AwsError, AwsErrorKind, FunctionStore, Ledger};
use sluice_core::{
    AliasDecision, AliasSnapshot, AliasWrite, Deployment, Error, RollbackOutcome, Routing,
    TargetState,
};

/// Moves `target`'s alias to `wanted` as `decide` (a sluice-core rule) allows.
pub async fn write_alias<F: FunctionStore>(
    functions: &F,
    target: &TargetState,
    wanted: &Routing,
    decide: impl Fn(Option<&AliasSnapshot>) -> AliasDecision,
) -> Result<AliasWrite, AwsError> {
    for _ in 0..2 {
        let observed = functions
            .get_alias(&target.function_name, &target.alias)
            .await?;
        match decide(observed.as_ref()) {
            AliasDecision::AlreadyThere { revision_id } => {
                return Ok(AliasWrite::AlreadyThere { revision_id });
            }
            AliasDecision::Conflict(why) => return Ok(AliasWrite::Conflict(why)),
            AliasDecision::Create => {
                match functions
                    .create_alias(&target.function_name, &target.alias, &wanted.version)
                    .await
                {
                    Ok(revision_id) => return Ok(AliasWrite::Written { revision_id }),
                    // Someone created it between our read and our write: decide again.
                    Err(e) if e.kind == AwsErrorKind::Conflict => continue,
                    Err(e) => return Err(e),
                }
            }
            AliasDecision::Update { expected_revision } => {
                match functions
                    .update_alias(
                        &target.function_name,
                        &target.alias,
                        wanted,
                        &expected_revision,
                    )
                    .await
                {
                    Ok(revision_id) => return Ok(AliasWrite::Written { revision_id }),
                    // Lost the race between read and write: decide again on what is there now.
                    Err(e) if e.kind == AwsErrorKind::Conflict => continue,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(target.kept_changing())
}

/// Whether a restore must also write an alias that already routes as wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// Rollback inside the running execution: no task of it still runs.
    No,
    /// The safety net after an execution ended: a task of it may still run (Step Functions does
    /// not stop a running Lambda), so every alias is written, which gives it a new RevisionId
    /// and makes that task's conditional write fail.
    Yes,
}

/// Points every alias of `deployment` back as sluice-core's rollback rule allows, leaving
/// alone an alias another deployment has locked since. An alias AWS fails is reported with
/// where it was left, and the others are still restored.
pub async fn restore_all<F: FunctionStore, L: Ledger>(
    functions: &F,
    ledger: &L,
    deployment: &Deployment,
    fence: Fence,
) -> Vec<RollbackOutcome> {
    let mut outcomes = Vec::with_capacity(deployment.targets.len());
    for target in &deployment.targets {
        let outcome = match target.restore_to() {
            Err(leave_alone) => leave_alone,
            Ok(wanted) => {
                match restore(functions, ledger, deployment, target, &wanted, fence).await {
                    Ok(outcome) => outcome,
                    Err(e) => RollbackOutcome::Failed {
                        left_at: functions
                            .get_alias(&target.function_name, &target.alias)
                            .await
                            .ok()
                            .flatten()
                            .map(|a| a.routing),
                        error: e,
                    },
                }
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

async fn restore<F: FunctionStore, L: Ledger>(
    functions: &F,
    ledger: &L,
    deployment: &Deployment,
    target: &TargetState,
    wanted: &Routing,
    fence: Fence,
) -> Result<RollbackOutcome, Error> {
    let lock = target.alias_lock();
    if let Some(held) = ledger.holder(&lock.key).await?
        && held.execution_arn != deployment.execution_arn
    {
        return Ok(RollbackOutcome::Conflict(format!(
            "{} is locked by deployment {} (execution {}) now; sluice leaves it to that deployment",
            lock.alias, held.deployment_id, held.execution_arn
        )));
    }
    let decide = |observed: Option<&AliasSnapshot>| match deployment
        .decide_rollback(target, observed, wanted)
    {
        AliasDecision::AlreadyThere { revision_id } if fence == Fence::Yes => {
            AliasDecision::Update {
                expected_revision: revision_id,
            }
        }
        decision => decision,
    };
    Ok(write_alias(functions, target, wanted, decide).await?.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeAws;
    use serde_json::json;
    use sluice_core::testing::{two_targets, v};
    use sluice_core::{Routing, Weight};

    fn ten() -> Routing {
        Routing {
            version: v("1"),
            additional: Some((v("2"), Weight::from_percent(10.0).unwrap())),
        }
    }

    #[tokio::test]
    async fn a_lost_race_is_decided_again_on_what_is_there() {
        let aws = FakeAws::new()
            .function("a", 2)
            .alias("a", "live", Routing::only(v("1")));
        let rev = aws.current("a", "live").unwrap().revision_id;
        let d = two_targets(json!("Canary10Percent5Minutes"), [&rev, "x"]);
        let t = &d.targets[0];
        // Between sluice's read and its write, someone else moves the alias.
        aws.before_next_update(|fake| fake.set_alias("a", "live", Routing::only(v("2"))));
        let out = write_alias(&aws, t, &ten(), |obs| t.decide_shift(obs, &ten()))
            .await
            .unwrap();
        match out {
            AliasWrite::Conflict(why) => {
                assert!(why.contains("a:live was changed by someone else"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("2")),
            "the other writer's change stays"
        );
    }

    #[tokio::test]
    async fn an_alias_that_keeps_changing_is_left_alone() {
        let aws = FakeAws::new()
            .function("a", 2)
            .alias("a", "live", Routing::only(v("1")));
        let d = two_targets(json!("AllAtOnce"), ["any", "x"]);
        let t = &d.targets[0];
        // A rule that always wants to write, against a writer that always gets in first.
        let decide = |obs: Option<&AliasSnapshot>| AliasDecision::Update {
            expected_revision: obs.unwrap().revision_id.clone(),
        };
        for _ in 0..2 {
            aws.before_next_update(|fake| fake.set_alias("a", "live", Routing::only(v("1"))));
        }
        let out = write_alias(&aws, t, &Routing::only(v("2")), decide)
            .await
            .unwrap();
        assert_eq!(
            out,
            AliasWrite::Conflict(
                "a:live kept changing while sluice wrote it; sluice leaves it as it is".into()
            )
        );
        assert!(aws.writes().is_empty());
    }
}
