//! The demo function's broken code: every call fails, as a bad release would.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async move {
        Err::<Value, Diagnostic>(Diagnostic {
            error_type: "OrderStoreUnavailable".into(),
            error_message: "orders: connection to the order store refused".into(),
        })
    }))
    .await
}
