// The SDK futures nest deeper than the default query depth allows when their layout is computed.
#![recursion_limit = "256"]

mod handler;

use sluice_aws::Ledger;
use sluice_aws::clock::now;
use sluice_aws::dynamodb::DynamoLedger;
use sluice_aws::lambda::LambdaFunctions;
use sluice_aws::lifecycle::EventBus;
use sluice_aws::metrics;
use sluice_core::{Deployment, Lifecycle};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let functions = &LambdaFunctions::from_env();
    let ledger = &DynamoLedger::from_env()?;
    let bus = &EventBus::from_env();
    sluice_aws::runtime::run("rollback", |doc: Deployment| async move {
        // A record settled already (a redrive, a Rollback that outlived its stop) was told by
        // its own ending (the safety net's SafetyNetRepaired): this one is not told again.
        // (Read with or without a bus: the event is counted in sluice's metrics either way.)
        let told =
            matches!(ledger.load(&doc.deployment_id).await, Ok(Some(r)) if r.status.is_settled());
        let started = std::time::Instant::now();
        let doc = handler::rollback(functions, ledger, doc, now()).await?;
        // A rerun over a settled record, or a dry run (it writes no alias), is no rollback's time.
        if doc.status == sluice_core::Status::RolledBack && !told && !doc.dry_run {
            let took = started.elapsed().as_secs_f64();
            metrics::emit(metrics::ROLLBACK_SECONDS, metrics::Unit::Seconds, took, &[]);
        }
        if !told {
            bus.announce(Lifecycle::of_rollback(doc.status), &doc).await;
        }
        Ok(doc)
    })
    .await
}
