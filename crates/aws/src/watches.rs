//! A bake's watch in the ledger, beyond registering it: ending it when the bake ends, and taking
//! a deployment's watches off its alarms when the deployment ends.

use crate::ports::{Tasks, Watches};
use sluice_core::ledger::Command;
use sluice_core::{Deployment, Error, ErrorName, Failure};

/// How a bake's end met its meeting point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// The bake ended on its own; its watch was ended (or ends itself when it begins).
    Ended,
    /// An operator's command was recorded first: it wins. The watch's task was failed with it
    /// (when the watch has begun), which ends the bake so that the command is applied.
    Commanded(Command),
}

/// The bake of this document has ended (its last check, a hold's time out, or a watch that
/// began too late): marks it ended at the bake's meeting point (a watch that begins later then
/// ends its own task), and when the watch has begun, takes it off the alarms and ends its task,
/// which ends the bake's Parallel. A task that ended already (its watch timed out) is nothing to
/// do. An operator's command recorded there first wins instead.
pub async fn release_watch<W: Watches, T: Tasks>(
    ledger: &W,
    tasks: &T,
    deployment: &Deployment,
) -> Result<Released, Error> {
    let point = ledger
        .bake_ended(&deployment.deployment_id, &deployment.bake_slot())
        .await?;
    if let Some(command) = point.command {
        if let Some(token) = &point.token {
            deliver(tasks, token, &command).await?;
        }
        return Ok(Released::Commanded(command));
    }
    if let Some(token) = point.token {
        end_watch(ledger, tasks, deployment, &token).await?;
    }
    Ok(Released::Ended)
}

/// Ends the watch's task with an operator's command (OperatorCommand): the bake's Parallel
/// ends, and its Catch applies the command. A task that ended already is nothing to do.
pub async fn deliver<T: Tasks>(tasks: &T, token: &str, command: &Command) -> Result<(), Error> {
    let failure = Failure::new(ErrorName::OperatorCommand, command.describe());
    tasks.fail_task(token, &failure).await?;
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
