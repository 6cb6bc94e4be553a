//! The sweeper, the safety net's second chance: Step Functions delivers an execution's status
//! events best effort, and the safety net's own tries can run out. On a schedule, it reads the
//! ledger's open index — every record not settled yet, every lock — and settles each deployment
//! whose execution is no longer running, and releases each lock whose holder ended with nothing
//! left to settle (a validate that died after locking, before recording).

use crate::ending::{Settled, settle};
use crate::ports::{Executions, FunctionStore, Ledger, Watches};
use serde::Serialize;
use sluice_core::{Error, OpenItem, SettledBy, Timestamp};

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Swept {
    /// Deployments whose execution ended unsettled, settled now.
    pub settled: Vec<String>,
    /// Locks of ended executions with nothing left to settle, released.
    pub released: Vec<String>,
    /// Open deployments whose execution still runs: left to it.
    pub running: usize,
    /// What could not be done now (tried again next time; a record says why).
    pub failed: Vec<String>,
    /// Items left for the next sweep: this one ran out of its time.
    pub deferred: usize,
}

/// How long one sweep works through the open index before it leaves the rest to the next: well
/// inside the function's 90 s timeout, so that a few hanging calls cannot starve the items after
/// them (each sweep also starts at a different item).
pub const SWEEP_SECONDS: u64 = 60;

/// One sweep of the open index.
pub async fn sweep<F: FunctionStore, L: Ledger + Watches, X: Executions>(
    functions: &F,
    ledger: &L,
    executions: &X,
    now: Timestamp,
) -> Result<Swept, Error> {
    let mut swept = Swept::default();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(SWEEP_SECONDS);
    let mut items = ledger.open().await?;
    if !items.is_empty() {
        // Each sweep starts at another item: none waits behind the same slow ones every time.
        let start = now.unix_seconds().unsigned_abs() as usize % items.len();
        items.rotate_left(start);
    }
    let count = items.len();
    for (done, item) in items.into_iter().enumerate() {
        if std::time::Instant::now() >= deadline {
            swept.deferred = count - done;
            break;
        }
        match item {
            OpenItem::Deployment {
                deployment_id,
                execution_arn,
            } => {
                let state = match executions.state(&execution_arn).await {
                    Ok(state) => state,
                    Err(e) => {
                        swept.failed.push(format!("{deployment_id}: {e}"));
                        continue;
                    }
                };
                let Some(ended) = state.ending(&execution_arn, &deployment_id) else {
                    swept.running += 1;
                    continue;
                };
                match settle(functions, ledger, &ended, &SettledBy::SafetyNet, now).await {
                    Ok(Settled::Settled { .. }) => swept.settled.push(deployment_id),
                    Ok(_) => {}
                    Err(e) => {
                        note_failure(ledger, &deployment_id, &e.message, now).await;
                        swept.failed.push(format!("{deployment_id}: {}", e.message));
                    }
                }
            }
            OpenItem::Lock { key, holder } => {
                match release_orphan(
                    ledger,
                    executions,
                    &key,
                    &holder.execution_arn,
                    &holder.deployment_id,
                )
                .await
                {
                    Ok(true) => swept.released.push(key),
                    Ok(false) => {}
                    Err(e) => swept.failed.push(format!("{key}: {e}")),
                }
            }
        }
    }
    Ok(swept)
}

/// Releases a lock whose holder ended and left nothing to settle: no record (it died before
/// recording), or a settled one. A holder still running, or unsettled (the deployment's own
/// settlement releases it), keeps it.
async fn release_orphan<L: Ledger, X: Executions>(
    ledger: &L,
    executions: &X,
    key: &str,
    execution_arn: &str,
    deployment_id: &str,
) -> Result<bool, Error> {
    if executions.state(execution_arn).await?.is_running() {
        return Ok(false);
    }
    let unsettled = ledger
        .load(deployment_id)
        .await?
        .is_some_and(|d| d.execution_arn == execution_arn && !d.status.is_settled());
    if unsettled {
        return Ok(false);
    }
    ledger.unlock(key, execution_arn).await?;
    Ok(true)
}

/// Writes into an unsettled record that the safety net could not settle it now, and why (best
/// effort: the failure may be the ledger's own).
pub async fn note_failure<L: Ledger>(ledger: &L, deployment_id: &str, why: &str, now: Timestamp) {
    if let Ok(Some(mut doc)) = ledger.load(deployment_id).await
        && !doc.status.is_settled()
    {
        doc.safety_net_failed(why, now);
        let _ = ledger.save(&doc).await;
    }
}
