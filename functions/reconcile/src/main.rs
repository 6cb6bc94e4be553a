// The SDK futures nest deeper than the default query depth allows when their layout is computed.
#![recursion_limit = "256"]

mod handler;

use sluice_aws::clock::now;
use sluice_aws::dynamodb::DynamoLedger;
use sluice_aws::ending::Settled;
use sluice_aws::lambda::LambdaFunctions;
use sluice_aws::lifecycle::EventBus;
use sluice_aws::sfn::StepFunctions;
use sluice_core::Settlement;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let functions = &LambdaFunctions::from_env();
    let ledger = &DynamoLedger::from_env()?;
    let executions = &StepFunctions::from_env();
    let bus = &EventBus::from_env();
    sluice_aws::runtime::run("reconcile", |event| async move {
        let settled = handler::reconcile(functions, ledger, executions, event, now()).await?;
        // Only a repair is told: a record settled already (Release) was told by its own ending.
        if let Settled::Settled {
            settlement: settlement @ (Settlement::Finish | Settlement::RollBack),
            document,
        } = &settled
        {
            bus.put(document.repaired(*settlement)).await;
        }
        Ok(settled)
    })
    .await
}
