//! A traffic hook whose check fails: the smoke test of the new version did not pass.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let phase = event.payload["phase"].as_str().unwrap_or("?").to_string();
        Err::<Value, Diagnostic>(Diagnostic {
            error_type: "SmokeTestFailed".into(),
            error_message: format!("{phase} smoke test: GET /orders/42 returned 500"),
        })
    }))
    .await
}
