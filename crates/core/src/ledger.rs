//! The deployment ledger, as sluice-core sees it: what an alias lock is, who holds it, and when
//! a deployment may take one over. Storage (one DynamoDB table) lives in sluice-aws.

use crate::deployment::{Action, Deployment, TargetState};
use crate::error::{Error, ErrorName};
use serde::{Deserialize, Serialize};

/// Who holds an alias lock: a deployment and the execution running it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockHolder {
    pub deployment_id: String,
    pub execution_arn: String,
    /// When the lock was taken (RFC 3339).
    pub since: String,
}

/// One alias lock a deployment needs: its ledger key and the alias it guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasLock {
    pub key: String,
    /// "function:alias", for messages.
    pub alias: String,
}

/// What to do about a lock someone already holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldLock {
    /// This very execution holds it (a retried validate): keep it.
    Ours,
    /// Its holder's execution is no longer running: take it over, saying so.
    Stale(String),
    /// Another running deployment holds it.
    Busy(Error),
}

/// The ledger key of the lock on `alias` of the function with this ARN.
pub fn lock_key(function_arn: &str, alias: &str) -> String {
    format!("LOCK#{function_arn}#{alias}")
}

/// The ledger key of a deployment's record.
pub fn record_key(deployment_id: &str) -> String {
    format!("DEPLOYMENT#{deployment_id}")
}

impl AliasLock {
    /// The lock on `alias` of the function with this ARN; `name` is "function:alias".
    pub fn of(function_arn: &str, alias: &str, name: String) -> AliasLock {
        AliasLock {
            key: lock_key(function_arn, alias),
            alias: name,
        }
    }
}

impl TargetState {
    /// The lock on this target's alias (held only when the deployment moves it).
    pub fn alias_lock(&self) -> AliasLock {
        // Documents of the first shape carry no ARN; they never held locks either.
        let function = self.function_arn.as_deref().unwrap_or(&self.function_name);
        AliasLock::of(function, &self.alias, self.name())
    }

    /// The lock this target needs, when the deployment moves it.
    pub fn lock(&self) -> Option<AliasLock> {
        (self.action != Action::Unchanged).then(|| self.alias_lock())
    }
}

impl Deployment {
    /// The locks this deployment holds while it runs, one per alias it moves.
    pub fn locks(&self) -> Vec<AliasLock> {
        self.targets.iter().filter_map(TargetState::lock).collect()
    }

    /// This deployment as a lock holder.
    pub fn holder(&self, now: &str) -> LockHolder {
        LockHolder {
            deployment_id: self.deployment_id.clone(),
            execution_arn: self.execution_arn.clone(),
            since: now.to_string(),
        }
    }

    /// Notes a lock taken over from a deployment that died holding it.
    pub fn record_takeover(&mut self, now: &str, message: String) {
        self.record(now, message);
    }
}

/// Judges a lock `held` by someone, for the execution `me`, given whether the holder's
/// execution still runs.
pub fn judge_lock(me: &str, lock: &AliasLock, held: &LockHolder, holder_running: bool) -> HeldLock {
    if held.execution_arn == me {
        HeldLock::Ours
    } else if !holder_running {
        HeldLock::Stale(format!(
            "{}: took over the lock of deployment {} (execution {}, no longer running, locked since {})",
            lock.alias, held.deployment_id, held.execution_arn, held.since
        ))
    } else {
        HeldLock::Busy(Error::new(
            ErrorName::AliasBusy,
            format!(
                "{} is being deployed by {} (execution {}, since {}). Let it finish, or stop that \
                 execution (sluice then rolls it back), and start again",
                lock.alias, held.deployment_id, held.execution_arn, held.since
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::one_target;
    use serde_json::json;

    fn held(execution: &str) -> LockHolder {
        LockHolder {
            deployment_id: "d-0".into(),
            execution_arn: execution.into(),
            since: "t".into(),
        }
    }

    #[test]
    fn a_running_holder_refuses_a_dead_one_is_taken_over_and_our_own_is_kept() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        d.execution_arn = "arn:me".into();
        d.targets[0].function_arn = Some("arn:aws:lambda:us-east-1:1:function:orders".into());
        let locks = d.locks();
        assert_eq!(locks.len(), 1);
        assert_eq!(
            locks[0].key,
            "LOCK#arn:aws:lambda:us-east-1:1:function:orders#live"
        );
        assert_eq!(
            judge_lock(&d.execution_arn, &locks[0], &held("arn:me"), true),
            HeldLock::Ours
        );
        match judge_lock(&d.execution_arn, &locks[0], &held("arn:other"), true) {
            HeldLock::Busy(e) => {
                assert_eq!(e.name, ErrorName::AliasBusy);
                assert!(
                    e.message
                        .starts_with("orders:live is being deployed by d-0 (execution arn:other")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge_lock(&d.execution_arn, &locks[0], &held("arn:other"), false),
            HeldLock::Stale(m) if m.contains("took over the lock of deployment d-0")
        ));
    }

    #[test]
    fn unchanged_targets_take_no_lock() {
        let mut d = one_target(json!("AllAtOnce"), &[]);
        d.targets[0].action = Action::Unchanged;
        assert!(d.locks().is_empty());
    }
}
