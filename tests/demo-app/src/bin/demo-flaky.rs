//! The demo function's flaky code: one call in five fails, as a release with a bad code path
//! would. Its alarms may stay quiet at a 10 % canary; its own error rate does not.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

static CALLS: AtomicU64 = AtomicU64::new(0);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let n = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(5) {
            return Err(Diagnostic {
                error_type: "OrderValidationFailed".into(),
                error_message: format!("orders: call {n} took the broken code path"),
            });
        }
        Ok(json!({"order": event.payload.get("order").cloned().unwrap_or(Value::Null), "status": "accepted"}))
    }))
    .await
}
