//! rollback: Deployment -> Deployment. Points every shifted alias back at its recorded
//! version with no weights, but only an alias that still looks as sluice left it; records the
//! outcome and releases the deployment's locks. Safe to run twice. Conflicts are reported
//! together, after every alias that could be restored was; an alias AWS fails makes the whole
//! rollback fail (to be retried), saying where each alias is.

use sluice_aws::alias::Fence;
use sluice_aws::ending::roll_back;
use sluice_aws::{FunctionStore, Ledger, Watches};
use sluice_core::{Deployment, Error, Timestamp};

pub async fn rollback<F: FunctionStore, L: Ledger + Watches>(
    functions: &F,
    ledger: &L,
    doc: Deployment,
    now: Timestamp,
) -> Result<Deployment, Error> {
    roll_back(functions, ledger, doc, Fence::No, now).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use sluice_aws::fake::FakeAws;
    use sluice_aws::runtime::read_input;
    use sluice_aws::{AwsErrorKind, Watches};
    use sluice_core::testing::{alarm, alarms, t, v};
    use sluice_core::{ErrorName, Routing, Status, Weight};

    /// rollback, handed `input` as the runtime hands it over.
    async fn run(aws: &FakeAws, input: Value, now: Timestamp) -> Result<Deployment, Error> {
        rollback(aws, aws, read_input("rollback", input)?, now).await
    }

    /// Targets a and b shifted to 10 % of version 2, then an alarm fired; c unchanged. Validate
    /// locked every alias the deployment moves; rollback writes only under them.
    fn breached() -> (FakeAws, Deployment) {
        sluice_aws::fake::breached_and_locked()
    }

    /// A redrive of a deployment stopped during its rollback runs Rollback again after the safety
    /// net restored the aliases and released their locks (another deployment may hold them now):
    /// it writes nothing, and the settled record stands.
    #[tokio::test]
    async fn a_redriven_rollback_of_a_settled_deployment_writes_nothing() {
        let (aws, d) = breached();
        aws.settle(&d);
        for lock in d.locks() {
            aws.set_lock(&lock.key, None);
        }
        let settled = aws.record("d-1");
        aws.set_alias("a", "live", Routing::only(v("2")));
        let writes = aws.writes().len();
        let out = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert_eq!(aws.writes().len(), writes, "{:?}", aws.writes());
        assert_eq!(aws.record("d-1"), settled);
        assert!(out.failure.unwrap().cause.contains("a:live"));
    }

    /// A dry run's rollback writes nothing (it moved nothing), and says where a real one would
    /// have put each alias.
    #[tokio::test]
    async fn a_dry_runs_rollback_writes_nothing() {
        let (aws, mut d) = breached();
        d.dry_run = true;
        let out = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert!(aws.writes().is_empty(), "{:?}", aws.writes());
        assert_eq!(out.status, Status::RolledBack);
        let cause = out.failure.unwrap().cause;
        assert!(
            cause.contains(
                "Dry run over, no alias written; a real deployment would have rolled back"
            ) && cause.contains("a:live would go back to version 1")
                && cause.contains("c:live left alone"),
            "{cause}"
        );
    }

    #[tokio::test]
    async fn a_rollback_takes_the_deployments_watches_off_its_alarms() {
        let (aws, mut d) = breached();
        d.alarms = alarms(&["errors"]);
        let watch = d.watch("tok", t(1)).unwrap();
        aws.watch(&alarm("errors"), &watch).await.unwrap();
        let mut other = watch.clone();
        other.deployment_id = "d-other".into();
        aws.watch(&alarm("errors"), &other).await.unwrap();
        run(&aws, d.to_json(), t(2)).await.unwrap();
        let left: Vec<String> = aws.watches_of("errors").into_keys().collect();
        assert_eq!(
            left,
            vec!["d-other".to_string()],
            "only this deployment's watch goes"
        );
    }

    #[tokio::test]
    async fn rolls_every_target_back_and_keeps_the_reason() {
        let (aws, d) = breached();
        let out = run(&aws, d.to_json(), t(2)).await.unwrap();
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
        run(&aws, d.to_json(), t(2)).await.unwrap();
        let writes = aws.writes().len();
        let again = run(&aws, d.to_json(), t(3)).await.unwrap();
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
    async fn leaves_an_alias_someone_else_changed_but_restores_the_others() {
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
        let changed = aws.current("b", "live").unwrap();
        let out = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert_eq!(out.status, Status::RollbackIncomplete);
        let failure = out.failure.unwrap();
        assert_eq!(failure.error, "AliasConflict");
        assert!(
            failure
                .cause
                .contains("Rollback INCOMPLETE: b:live was changed by someone else"),
            "{}",
            failure.cause
        );
        assert!(
            failure.cause.contains("Done: a:live back on version 1"),
            "{}",
            failure.cause
        );
        assert_eq!(
            aws.current("b", "live").unwrap(),
            changed,
            "the other writer's change is left as it is"
        );
        assert_eq!(
            aws.current("a", "live").unwrap().routing,
            Routing::only(v("1"))
        );
    }

    /// Someone pointed an alias at $LATEST mid-deployment: that is a conflict at once (left
    /// alone, the others restored), not an AWS failure retried for 45 minutes.
    #[tokio::test]
    async fn an_alias_pointed_at_latest_is_a_conflict_at_once() {
        let (aws, d) = breached();
        aws.point_at_latest("a", "live");
        let out = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert_eq!(out.status, Status::RollbackIncomplete);
        let failure = out.failure.unwrap();
        assert_eq!(failure.error, "AliasConflict");
        assert!(
            failure
                .cause
                .contains("a:live was pointed at $LATEST by someone else"),
            "{}",
            failure.cause
        );
        assert_eq!(
            aws.current("b", "live").unwrap().routing,
            Routing::only(v("1"))
        );
    }

    #[tokio::test]
    async fn records_the_outcome_and_releases_the_locks() {
        let (aws, d) = breached();
        let keys: Vec<String> = d.locks().into_iter().map(|l| l.key).collect();
        aws.lock_holder(&keys[0]).unwrap();
        let out = run(&aws, d.to_json(), t(2)).await.unwrap();
        assert_eq!(aws.record("d-1").unwrap(), out.to_json());
        assert!(aws.locks().is_empty(), "{:?}", aws.locks());
    }

    #[tokio::test]
    async fn an_alias_aws_fails_still_lets_the_others_back_and_says_where_it_is() {
        let (aws, d) = breached();
        // a's write fails; b is restored all the same.
        aws.fail_next("UpdateAlias", AwsErrorKind::Transient, false);
        let err = run(&aws, d.to_json(), t(2)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::TransientAws);
        assert!(
            err.message.starts_with(
                "alarm errors is in ALARM. Rollback not finished: a:live could not be rolled back"
            ),
            "{}",
            err.message
        );
        assert!(
            err.message
                .contains("is at version 1 with 10% on version 2; b:live is back on version 1"),
            "{}",
            err.message
        );
        assert_eq!(
            aws.current("b", "live").unwrap().routing,
            Routing::only(v("1"))
        );
    }

    #[tokio::test]
    async fn a_transient_failure_is_retryable_and_the_retry_finishes() {
        let (aws, d) = breached();
        aws.fail_next("UpdateAlias", AwsErrorKind::Transient, true);
        assert_eq!(
            run(&aws, d.to_json(), t(2)).await.unwrap_err().name,
            ErrorName::TransientAws
        );
        let out = run(&aws, d.to_json(), t(3)).await.unwrap();
        assert_eq!(out.status, Status::RolledBack);
        assert_eq!(
            aws.current("b", "live").unwrap().routing,
            Routing::only(v("1"))
        );
    }
}
