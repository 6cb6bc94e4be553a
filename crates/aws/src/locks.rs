//! A deployment's alias locks: clearing the way (a lock's running holder refuses the alias; one
//! that ended without being settled is settled first), taking them all or none, and releasing
//! them; and a dry run's look at them, which writes nothing.

use crate::ending::{Settled, settle};
use crate::ports::{Executions, FunctionStore, Ledger, Watches};
use sluice_core::ledger::judge_lock;
use sluice_core::{
    AliasLock, Deployment, Error, ErrorName, HeldLock, LockHolder, SettledBy, Settlement, Timestamp,
};

/// The AWS a deployment needs to take its locks: Lambda and the ledger (to settle a holder that
/// ended unsettled), Step Functions (to know whether a holder still runs).
pub struct LockPorts<'a, F, L, X> {
    pub functions: &'a F,
    pub ledger: &'a L,
    pub executions: &'a X,
}

/// Clears the way to `lock` for the execution `me` of deployment `me_id`, before it reads or
/// takes the alias: a lock another running deployment holds refuses the alias, naming that
/// deployment. A lock held by an execution that ended is never simply taken over: its deployment
/// is settled first, as its safety net would (its aliases back on versions that were fully live,
/// every alias written so a task of it still running cannot land a late write), recorded as
/// settled by `me_id`; its locks are released with it. Returns what `me` notes in its history.
pub async fn clear_lock<F: FunctionStore, L: Ledger + Watches, X: Executions>(
    ports: &LockPorts<'_, F, L, X>,
    lock: &AliasLock,
    me: &str,
    me_id: &str,
    now: Timestamp,
) -> Result<Option<String>, Error> {
    let Some(held) = ports.ledger.holder(&lock.key).await? else {
        return Ok(None);
    };
    if held.execution_arn == me {
        return Ok(None);
    }
    let state = ports.executions.state(&held.execution_arn).await?;
    let running = state.is_running();
    match judge_lock(me, lock, &held, running) {
        HeldLock::Ours => Ok(None),
        HeldLock::Busy(e) => Err(e),
        HeldLock::Stale(_) => {
            let Some(ended) = state.ending(&held.execution_arn, &held.deployment_id) else {
                return Ok(None);
            };
            let by = SettledBy::Takeover {
                deployment_id: me_id.to_string(),
            };
            Ok(
                match settle(ports.functions, ports.ledger, &ended, &by, now)
                    .await
                    .map_err(|e| {
                        // Named, so that the refusal says whose deployment is in the way.
                        let message = format!(
                            "{}: deployment {} ended ({}) holding its lock and is not settled yet; \
                             settling it first failed: {}",
                            lock.alias, held.deployment_id, ended.status, e.message
                        );
                        Error { message, ..e }
                    })? {
                    Settled::Settled {
                        settlement: settlement @ (Settlement::RollBack | Settlement::Finish),
                        document,
                    } => Some(format!(
                        "{}: deployment {} ended ({}) holding its lock and was not settled yet; {} first: {}",
                        lock.alias,
                        held.deployment_id,
                        ended.status,
                        if settlement == Settlement::Finish {
                            "recorded it as deployed"
                        } else {
                            "rolled it back"
                        },
                        document.failure.map_or_else(
                            || "every alias on its new version".to_string(),
                            |f| f.cause
                        )
                    )),
                    // Settled already, or nothing recorded: the lock is taken over as it is.
                    _ => None,
                },
            )
        }
    }
}

/// A dry run's look at `lock`, writing nothing: it takes no lock and settles nobody's deployment.
/// A lock another running deployment holds refuses it as it would refuse the real deployment (the
/// alias is that deployment's now); so does one whose holder ended unsettled (a real deployment
/// would settle it first, and start from where that leaves the alias); one with nothing left to
/// settle is only said.
pub async fn peek_lock<L: Ledger, X: Executions>(
    ledger: &L,
    executions: &X,
    lock: &AliasLock,
    me: &str,
) -> Result<Option<String>, Error> {
    let Some(held) = ledger.holder(&lock.key).await? else {
        return Ok(None);
    };
    let running = executions.is_running(&held.execution_arn).await?;
    match judge_lock(me, lock, &held, running) {
        HeldLock::Ours => Ok(None),
        HeldLock::Busy(e) => Err(e),
        HeldLock::Stale(_) => match ledger.load(&held.deployment_id).await? {
            // A real deployment would settle it first (roll it back), then start from where that
            // left the alias: a dry run, which settles nobody, cannot tell what it would find.
            Some(record)
                if record.execution_arn == held.execution_arn && !record.status.is_settled() =>
            {
                Err(Error::new(
                    ErrorName::AliasBusy,
                    format!(
                        "{}: deployment {} ended ({}) holding its lock and is not settled yet: a \
                         real deployment would settle it first and start from where that leaves \
                         the alias, which a dry run (it settles nothing) cannot know. The safety \
                         net settles it within minutes; run the dry run again then",
                        lock.alias,
                        held.deployment_id,
                        record.status.as_str()
                    ),
                ))
            }
            _ => Ok(Some(format!(
                "dry run: {} is locked by deployment {}, whose execution ended with nothing left \
                 to settle: a real deployment would take its lock over",
                lock.alias, held.deployment_id
            ))),
        },
    }
}

/// Locks every alias `deployment` moves, or none: on a busy alias the locks taken are released.
/// A lock held by an execution that ended is cleared first (`clear_lock`).
pub async fn lock_aliases<F: FunctionStore, L: Ledger + Watches, X: Executions>(
    ports: &LockPorts<'_, F, L, X>,
    deployment: &mut Deployment,
    now: Timestamp,
) -> Result<(), Error> {
    let holder = deployment.holder(now);
    let mut taken = Vec::new();
    for lock in deployment.locks() {
        match take(ports, deployment, &lock, &holder, now).await {
            Ok(()) => taken.push(lock.key),
            Err(e) => {
                for key in &taken {
                    // Best effort: a lock left behind is stale once this execution ends.
                    let _ = ports.ledger.unlock(key, &holder.execution_arn).await;
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

async fn take<F: FunctionStore, L: Ledger + Watches, X: Executions>(
    ports: &LockPorts<'_, F, L, X>,
    deployment: &mut Deployment,
    lock: &AliasLock,
    holder: &LockHolder,
    now: Timestamp,
) -> Result<(), Error> {
    let me = deployment.execution_arn.clone();
    for _ in 0..3 {
        let Some(held) = ports.ledger.lock(&lock.key, holder).await? else {
            return Ok(());
        };
        let running = ports.executions.is_running(&held.execution_arn).await?;
        match judge_lock(&me, lock, &held, running) {
            HeldLock::Ours => return Ok(()),
            HeldLock::Busy(e) => return Err(e),
            HeldLock::Stale(message) => {
                // Settled first (its locks released with it), then taken; a holder that left no
                // record never moved an alias, and its lock is taken over as it is.
                if let Some(note) =
                    clear_lock(ports, lock, &me, &deployment.deployment_id, now).await?
                {
                    deployment.record_takeover(now, note);
                    continue;
                }
                if ports.ledger.take_over(&lock.key, &held, holder).await? {
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
