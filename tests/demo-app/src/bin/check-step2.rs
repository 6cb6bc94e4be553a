//! A check hook (`hooks.check`) that passes every check of step 1 and fails step 2's, saying
//! why, once it has checked the payload carries what a check needs: the phase, the step, each
//! target's stable and new version, and the last check's verdict.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

fn check(p: &Value) -> Result<Value, String> {
    if p["phase"] != "Check" {
        return Err(format!("not a check: phase {}", p["phase"]));
    }
    let step = p["step"].as_u64().ok_or("no step")?;
    for t in p["targets"].as_array().ok_or("no targets")? {
        t["newVersion"]
            .as_str()
            .ok_or("a target has no newVersion")?;
    }
    // The last check's verdict (none before a deployment's first check).
    if !p["check"].is_null() {
        p["check"]["healthy"]
            .as_bool()
            .ok_or("a verdict without healthy")?;
    }
    Ok(if step >= 2 {
        json!({"status": "Failed", "reason": format!("step {step}: the smoke test's p99 is 900 ms, over its 500 ms")})
    } else {
        json!({"status": "Succeeded"})
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        check(&event.payload).map_err(|m| Diagnostic {
            error_type: "CheckPayloadInvalid".into(),
            error_message: m,
        })
    }))
    .await
}
