//! A traffic hook that passes only when sluice hands it what a hook needs: the deployment id,
//! the phase, how it answers and by when, which call this is, whether it is a dry run, the
//! weight, and each target's function, alias, stable and new version and the new version's ARN.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

fn check(p: &Value) -> Result<Value, String> {
    let phase = p["phase"].as_str().ok_or("no phase")?;
    if !matches!(phase, "PreTraffic" | "PostTraffic") {
        return Err(format!("unknown phase {phase}"));
    }
    p["deploymentId"].as_str().ok_or("no deploymentId")?;
    p["dryRun"].as_bool().ok_or("no dryRun")?;
    let weight = p["weight"].as_f64().ok_or("no weight")?;
    let expected = if phase == "PreTraffic" { 0.0 } else { 100.0 };
    if weight != expected {
        return Err(format!(
            "{phase} hook got weight {weight}, expected {expected}"
        ));
    }
    for field in ["mode", "deadline"] {
        p[field].as_str().ok_or(format!("no {field}"))?;
    }
    p["call"].as_u64().ok_or("no call")?;
    let targets = p["targets"].as_array().ok_or("no targets")?;
    if p["target"] != targets[0] {
        return Err("target is not the first of targets".into());
    }
    for t in targets {
        for field in ["functionName", "alias", "newVersion", "newVersionArn"] {
            t[field]
                .as_str()
                .ok_or(format!("a target has no {field}"))?;
        }
        // The names traffic hooks were handed before, still there for the hooks written then.
        for field in ["targetVersion", "action"] {
            t[field]
                .as_str()
                .ok_or(format!("a target has no {field}"))?;
        }
        if t["action"] == "Shift" && !t["previousVersion"].is_string() {
            return Err("a shifted target has no previousVersion".into());
        }
        // The stable version: null only for an alias the deployment creates.
        if !(t["stableVersion"].is_string() || t["stableVersion"].is_null()) {
            return Err(format!(
                "a target's stableVersion is {}",
                t["stableVersion"]
            ));
        }
    }
    Ok(json!({"checked": targets.len(), "phase": phase}))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        check(&event.payload).map_err(|m| Diagnostic {
            error_type: "HookPayloadInvalid".into(),
            error_message: m,
        })
    }))
    .await
}
