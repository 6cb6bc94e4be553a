//! Why a deployment failed, in plain words. This is the one place where a Lambda error's JSON
//! (`{"errorType": ..., "errorMessage": ...}`, as Step Functions' Catch hands it over) becomes
//! text a person reads; the state machine asks for it wherever a failure ends an execution.

use crate::bounds::{MAX_CAUSE_CHARS, clip};
use crate::error::{ErrorName, FailureName};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why the deployment failed, in the shape Step Functions' Catch writes (`Error`, `Cause`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(rename = "Error")]
    pub error: FailureName,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

impl Failure {
    /// A failure sluice records: always under a catalog name.
    pub fn new(name: ErrorName, cause: impl Into<String>) -> Failure {
        Failure {
            error: name.into(),
            cause: cause.into(),
        }
    }

    /// The cause as a person should read it: a Lambda error's JSON is reduced to its message,
    /// also where the state machine wrapped it in text ("PostTraffic hook h failed: {...}").
    pub fn plain_cause(&self) -> String {
        let Some(start) = self.cause.find('{') else {
            return self.cause.clone();
        };
        let (before, json) = self.cause.split_at(start);
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(json) else {
            return self.cause.clone();
        };
        let message = map.get("errorMessage").and_then(Value::as_str);
        match (
            before.is_empty(),
            map.get("errorType").and_then(Value::as_str),
            message,
        ) {
            (true, _, Some(msg)) => msg.to_string(),
            (false, Some(ty), Some(msg)) => format!("{before}{ty}: {msg}"),
            (false, None, Some(msg)) => format!("{before}{msg}"),
            _ => self.cause.clone(),
        }
    }
}

/// A failure the state machine caught where no phase reads it (a refused request, a rollback
/// that could not finish), for the explain function to put in plain words before a Fail state:
/// `{"failure": {"Error", "Cause"}, "rollingBack": {"Error", "Cause"}?}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Explain {
    pub failure: Failure,
    /// The failure a rollback was undoing when `failure` stopped it.
    #[serde(default)]
    pub rolling_back: Option<Failure>,
}

impl Explain {
    /// The failure in plain words, with the error name unchanged.
    pub fn plain(&self) -> Failure {
        let mut what = self.failure.plain_cause();
        if what.trim().is_empty() {
            what = format!("{} (Step Functions gave no cause)", self.failure.error);
        }
        let cause = match &self.rolling_back {
            None => what,
            Some(original) => {
                let reason = original.plain_cause();
                // Rollback's own error already starts with the reason it was undoing.
                let what = what
                    .strip_prefix(&reason)
                    .map_or(what.as_str(), |rest| rest.trim_start_matches(['.', ' ']));
                format!(
                    "{reason}. Rollback could not finish, so aliases may still carry sluice's weights \
                     until the safety net restores them: {what}"
                )
            }
        };
        Failure {
            error: self.failure.error.clone(),
            cause: clip(&cause, MAX_CAUSE_CHARS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_cause_unwraps_lambda_error_json() {
        let f = |cause: &str| {
            Failure {
                error: "E".into(),
                cause: cause.into(),
            }
            .plain_cause()
        };
        let json = r#"{"errorType":"SmokeTestFailed","errorMessage":"GET /orders returned 500"}"#;
        assert_eq!(f(json), "GET /orders returned 500");
        assert_eq!(
            f(&format!("PostTraffic hook h failed: {json}")),
            "PostTraffic hook h failed: SmokeTestFailed: GET /orders returned 500"
        );
        assert_eq!(f("plain text"), "plain text");
        assert_eq!(f("text with {not json"), "text with {not json");
        let python =
            r#"{"errorMessage": "boom", "errorType": "ValueError", "stackTrace": ["  File x"]}"#;
        assert_eq!(f(python), "boom", "a stack trace never reaches the cause");
    }

    fn explain(payload: serde_json::Value) -> Explain {
        serde_json::from_value(payload).unwrap()
    }

    #[test]
    fn an_explanation_reads_failures_only() {
        assert!(serde_json::from_value::<Explain>(json!({"deploymentId": "d"})).is_err());
        let e = explain(json!({"failure": {
            "Error": "InvalidRequest",
            "Cause": "{\"errorType\":\"InvalidRequest\",\"errorMessage\":\"strategy: unknown preset\"}"
        }}));
        assert_eq!(
            e.plain(),
            Failure {
                error: "InvalidRequest".into(),
                cause: "strategy: unknown preset".into()
            }
        );
        assert!(serde_json::from_value::<Explain>(json!({"failure": 1})).is_err());
        let timeout = explain(json!({"failure": {"Error": "States.Timeout", "Cause": ""}}));
        assert_eq!(
            timeout.plain().cause,
            "States.Timeout (Step Functions gave no cause)"
        );
    }

    #[test]
    fn a_failed_rollback_names_its_reason_once() {
        let e = explain(json!({
            "failure": {"Error": "TransientAws", "Cause": "{\"errorType\":\"TransientAws\",\"errorMessage\":\"alarm e is in ALARM. Rollback not finished: a:live could not be rolled back\"}"},
            "rollingBack": {"Error": "AlarmBreached", "Cause": "alarm e is in ALARM"}
        }))
        .plain();
        assert_eq!(
            e.cause.matches("alarm e is in ALARM").count(),
            1,
            "{}",
            e.cause
        );
        assert!(
            e.cause
                .ends_with("restores them: Rollback not finished: a:live could not be rolled back"),
            "{}",
            e.cause
        );
    }

    #[test]
    fn a_failed_rollback_keeps_the_original_reason() {
        let e = explain(json!({
            "failure": {"Error": "TransientAws", "Cause": "{\"errorType\":\"TransientAws\",\"errorMessage\":\"UpdateAlias: throttled\"}"},
            "rollingBack": {"Error": "AlarmBreached", "Cause": "alarm errors is in ALARM"}
        }))
        .plain();
        assert_eq!(e.error, "TransientAws");
        assert_eq!(
            e.cause,
            "alarm errors is in ALARM. Rollback could not finish, so aliases may still carry sluice's weights \
             until the safety net restores them: UpdateAlias: throttled"
        );
    }
}
