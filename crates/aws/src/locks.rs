//! Taking a deployment's alias locks: try each, let sluice-core judge a lock someone holds
//! (ours, stale, or busy), take over a stale one conditionally on its holder, and give back
//! what was taken when one alias is busy.

use crate::ports::{Executions, Ledger};
use sluice_core::ledger::judge_lock;
use sluice_core::{AliasLock, Deployment, Error, ErrorName, HeldLock, LockHolder, Timestamp};

/// Locks every alias `deployment` moves, or none: on a busy alias the locks taken are released.
pub async fn lock_aliases<L: Ledger, X: Executions>(
    ledger: &L,
    executions: &X,
    deployment: &mut Deployment,
    now: Timestamp,
) -> Result<(), Error> {
    let holder = deployment.holder(now);
    let mut taken = Vec::new();
    for lock in deployment.locks() {
        match take(ledger, executions, deployment, &lock, &holder, now).await {
            Ok(()) => taken.push(lock.key),
            Err(e) => {
                for key in &taken {
                    // Best effort: a lock left behind is stale once this execution ends.
                    let _ = ledger.unlock(key, &holder.execution_arn).await;
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

async fn take<L: Ledger, X: Executions>(
    ledger: &L,
    executions: &X,
    deployment: &mut Deployment,
    lock: &AliasLock,
    holder: &LockHolder,
    now: Timestamp,
) -> Result<(), Error> {
    for _ in 0..2 {
        let Some(held) = ledger.lock(&lock.key, holder).await? else {
            return Ok(());
        };
        let running = executions.is_running(&held.execution_arn).await?;
        match judge_lock(&deployment.execution_arn, lock, &held, running) {
            HeldLock::Ours => return Ok(()),
            HeldLock::Busy(e) => return Err(e),
            HeldLock::Stale(message) => {
                if ledger.take_over(&lock.key, &held, holder).await? {
                    deployment.record_takeover(now, message);
                    return Ok(());
                }
            }
        }
    }
    Err(Error::new(
        ErrorName::TransientAws,
        format!("the lock on {} kept changing hands", lock.alias),
    ))
}

/// Releases every lock `deployment` holds.
pub async fn unlock_aliases<L: Ledger>(ledger: &L, deployment: &Deployment) -> Result<(), Error> {
    for lock in deployment.locks() {
        ledger.unlock(&lock.key, &deployment.execution_arn).await?;
    }
    Ok(())
}

/// Refuses, before anything is written, an alias another running deployment has locked: the
/// refusal names that deployment, whatever the alias looks like at the moment.
pub async fn refuse_if_locked<L: Ledger, X: Executions>(
    ledger: &L,
    executions: &X,
    lock: &AliasLock,
    me: &str,
) -> Result<(), Error> {
    let Some(held) = ledger.holder(&lock.key).await? else {
        return Ok(());
    };
    let running = held.execution_arn != me && executions.is_running(&held.execution_arn).await?;
    match judge_lock(me, lock, &held, running) {
        HeldLock::Busy(e) => Err(e),
        HeldLock::Ours | HeldLock::Stale(_) => Ok(()),
    }
}
