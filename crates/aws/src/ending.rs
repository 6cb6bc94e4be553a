//! How a deployment ends in the ledger, for every phase that ends one (Finish, Rollback and the
//! safety net): a success is recorded as deployed; a rollback points the aliases back and records
//! what became of each; and every ending releases what the deployment holds, its alias locks and
//! its watches.

use crate::alias::{Fence, restore_all};
use crate::locks::unlock_aliases;
use crate::ports::{FunctionStore, Ledger, Watches};
use crate::watches::forget_watches;
use sluice_core::{Deployment, Error, Timestamp};

/// Releases what a deployment that ended holds: its alias locks, then its watches.
pub async fn release<L: Ledger + Watches>(
    ledger: &L,
    deployment: &Deployment,
) -> Result<(), Error> {
    unlock_aliases(ledger, deployment).await?;
    forget_watches(ledger, deployment).await;
    Ok(())
}

/// Records a deployment whose every alias serves its new version as deployed, and releases it.
pub async fn finish<L: Ledger + Watches>(
    ledger: &L,
    mut deployment: Deployment,
    now: Timestamp,
) -> Result<Deployment, Error> {
    deployment.finish(now)?;
    ledger.save(&deployment).await?;
    release(ledger, &deployment).await?;
    Ok(deployment)
}

/// Points every alias the deployment moved back (as sluice-core's rollback rule allows),
/// records the outcome, and releases the deployment. A record settled already (the safety net
/// got there first, after a stop) stands.
pub async fn roll_back<F: FunctionStore, L: Ledger + Watches>(
    functions: &F,
    ledger: &L,
    mut deployment: Deployment,
    fence: Fence,
    now: Timestamp,
) -> Result<Deployment, Error> {
    let outcomes = restore_all(functions, ledger, &deployment, fence).await;
    deployment.record_rollback(outcomes, now)?;
    ledger.save(&deployment).await?;
    release(ledger, &deployment).await?;
    Ok(deployment)
}
