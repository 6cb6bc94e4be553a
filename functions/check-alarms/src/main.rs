// The SDK futures nest deeper than the default query depth allows when their layout is computed.
#![recursion_limit = "256"]

mod handler;

use sluice_aws::clock::now;
use sluice_aws::cloudwatch::CloudWatchAlarms;
use sluice_aws::dynamodb::DynamoLedger;
use sluice_aws::lifecycle::EventBus;
use sluice_aws::sfn::StepFunctions;
use sluice_core::deployment::HoldKind;
use sluice_core::{Deployment, Lifecycle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let alarms = &CloudWatchAlarms::from_env();
    let ledger = &DynamoLedger::from_env()?;
    let tasks = &StepFunctions::from_env();
    let hooks = &sluice_aws::lambda::LambdaFunctions::from_env();
    let bus = &EventBus::from_env();
    sluice_aws::runtime::run("check-alarms", |doc: Deployment| async move {
        let paused = |d: &Deployment| {
            d.bake
                .hold
                .as_ref()
                .is_some_and(|h| h.kind == HoldKind::Pause)
        };
        let (applying, was_paused) = (doc.interrupt.is_some(), paused(&doc));
        let doc = handler::check_alarms(alarms, ledger, tasks, hooks, doc, now()).await?;
        let kind = match (applying, was_paused, paused(&doc)) {
            (true, false, true) => Some(Lifecycle::DeploymentPaused),
            (true, true, false) => Some(Lifecycle::DeploymentResumed),
            (true, ..) => None,
            (false, ..) => Some(Lifecycle::CheckCompleted),
        };
        if let Some(kind) = kind {
            bus.announce(kind, &doc).await;
        }
        Ok(doc)
    })
    .await
}
