// The SDK futures nest deeper than the default query depth allows when their layout is computed.
#![recursion_limit = "256"]

mod handler;

use sluice_aws::dynamodb::DynamoLedger;
use sluice_aws::sfn::StepFunctions;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let ledger = &DynamoLedger::from_env()?;
    let tasks = &StepFunctions::from_env();
    sluice_aws::runtime::run("alarm-event", |event| async move {
        handler::alarm_event(ledger, tasks, event).await
    })
    .await
}
