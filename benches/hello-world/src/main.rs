//! scripts/bench.sh's baseline: cargo-lambda's hello-world template (tracing subscriber, one
//! handler answering every event), with nothing of sluice. Its cold start and peak RSS are what
//! any Rust Lambda function costs; sluice's functions are measured against it.

use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(json!({"hello": event.payload}))
    }))
    .await
}
