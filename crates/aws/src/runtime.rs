//! The glue every phase binary shares: stable error names for Step Functions, one tracing
//! span per invocation carrying the deployment id, the answer to the state machine's
//! "explain this failure" calls, and the Lambda runtime loop.

use futures_util::FutureExt;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use sluice_core::{Error, Explain};
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use tracing::Instrument;

/// A phase's error as Lambda reports it: `errorType` is the catalog name, which Step Functions
/// uses as the error name in Retry and Catch.
#[derive(Debug)]
pub struct PhaseError(pub Error);

impl From<PhaseError> for Diagnostic {
    fn from(e: PhaseError) -> Diagnostic {
        Diagnostic {
            error_type: e.0.name.as_str().to_string(),
            error_message: e.0.message,
        }
    }
}

/// Runs `handler` for every invocation until the runtime stops.
pub async fn run<F, Fut>(phase: &'static str, handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<Value, Error>>,
{
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let id = event
            .payload
            .get("deploymentId")
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string();
        let span = tracing::info_span!("phase", phase, deployment_id = %id);
        // Any phase function puts a caught failure in plain words (sluice-core's one place for it).
        let explained = Explain::from_payload(&event.payload);
        let fut = explained.is_none().then(|| handler(event.payload));
        async move {
            let result = match (explained, fut) {
                (Some(explained), _) => explained.map(|e| explanation(&e)),
                // A panic is a bug: it surfaces as InternalError with its message, not as the
                // runtime's name for a panic payload.
                (None, Some(fut)) => AssertUnwindSafe(fut)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(panicked(phase, panic.as_ref()))),
                (None, None) => Err(Error::internal("neither an explain call nor a phase call")),
            };
            match result {
                Ok(v) => {
                    let status = v
                        .get("status")
                        .and_then(|s| s.as_str())
                        .unwrap_or("-")
                        .to_string();
                    tracing::info!(status, "done");
                    Ok(v)
                }
                Err(e) => {
                    tracing::warn!(error = e.name.as_str(), message = %e.message, "failed");
                    Err(PhaseError(e))
                }
            }
        }
        .instrument(span)
    }))
    .await
}

/// A panic as an error: its message, whatever the payload's type.
fn panicked(phase: &str, payload: &(dyn Any + Send)) -> Error {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    Error::internal(format!("{phase} panicked: {message}"))
}

/// `{"Error": ..., "Cause": ...}` in plain words, for a Fail state's ErrorPath and CausePath.
fn explanation(explain: &Explain) -> Value {
    serde_json::to_value(explain.plain()).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::ErrorName;

    #[test]
    fn every_catalog_error_keeps_its_name_on_the_wire() {
        for name in ErrorName::ALL {
            let d: Diagnostic = PhaseError(Error::new(name, "why")).into();
            assert_eq!(d.error_type, name.as_str());
            assert_eq!(d.error_message, "why");
        }
    }

    #[tokio::test]
    async fn a_panic_becomes_an_internal_error_with_its_message() {
        let fut = async { panic!("index out of bounds: the len is 0") };
        let result: Result<Value, Error> = AssertUnwindSafe(fut)
            .catch_unwind()
            .await
            .unwrap_or_else(|p| Err(panicked("shift", p.as_ref())));
        let e = result.unwrap_err();
        assert_eq!(e.name, sluice_core::ErrorName::InternalError);
        assert_eq!(
            e.message,
            "shift panicked: index out of bounds: the len is 0"
        );
        let d: Diagnostic = PhaseError(e).into();
        assert_eq!(d.error_type, "InternalError");
    }

    #[test]
    fn an_explanation_is_what_a_fail_state_reads() {
        let payload = serde_json::json!({"explain": {"Error": "HookFailed", "Cause": "hook h failed: {\"errorType\":\"E\",\"errorMessage\":\"500\"}"}});
        let e = Explain::from_payload(&payload).unwrap().unwrap();
        assert_eq!(
            explanation(&e),
            serde_json::json!({"Error": "HookFailed", "Cause": "hook h failed: E: 500"})
        );
    }
}
