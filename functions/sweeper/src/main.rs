// The SDK futures nest deeper than the default query depth allows when their layout is computed.
#![recursion_limit = "256"]

mod handler;

use sluice_aws::Ledger;
use sluice_aws::clock::now;
use sluice_aws::dynamodb::DynamoLedger;
use sluice_aws::lambda::LambdaFunctions;
use sluice_aws::lifecycle::EventBus;
use sluice_aws::sfn::StepFunctions;
use sluice_core::{Settlement, Status};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let functions = &LambdaFunctions::from_env();
    let ledger = &DynamoLedger::from_env()?;
    let executions = &StepFunctions::from_env();
    let bus = &EventBus::from_env();
    sluice_aws::runtime::run("sweeper", |tick| async move {
        let result = handler::sweeper(functions, ledger, executions, tick, now()).await;
        // What it settled, as its records now say (a failed sweep settled some all the same).
        let settled = match &result {
            Ok(swept) => swept.settled.clone(),
            Err(_) => Vec::new(),
        };
        for id in settled.iter().filter(|_| bus.enabled()) {
            if let Ok(Some(doc)) = ledger.load(id).await {
                // It was unsettled (the open index): its record now says how it was settled.
                let how = match doc.status {
                    Status::Deployed => Settlement::Finish,
                    Status::RolledBack | Status::RollbackIncomplete => Settlement::RollBack,
                    _ => continue,
                };
                bus.put(doc.repaired(how)).await;
            }
        }
        result
    })
    .await
}
