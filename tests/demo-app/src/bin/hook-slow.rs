//! A traffic hook that takes its time (8 s) and then passes: a window in which another
//! deployment of the same alias can try to start.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        tokio::time::sleep(Duration::from_secs(8)).await;
        Ok::<Value, lambda_runtime::Error>(json!({"phase": event.payload["phase"], "waited": 8}))
    }))
    .await
}
