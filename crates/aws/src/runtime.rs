//! The glue every phase binary shares: typed payloads in and out (a phase is a function from
//! what the state machine or EventBridge hands it to what it returns), stable error names for
//! Step Functions, one tracing span per invocation carrying the deployment id, and the Lambda
//! runtime loop.

use futures_util::FutureExt;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use sluice_core::{Error, ErrorName};
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use tracing::Instrument;
use tracing_subscriber::filter::LevelFilter;

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

/// How a phase refuses a payload it cannot read: its reason in, the phase's error out.
pub type Unreadable = fn(&str) -> Error;

/// Runs `handler` for every invocation until the runtime stops. The payload comes from the
/// state machine (or EventBridge), which passes what sluice wrote: one it cannot read is an
/// InternalError.
pub async fn run<In, Out, F, Fut>(
    phase: &'static str,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    In: DeserializeOwned,
    Out: Serialize,
    F: Fn(In) -> Fut,
    Fut: Future<Output = Result<Out, Error>>,
{
    run_reading(phase, not_a_document, handler).await
}

/// As [`run`], for a phase whose payload carries what a user wrote (validate, the request):
/// `unreadable` says why it cannot be read, under the phase's own error name.
pub async fn run_reading<In, Out, F, Fut>(
    phase: &'static str,
    unreadable: Unreadable,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    In: DeserializeOwned,
    Out: Serialize,
    F: Fn(In) -> Fut,
    Fut: Future<Output = Result<Out, Error>>,
{
    init_logging();
    // The runtime reads the payload as text only: read into values by it, JSON nested deeper
    // than serde_json reads would fail as `DeserializeError`, a name outside sluice's catalog.
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        let payload = read_payload(&event.payload, unreadable);
        let id = payload
            .as_ref()
            .map_or_else(|_| "-".to_string(), deployment_id);
        let span = tracing::info_span!("phase", phase, deployment_id = %id);
        let input = payload.and_then(|p| read_input::<In>(phase, p));
        // Boxed: a phase's future holds its AWS calls' (tens of KB); inline, every invocation's
        // future, and the stack it is polled on, would be that large even for a refused payload.
        let fut = input.map(|input| Box::pin(handler(input)));
        async move {
            let result = match fut {
                // A panic is a bug: it surfaces as InternalError with its message, not as the
                // runtime's name for a panic payload.
                Ok(fut) => AssertUnwindSafe(fut)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| Err(panicked(phase, panic.as_ref())))
                    .and_then(|out| {
                        serde_json::to_value(out).map_err(|e| {
                            Error::internal(format!("{phase} could not write its answer: {e}"))
                        })
                    }),
                Err(e) => Err(e),
            };
            match result {
                Ok(v) => {
                    let status = v.get("status").and_then(Value::as_str).unwrap_or("-");
                    tracing::info!(status, "done");
                    Ok(v)
                }
                Err(e) => {
                    tracing::warn!(error = e.name.as_str(), message = %e.message, "failed");
                    // AWS or sluice failing, not a verdict or a refusal (InvalidRequest,
                    // AliasBusy, AlreadySettled, ...: the deployment's own story).
                    if matches!(
                        e.name,
                        ErrorName::TransientAws | ErrorName::AwsFailure | ErrorName::InternalError
                    ) {
                        crate::metrics::emit(
                            crate::metrics::PHASE_FAILED,
                            crate::metrics::Unit::Count,
                            1.0,
                            &[("Phase", phase)],
                        );
                    }
                    Err(PhaseError(e))
                }
            }
        }
        .instrument(span)
    }))
    .await
}

/// The deployment an invocation is about, for its log lines: a document's or a call's
/// `deploymentId`, or an execution status event's execution name.
fn deployment_id(payload: &Value) -> String {
    payload
        .get("deploymentId")
        .or_else(|| payload.pointer("/detail/name"))
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_string()
}

/// The payload as the phase's input type; what does not fit is not something sluice wrote.
/// (Handler tests read their inputs through here too.)
pub fn read_input<In: DeserializeOwned>(phase: &str, payload: Value) -> Result<In, Error> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        Error::internal(format!(
            "{phase} was handed a payload sluice did not write ({}: {})",
            e.path(),
            e.inner()
        ))
    })
}

/// The payload's text read into values, or the phase's refusal of it. serde_json reads at most
/// 128 levels of arrays and objects (and numbers that fit an f64); nothing sluice reads nests
/// deeper than a few.
pub fn read_payload(raw: &RawValue, unreadable: Unreadable) -> Result<Value, Error> {
    serde_json::from_str(raw.get()).map_err(|e| {
        let why = e.to_string();
        unreadable(if why.starts_with("recursion limit exceeded") {
            "it nests arrays and objects more than 127 levels deep; a request needs 4"
        } else {
            &why
        })
    })
}

/// An invocation's body read exactly as the runtime reads it, then by [`read_payload`]: what a
/// phase's tests feed raw text through.
pub fn read_body(body: &[u8], unreadable: Unreadable) -> Result<Value, Error> {
    // lambda_runtime 1.x's deserializer: serde_path_to_error over serde_json's from_slice.
    let raw: Box<RawValue> =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body))
            .map_err(|e| Error::internal(format!("the runtime could not read the payload: {e}")))?;
    read_payload(&raw, unreadable)
}

fn not_a_document(why: &str) -> Error {
    Error::internal(format!(
        "the payload cannot be read ({why}); the state machine passes only documents sluice wrote"
    ))
}

/// Logs as lambda_runtime's default subscriber does (Lambda's advanced logging controls: JSON when
/// `AWS_LAMBDA_LOG_FORMAT` is JSON; the level of `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else
/// INFO; no timestamps, Lambda adds them), but with a level filter instead of an EnvFilter, whose
/// regex engine is 380 KB (5 %) of a phase binary and part of its start-up: RUST_LOG's per-module
/// directives are not honoured.
fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // try_init: a second call (tests) keeps the first subscriber.
    let _ = if json {
        logs.json().try_init()
    } else {
        logs.try_init()
    };
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
    fn a_payload_of_any_depth_reaches_the_phase_as_its_own_error() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let body = format!(r#"{{"request": {deep}, "deploymentId": "d-1"}}"#);
        // Read into values by the runtime, it failed before any phase code ran.
        let by_runtime: Result<Value, _> = serde_path_to_error::deserialize(
            &mut serde_json::Deserializer::from_slice(body.as_bytes()),
        );
        assert!(by_runtime.is_err());
        let e = read_body(body.as_bytes(), not_a_document).unwrap_err();
        assert_eq!(e.name, ErrorName::InternalError);
        assert!(
            e.message.contains("more than 127 levels deep"),
            "{}",
            e.message
        );
        let e = read_body(br#"{"n": 1e400}"#, not_a_document).unwrap_err();
        assert!(e.message.contains("number out of range"), "{}", e.message);
        let v = read_body(
            br#"{"failure": {"Error": "E", "Cause": ""}}"#,
            not_a_document,
        )
        .unwrap();
        assert_eq!(v["failure"]["Error"], "E");
    }

    #[test]
    fn a_payload_of_another_shape_is_an_internal_error_naming_where() {
        let e =
            read_input::<sluice_core::Deployment>("shift", serde_json::json!({"deploymentId": 1}))
                .unwrap_err();
        assert_eq!(e.name, ErrorName::InternalError);
        assert!(
            e.message
                .starts_with("shift was handed a payload sluice did not write (deploymentId: "),
            "{}",
            e.message
        );
        assert_eq!(
            deployment_id(&serde_json::json!({"detail": {"name": "d-9"}})),
            "d-9"
        );
    }
}
