//! A bake's watch in the ledger, beyond registering it: ending it when the bake ends, and taking
//! a deployment's watches off its alarms when the deployment ends.

use crate::ports::{Tasks, Watches};
use sluice_core::{Deployment, Error};

/// The bake of step `step` has ended (its last check, or a watch that began too late): marks it
/// ended at the bake's meeting point (a watch that begins later then ends its own task), and
/// when the watch has begun, takes it off the alarms and ends its task, which ends the bake's
/// Parallel. A task that ended already (its watch timed out) is nothing to do.
pub async fn release_watch<W: Watches, T: Tasks>(
    ledger: &W,
    tasks: &T,
    deployment: &Deployment,
    step: usize,
) -> Result<(), Error> {
    if let Some(token) = ledger.bake_ended(&deployment.deployment_id, step).await? {
        end_watch(ledger, tasks, deployment, &token).await?;
    }
    Ok(())
}

/// Takes the watch waiting on `token` off every alarm of the deployment and ends its task.
pub async fn end_watch<W: Watches, T: Tasks>(
    ledger: &W,
    tasks: &T,
    deployment: &Deployment,
    token: &str,
) -> Result<(), Error> {
    for alarm in &deployment.alarms {
        ledger
            .unwatch(alarm, &deployment.deployment_id, Some(token))
            .await?;
    }
    tasks.succeed_task(token).await?;
    Ok(())
}

/// Takes the deployment's watches off its alarms, at every ending (best effort: a watch left
/// behind only meets a closed task when its alarm next fires, and alarm-event then forgets it).
pub async fn forget_watches<W: Watches>(ledger: &W, deployment: &Deployment) {
    for alarm in &deployment.alarms {
        let _ = ledger.unwatch(alarm, &deployment.deployment_id, None).await;
    }
}
