//! How a deployment ends in the ledger, for every phase that ends one (Finish, Rollback and the
//! safety net): a success is recorded as deployed; a rollback points the aliases back and records
//! what became of each; and every ending releases what the deployment holds, its alias locks and
//! its watches.

use crate::alias::{Fence, restore_all};
use crate::locks::unlock_aliases;
use crate::ports::{FunctionStore, Ledger, Saved, Watches};
use crate::watches::forget_watches;
use serde::Serialize;
use sluice_core::{Deployment, Error, ExecutionEnded, SettledBy, Settlement, Timestamp};

/// Releases what a deployment that ended holds: its alias locks, then its watches.
pub async fn release<L: Ledger + Watches>(
    ledger: &L,
    deployment: &Deployment,
) -> Result<(), Error> {
    unlock_aliases(ledger, deployment).await?;
    forget_watches(ledger, deployment).await;
    Ok(())
}

/// Refuses (`AlreadySettled`) to act for a deployment whose record is settled already: the
/// phases that move or watch aliases call it first, so that a redriven execution, or a task that
/// outlived its stop, moves nothing (the safety net restored the aliases and released them).
pub async fn refuse_if_settled<L: Ledger>(
    ledger: &L,
    deployment: &Deployment,
) -> Result<(), Error> {
    match ledger.load(&deployment.deployment_id).await? {
        Some(record) if record.status.is_settled() => Err(Deployment::settled_before(&record)),
        _ => Ok(()),
    }
}

/// Records a deployment whose every alias serves its new version as deployed, and releases it.
/// A record settled already stands: Finish's own earlier try is answered again; any other
/// ending (the safety net's, after a stop) is `AlreadySettled`, never a success.
pub async fn finish<L: Ledger + Watches>(
    ledger: &L,
    mut deployment: Deployment,
    now: Timestamp,
) -> Result<Deployment, Error> {
    deployment.finish(now)?;
    if ledger.save(&deployment).await? == Saved::AlreadySettled {
        let record = ledger
            .load(&deployment.deployment_id)
            .await?
            .ok_or_else(|| Error::internal("a settled record that cannot be read back"))?;
        release(ledger, &record).await?;
        return Deployment::finished_before(record);
    }
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

/// What settling an ending did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum Settled {
    /// Not an execution that ended.
    Ignored { why: String },
    /// No record: the deployment was refused before it locked or moved anything.
    NoRecord { deployment_id: String },
    /// The record is another execution's (its name was used again): left alone.
    NotOurs { deployment_id: String },
    /// The deployment as it was left: settled (`settlement` says how), and released.
    Settled {
        settlement: Settlement,
        document: Box<Deployment>,
    },
}

/// Settles the deployment of an execution that `ended` where no Catch ran, as sluice-core
/// decides (`Deployment::settlement`): finishes a success whose Finish failed, rolls back an
/// unsettled one (fencing off any task of the execution still running: every alias is written,
/// so that task's conditional write fails), and releases what it holds either way. The safety
/// net does this on a status event; the next deployment of an alias does it before taking over
/// the alias's lock, when the safety net has not yet.
pub async fn settle<F: FunctionStore, L: Ledger + Watches>(
    functions: &F,
    ledger: &L,
    ended: &ExecutionEnded,
    by: &SettledBy,
    now: Timestamp,
) -> Result<Settled, Error> {
    let deployment_id = ended.deployment_id.clone();
    let Some(mut doc) = ledger.load(&deployment_id).await? else {
        return Ok(Settled::NoRecord { deployment_id });
    };
    let settlement = doc.settlement(ended);
    let document = match settlement {
        Settlement::NotOurs => return Ok(Settled::NotOurs { deployment_id }),
        Settlement::Finish => finish(ledger, doc, now).await?,
        Settlement::RollBack => {
            doc.fail_from(ended, by);
            roll_back(functions, ledger, doc, Fence::Yes, now).await?
        }
        Settlement::Release => {
            release(ledger, &doc).await?;
            doc
        }
    };
    Ok(Settled::Settled {
        settlement,
        document: Box::new(document),
    })
}
