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
use std::time::Duration;

/// The longest a sweep spends telling EventBridge what it settled (well inside the function's
/// 90 s timeout, after the sweep's 60 s).
const ANNOUNCE_SECONDS: u64 = 10;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let functions = &LambdaFunctions::from_env();
    let ledger = &DynamoLedger::from_env()?;
    let executions = &StepFunctions::from_env();
    let bus = &EventBus::from_env();
    sluice_aws::runtime::run("sweeper", |_tick: handler::Tick| async move {
        let swept = sluice_aws::sweep::sweep(functions, ledger, executions, now()).await?;
        // Each deployment it settled, told as its record now says (it was unsettled: the open
        // index), within ANNOUNCE_SECONDS in all, after the sweep's own SWEEP_SECONDS.
        let settled = swept.settled.clone();
        let tell = async {
            for id in &settled {
                if let Ok(Some(doc)) = ledger.load(id).await {
                    let how = match doc.status {
                        Status::Deployed => Settlement::Finish,
                        Status::RolledBack | Status::RollbackIncomplete => Settlement::RollBack,
                        _ => continue,
                    };
                    bus.put(doc.repaired(how)).await;
                }
            }
        };
        // Told (or, without a bus, counted in sluice's metrics) either way.
        let _ = tokio::time::timeout(Duration::from_secs(ANNOUNCE_SECONDS), tell).await;
        handler::judged(swept)
    })
    .await
}
