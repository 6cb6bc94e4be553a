// The SDK futures nest deeper than the default query depth allows when their layout is computed.
#![recursion_limit = "256"]

mod handler;

use handler::Aws;
use sluice_aws::clock::now;
use sluice_aws::cloudwatch::CloudWatchAlarms;
use sluice_aws::dynamodb::DynamoLedger;
use sluice_aws::lambda::LambdaFunctions;
use sluice_aws::lifecycle::EventBus;
use sluice_aws::sfn::StepFunctions;
use sluice_core::{ErrorName, Lifecycle, StartInput, Status, deployment::lifecycle::refused};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let aws = &Aws {
        functions: &LambdaFunctions::from_env(),
        alarms: &CloudWatchAlarms::from_env(),
        ledger: &DynamoLedger::from_env()?,
        executions: &StepFunctions::from_env(),
    };
    let bus = &EventBus::from_env();
    // The request comes from users: a payload too deep to read is refused as InvalidRequest.
    sluice_aws::runtime::run_reading("validate", StartInput::unreadable, |call| async move {
        // Kept for a refusal's event (counted in sluice's metrics even without a bus).
        let asked = Some(sluice_core::StartCall::clone(&call));
        let result = handler::validate(aws, call, now()).await;
        match (&result, asked) {
            (Ok(doc), _) => match doc.status {
                Status::Ready => bus.announce(Lifecycle::DeploymentStarted, doc).await,
                Status::NothingToDeploy => bus.announce(Lifecycle::DeploymentSucceeded, doc).await,
                // Stopped while validate ran: settled here, nothing moved.
                Status::RolledBack => bus.announce(Lifecycle::DeploymentRolledBack, doc).await,
                _ => {}
            },
            // Refused (a transient failure is retried; a settled one was announced before).
            (Err(e), Some(call))
                if !matches!(e.name, ErrorName::TransientAws | ErrorName::AlreadySettled) =>
            {
                bus.put(refused(&call, e)).await
            }
            _ => {}
        }
        result
    })
    .await
}
