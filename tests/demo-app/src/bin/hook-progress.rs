//! An invoked traffic hook that takes its time: it answers InProgress three times, counting its
//! calls in the state sluice hands back, then Succeeded. It fails if the state did not come back
//! as it left it, or the payload lacks what a hook tests (read by sluice-hook's HookEvent).

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};
use sluice_hook::{Answer, HookEvent};

fn answer(payload: Value) -> Result<Value, String> {
    let event: HookEvent =
        serde_json::from_value(payload).map_err(|e| format!("not a hook event: {e}"))?;
    event
        .target
        .new_version_arn
        .as_deref()
        .ok_or("no newVersionArn")?;
    let seen = event.state["calls"].as_u64().unwrap_or(0);
    if seen + 1 != event.call {
        return Ok(Answer::failed(format!(
            "call {} came with state {}",
            event.call, event.state
        ))
        .to_json());
    }
    Ok(if event.call <= 3 {
        Answer::in_progress(1, json!({"calls": event.call}))
            .saying(format!("smoke test {} of 3 running", event.call))
            .to_json()
    } else {
        Answer::Succeeded.to_json()
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        answer(event.payload).map_err(|m| Diagnostic {
            error_type: "HookPayloadInvalid".into(),
            error_message: m,
        })
    }))
    .await
}
