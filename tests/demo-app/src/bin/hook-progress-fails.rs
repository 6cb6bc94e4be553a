//! An invoked traffic hook whose long check fails: InProgress at its first call, then Failed
//! with its reason at the second.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let answer = match event.payload["state"]["started"].as_bool() {
            Some(true) => json!({"status": "Failed", "reason": "load test: p99 1.4 s at 200 rps, over its 800 ms"}),
            _ => json!({"status": "InProgress", "retryAfterSeconds": 1, "state": {"started": true}}),
        };
        Ok::<Value, lambda_runtime::Error>(answer)
    }))
    .await
}
