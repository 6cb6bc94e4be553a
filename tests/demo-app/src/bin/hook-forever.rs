//! An invoked traffic hook that never finishes: InProgress at every call, so its timeout ends it.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let call = event.payload["call"].as_u64().unwrap_or(0);
        Ok::<Value, lambda_runtime::Error>(
            json!({"status": "InProgress", "retryAfterSeconds": 1, "state": {"call": call}}),
        )
    }))
    .await
}
