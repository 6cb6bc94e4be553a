//! The one way sluice writes an alias: read it, check what else must hold (a restore: that
//! this deployment still holds the alias's lock), let sluice-core decide, write conditionally on
//! the RevisionId that was read (or create it, where it must not exist yet), and when another
//! writer got in between (a 412, or an alias that appeared), read, check and decide once more.
//! Shift, rollback and reconcile all go through here.

use crate::ports::{AwsError, AwsErrorKind, FunctionStore, Ledger};
use sluice_core::{
    AliasDecision, AliasSnapshot, AliasWrite, Deployment, Error, ErrorName, RollbackOutcome,
    Routing, TargetState,
};
use std::future::Future;

/// What must still hold, checked after each read of the alias and before the write that read
/// allows: None lets the write be decided; Some ends it with that result, nothing written.
pub trait Guard: Send + Sync {
    fn check(
        &self,
        observed: Option<&AliasSnapshot>,
    ) -> impl Future<Output = Result<Option<AliasWrite>, AwsError>> + Send;
}

/// No check: shift's writes are conditional on the exact revision it recorded, which the safety
/// net's fence changes when it settles the deployment.
pub struct Unguarded;

impl Guard for Unguarded {
    async fn check(&self, _: Option<&AliasSnapshot>) -> Result<Option<AliasWrite>, AwsError> {
        Ok(None)
    }
}

/// A restore writes only while its deployment holds the alias's lock, as read after the alias
/// (sluice-core's `Deployment::may_restore`).
struct HoldsLock<'a, L> {
    ledger: &'a L,
    deployment: &'a Deployment,
    target: &'a TargetState,
    wanted: &'a Routing,
}

impl<L: Ledger> Guard for HoldsLock<'_, L> {
    async fn check(
        &self,
        observed: Option<&AliasSnapshot>,
    ) -> Result<Option<AliasWrite>, AwsError> {
        let holder = self.ledger.holder(&self.target.alias_lock().key).await?;
        Ok(self
            .deployment
            .may_restore(self.target, holder.as_ref(), observed, self.wanted))
    }
}

/// Moves `target`'s alias to `wanted` as `decide` (a sluice-core rule) allows.
pub async fn write_alias<F: FunctionStore>(
    functions: &F,
    target: &TargetState,
    wanted: &Routing,
    decide: impl Fn(Option<&AliasSnapshot>) -> AliasDecision,
) -> Result<AliasWrite, AwsError> {
    write_alias_guarded(functions, target, wanted, &Unguarded, decide).await
}

/// `write_alias`, with `guard` checked after every read of the alias.
pub async fn write_alias_guarded<F: FunctionStore, G: Guard>(
    functions: &F,
    target: &TargetState,
    wanted: &Routing,
    guard: &G,
    decide: impl Fn(Option<&AliasSnapshot>) -> AliasDecision,
) -> Result<AliasWrite, AwsError> {
    for _ in 0..2 {
        let observed = functions
            .get_alias(&target.function_name, &target.alias)
            .await?;
        if let Some(done) = guard.check(observed.as_ref()).await? {
            return Ok(done);
        }
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

/// Points every alias of `deployment` back as sluice-core's rollback rule allows, and only while
/// the deployment holds the alias's lock: an alias another deployment has locked since, or whose
/// lock this one released when it was settled, is left alone. An alias AWS fails is reported
/// with where it was left, and the others are still restored. A dry run's are never written.
pub async fn restore_all<F: FunctionStore, L: Ledger>(
    functions: &F,
    ledger: &L,
    deployment: &Deployment,
    fence: Fence,
) -> Vec<RollbackOutcome> {
    // A dry run moved nothing, so nothing is written back: not even the safety net's fence.
    if let Some(outcomes) = deployment.dry_rollback() {
        return outcomes;
    }
    let mut outcomes = Vec::with_capacity(deployment.targets.len());
    for target in &deployment.targets {
        let outcome = match target.restore_to() {
            Err(leave_alone) => leave_alone,
            Ok(wanted) => {
                match restore(functions, ledger, deployment, target, &wanted, fence).await {
                    Ok(outcome) => outcome,
                    // Someone else's change seen in the read itself (an alias on $LATEST): left
                    // alone like any other conflict, not retried.
                    Err(e) if e.name == ErrorName::AliasConflict => {
                        RollbackOutcome::Conflict(e.message)
                    }
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
    // The lock is read after the alias, on every try: a try that lost a race to another writer
    // must not be decided again on a lock read before that writer came.
    let guard = HoldsLock {
        ledger,
        deployment,
        target,
        wanted,
    };
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
    Ok(
        write_alias_guarded(functions, target, wanted, &guard, decide)
            .await?
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeAws;
    use serde_json::json;
    use sluice_core::testing::{two_targets, v};
    use sluice_core::{LockHolder, Routing, Weight};

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

    /// a:live and b:live at 10 % of version 2, c:live unchanged, an alarm fired, each alias the
    /// deployment moved locked by its execution.
    fn shifted() -> (FakeAws, Deployment) {
        crate::fake::breached_and_locked()
    }

    fn next_deployment() -> LockHolder {
        LockHolder {
            deployment_id: "d-2".into(),
            execution_arn: "arn:next".into(),
            since: sluice_core::testing::t(5),
        }
    }

    #[tokio::test]
    async fn a_restore_that_lost_a_race_leaves_the_next_deployments_alias_alone() {
        let (aws, d) = shifted();
        let key = d.targets[0].alias_lock().key;
        // While rollback's write of a:live is on its way (the execution was stopped): the safety
        // net puts it back and releases the lock, then the next deployment locks it and shifts it
        // to 10 % of version 2, a routing this deployment's plan has too.
        aws.before_next_update(move |fake| {
            fake.set_alias("a", "live", Routing::only(v("1")));
            fake.set_lock(&key, Some(next_deployment()));
            fake.set_alias("a", "live", ten());
        });
        let outcomes = restore_all(&aws, &aws, &d, Fence::No).await;
        match &outcomes[0] {
            RollbackOutcome::Conflict(why) => assert!(
                why.starts_with("a:live is locked by deployment d-2 (execution arn:next) now"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            ten(),
            "the next deployment's shift stays"
        );
        assert!(matches!(outcomes[1], RollbackOutcome::RolledBack { .. }));
        assert_eq!(
            aws.current("b", "live").unwrap().routing,
            Routing::only(v("1"))
        );
    }

    #[tokio::test]
    async fn a_restore_whose_lock_was_released_writes_nothing() {
        let (aws, d) = shifted();
        // The safety net settled the deployment (every alias back, the locks released); then the
        // next deployment of a:live moved it all the way to version 2 and ended.
        for l in d.locks() {
            aws.set_lock(&l.key, None);
        }
        aws.set_alias("b", "live", Routing::only(v("1")));
        aws.set_alias("a", "live", Routing::only(v("2")));
        for fence in [Fence::No, Fence::Yes] {
            let outcomes = restore_all(&aws, &aws, &d, fence).await;
            match &outcomes[0] {
                RollbackOutcome::Conflict(why) => assert!(
                    why.starts_with("a:live is no longer locked by this deployment"),
                    "{why}"
                ),
                other => panic!("{other:?}"),
            }
            assert!(
                matches!(outcomes[1], RollbackOutcome::AlreadyRolledBack { .. }),
                "{:?}",
                outcomes[1]
            );
        }
        assert_eq!(aws.writes(), Vec::<String>::new(), "not even a fence");
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("2"))
        );
    }

    #[tokio::test]
    async fn a_document_of_the_first_shape_held_no_locks_and_is_still_restored() {
        let (aws, mut d) = shifted();
        for l in d.locks() {
            aws.set_lock(&l.key, None);
        }
        d.execution_arn = String::new();
        let outcomes = restore_all(&aws, &aws, &d, Fence::No).await;
        assert!(matches!(outcomes[0], RollbackOutcome::RolledBack { .. }));
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("1"))
        );
    }
}
