//! What the demo's callback hooks share: each reports (or does not) with the task token sluice
//! handed it, through sluice-hook's Reporter.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};
use sluice_hook::{HookEvent, Reporter};

/// What a callback hook reports.
#[derive(Debug, Clone, Copy)]
pub enum Report {
    /// SendTaskSuccess.
    Approve,
    /// SendTaskFailure, QaRejected.
    Reject,
    /// Nothing: its timeout ends it.
    Nothing,
}

async fn report(reporter: &Reporter, what: Report, payload: Value) -> Result<Value, String> {
    let event: HookEvent =
        serde_json::from_value(payload).map_err(|e| format!("not a hook event: {e}"))?;
    if event.task_token.is_none() {
        return Err("a callback hook was called without a taskToken".into());
    }
    let reported = match what {
        Report::Approve => reporter.succeed(&event).await,
        Report::Reject => {
            let cause = format!(
                "QA found the checkout button missing on {} version {}",
                event.target.function_name, event.target.new_version
            );
            reporter.fail(&event, "QaRejected", &cause).await
        }
        Report::Nothing => return Ok(json!({"reported": false})),
    };
    reported.map_err(|e| e.to_string())?;
    Ok(json!({"reported": true}))
}

/// Runs a callback hook that reports `what` at every call.
pub async fn run_callback_hook(what: Report) -> Result<(), lambda_runtime::Error> {
    let reporter = &Reporter::new(aws_sdk_sfn::Client::new(sluice_aws::config::shared().await));
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        report(reporter, what, event.payload)
            .await
            .map_err(|m| Diagnostic {
                error_type: "HookReportFailed".into(),
                error_message: m,
            })
    }))
    .await
}
