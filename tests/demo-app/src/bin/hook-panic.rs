//! A traffic hook that crashes: it panics at every call, as a hook with a bug would.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let targets = event.payload["targets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let missing = &targets[targets.len() + 1]; // index out of bounds: the hook's bug
        Ok::<Value, lambda_runtime::Error>(missing.clone())
    }))
    .await
}
