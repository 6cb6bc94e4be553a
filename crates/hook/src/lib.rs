//! sluice-hook: what a sluice traffic hook (PreTraffic or PostTraffic) written in Rust needs.
//!
//! sluice invokes a hook with a [`HookEvent`]: the deployment, the phase, the function and
//! alias under test with its stable and new version (and the new version's qualified ARN, to
//! invoke it directly), the step and weight.
//!
//! An *invoked* hook (`"mode": "invoke"`, the default) returns an [`Answer`] as its result:
//! `Succeeded`, `Failed` with a reason, or `InProgress` with the seconds after which to be called
//! again and a state it is handed back (`event.state`) at the next call.
//!
//! A *callback* hook (`"mode": "callback"`) is handed a task token (`event.task_token`) and
//! reports once, by then or later and from anywhere, with [`Reporter::succeed`] or
//! [`Reporter::fail`] (Step Functions' SendTaskSuccess / SendTaskFailure; the function, or
//! whatever reports, needs `states:SendTaskSuccess` and `states:SendTaskFailure`).
//!
//! ```no_run
//! # async fn example(event: sluice_hook::HookEvent, client: aws_sdk_sfn::Client) {
//! use sluice_hook::{Answer, Reporter};
//! // Invoked: call me again in 30 s, with the job I started.
//! let answer = Answer::in_progress(30, serde_json::json!({"job": "smoke-42"}));
//! // Callback: report when the QA sign-off comes.
//! Reporter::new(client).succeed(&event).await.ok();
//! # }
//! ```

use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt;

/// One function and alias under test.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookTarget {
    pub function_name: String,
    /// The function's unqualified ARN (absent only in documents of early shapes).
    #[serde(default)]
    pub function_arn: Option<String>,
    pub alias: String,
    /// The version serving before the deployment: None when the deployment creates the alias.
    #[serde(default)]
    pub stable_version: Option<String>,
    pub new_version: String,
    /// The new version's qualified ARN: invoke it to test the new code with no traffic on it.
    #[serde(default)]
    pub new_version_arn: Option<String>,
}

/// What sluice hands a traffic hook at each call.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookEvent {
    pub deployment_id: String,
    /// "PreTraffic" (no traffic on the new version yet) or "PostTraffic" (all of it).
    pub phase: String,
    /// "invoke" or "callback".
    pub mode: String,
    /// A dry run: nothing is shifted; a hook with side effects may skip them.
    #[serde(default)]
    pub dry_run: bool,
    /// Which call of this hook this is, from 1 (a callback hook is called once).
    #[serde(default = "first")]
    pub call: u64,
    /// What the hook answered with its last InProgress (null at the first call).
    #[serde(default)]
    pub state: Value,
    /// 0 before the first shift (PreTraffic), the last step after it (PostTraffic).
    pub step: u64,
    pub steps: u64,
    /// Percent of traffic on the new version (0 PreTraffic, 100 PostTraffic).
    pub weight: f64,
    /// The hook's timeout, and the moment it runs out (RFC 3339).
    pub timeout_seconds: u64,
    pub deadline: String,
    /// The first target (the only one of most deployments), and every target.
    pub target: HookTarget,
    pub targets: Vec<HookTarget>,
    /// A callback hook's task token: hand it to [`Reporter`].
    #[serde(default)]
    pub task_token: Option<String>,
}

fn first() -> u64 {
    1
}

/// What an invoked hook answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Succeeded,
    Failed {
        reason: String,
    },
    /// Call again after `retry_after_seconds` (sluice waits at least a thirtieth of the hook's
    /// timeout), handing back `state` (at most 8 KiB of JSON).
    InProgress {
        retry_after_seconds: u64,
        state: Value,
        message: Option<String>,
    },
}

impl Answer {
    pub fn failed(reason: impl Into<String>) -> Answer {
        Answer::Failed {
            reason: reason.into(),
        }
    }

    pub fn in_progress(retry_after_seconds: u64, state: Value) -> Answer {
        Answer::InProgress {
            retry_after_seconds,
            state,
            message: None,
        }
    }

    /// A progress note, shown in the deployment's history.
    pub fn saying(self, note: impl Into<String>) -> Answer {
        match self {
            Answer::InProgress {
                retry_after_seconds,
                state,
                ..
            } => Answer::InProgress {
                retry_after_seconds,
                state,
                message: Some(note.into()),
            },
            other => other,
        }
    }

    /// The answer as the hook returns it (or a callback hook's SendTaskSuccess output).
    pub fn to_json(&self) -> Value {
        match self {
            Answer::Succeeded => json!({"status": "Succeeded"}),
            Answer::Failed { reason } => json!({"status": "Failed", "reason": reason}),
            Answer::InProgress {
                retry_after_seconds,
                state,
                message,
            } => {
                let mut v = json!({
                    "status": "InProgress",
                    "retryAfterSeconds": retry_after_seconds,
                    "state": state,
                });
                if let Some(m) = message {
                    v["message"] = json!(m);
                }
                v
            }
        }
    }
}

/// Why a report did not reach Step Functions.
#[derive(Debug)]
pub enum ReportError {
    /// The event carries no task token: the hook is not a callback hook.
    NoToken,
    /// The task is over already (it timed out, or was reported): nothing is left to do.
    Ended(String),
    /// Step Functions refused the report itself (an output that is not JSON, or too large):
    /// sending it again will not help.
    Refused(String),
    /// Step Functions could not be reached, or throttled: worth another try.
    Failed(String),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::NoToken => f.write_str(
                "the event has no taskToken: only a hook with \"mode\": \"callback\" reports",
            ),
            ReportError::Ended(why) => write!(f, "the hook's task is over already: {why}"),
            ReportError::Refused(why) => write!(f, "Step Functions refused the report: {why}"),
            ReportError::Failed(why) => write!(f, "the report did not reach Step Functions: {why}"),
        }
    }
}

impl std::error::Error for ReportError {}

/// Reports a callback hook's verdict to Step Functions.
#[derive(Debug, Clone)]
pub struct Reporter {
    client: aws_sdk_sfn::Client,
}

impl Reporter {
    pub fn new(client: aws_sdk_sfn::Client) -> Reporter {
        Reporter { client }
    }

    /// The hook passed (SendTaskSuccess with `{"status": "Succeeded"}`).
    pub async fn succeed(&self, event: &HookEvent) -> Result<(), ReportError> {
        self.answer(event, &Answer::Succeeded).await
    }

    /// Any answer but InProgress, as SendTaskSuccess's output (`Failed` fails the deployment).
    pub async fn answer(&self, event: &HookEvent, answer: &Answer) -> Result<(), ReportError> {
        let token = event.task_token.as_deref().ok_or(ReportError::NoToken)?;
        self.client
            .send_task_success()
            .task_token(token)
            .output(answer.to_json().to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    /// The hook failed (SendTaskFailure): `error` names it, `cause` says why; both reach the
    /// deployment's failure.
    pub async fn fail(
        &self,
        event: &HookEvent,
        error: &str,
        cause: &str,
    ) -> Result<(), ReportError> {
        let token = event.task_token.as_deref().ok_or(ReportError::NoToken)?;
        self.client
            .send_task_failure()
            .task_token(token)
            .error(clip(error, 256))
            .cause(clip(cause, 32_768))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

/// A task that is over (timed out, reported, or its execution gone) is no failure to retry.
fn classify<E, R>(e: SdkError<E, R>) -> ReportError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    let code = e.code().map(str::to_string);
    let text = DisplayErrorContext(&e).to_string();
    match code.as_deref() {
        Some("TaskTimedOut" | "InvalidToken" | "TaskDoesNotExist") => ReportError::Ended(text),
        Some("InvalidOutput" | "ValidationException") => ReportError::Refused(text),
        _ => ReportError::Failed(text),
    }
}

/// At most `max` characters (Step Functions' limits on error and cause).
fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_what_sluice_reads() {
        assert_eq!(Answer::Succeeded.to_json(), json!({"status": "Succeeded"}));
        assert_eq!(
            Answer::failed("p99 900 ms").to_json(),
            json!({"status": "Failed", "reason": "p99 900 ms"})
        );
        assert_eq!(
            Answer::in_progress(30, json!({"job": 7}))
                .saying("3 of 10 done")
                .to_json(),
            json!({"status": "InProgress", "retryAfterSeconds": 30, "state": {"job": 7}, "message": "3 of 10 done"})
        );
    }

    #[test]
    fn the_event_reads_what_sluice_hands_a_hook() {
        let target = json!({
            "functionName": "orders", "functionArn": "arn:aws:lambda:us-east-1:1:function:orders",
            "alias": "live", "stableVersion": "3", "newVersion": "4",
            "newVersionArn": "arn:aws:lambda:us-east-1:1:function:orders:4"
        });
        let event: HookEvent = serde_json::from_value(json!({
            "deploymentId": "d-1", "phase": "PreTraffic", "mode": "callback", "dryRun": false,
            "call": 1, "step": 0, "steps": 2, "weight": 0.0, "timeoutSeconds": 7200,
            "deadline": "2026-12-07T12:00:00Z", "target": target, "targets": [target],
            "taskToken": "t-1"
        }))
        .unwrap();
        assert_eq!(
            event.target.new_version_arn.as_deref(),
            Some("arn:aws:lambda:us-east-1:1:function:orders:4")
        );
        assert_eq!(event.task_token.as_deref(), Some("t-1"));
        assert!(event.state.is_null());
    }
}
