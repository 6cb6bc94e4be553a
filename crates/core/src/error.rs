//! sluice-core's errors: the catalog of names sluice writes, the error every fallible function
//! of the crate returns, and why a value cannot be read.
//!
//! Every error a phase function returns carries a catalog name; the state machine's Retry and
//! Catch clauses may name only those (or `Lambda.*`, `States.*`), and a contract test checks
//! that. Every failure sluice records carries a catalog name too, or the name Step Functions (or
//! a hook) gave an error sluice caught.

use crate::bounds::{MAX_FIELD_CHARS, MAX_REFUSAL_BYTES, clip, clip_bytes};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A stable error name, as the state machine and users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorName {
    /// The request is malformed, or names something that does not exist. Nothing was touched.
    InvalidRequest,
    /// An alias is in use by another deployment, or carries routing weights one left behind.
    AliasBusy,
    /// An alias was changed by someone other than this deployment.
    AliasConflict,
    /// A CloudWatch alarm of the deployment was in ALARM.
    AlarmBreached,
    /// The canary analysis found the new version worse than the stable one on its own metrics
    /// (or found no verdict, where the request says that fails).
    AnalysisFailed,
    /// A PreTraffic or PostTraffic hook failed.
    HookFailed,
    /// AWS throttled or failed transiently; safe to retry.
    TransientAws,
    /// AWS refused the call for a reason a retry will not fix (permissions, limits, ...).
    AwsFailure,
    /// A bug or a broken invariant: the document handed to a phase is not one sluice wrote, a
    /// status no step expects, ...
    InternalError,
    /// The deployment was settled already (the safety net rolled it back after a stop, say): a
    /// task that runs after that — a redriven execution's, or one that outlived its execution —
    /// does nothing, and says so.
    AlreadySettled,
    /// A gate of the plan got no approval in its time, or a pause outlasted its limit, and
    /// `onTimeout` says rollback.
    HoldTimedOut,
    /// An operator rejected the deployment at a gate (`sluice reject`): rolled back.
    Rejected,
    /// A freeze in the ledger (`sluice freeze`) stops new deployments of a function, or all of
    /// them, and the request did not override it. Nothing was touched.
    Frozen,
    /// Not a failure: an operator's command (`sluice promote`, ...) ending a bake's watch task,
    /// which ends the bake so the command can be applied. Never recorded.
    OperatorCommand,
    /// The execution was stopped (StopExecution): recorded by the safety net, never raised.
    ExecutionAborted,
    /// The execution reached its timeout: recorded by the safety net, never raised.
    ExecutionTimedOut,
    /// The execution failed where no Catch runs and Step Functions named no error: recorded by
    /// the safety net, never raised.
    ExecutionFailed,
}

impl ErrorName {
    /// Every name sluice writes: those a phase raises, then the endings the safety net records.
    pub const ALL: [ErrorName; 17] = [
        ErrorName::InvalidRequest,
        ErrorName::AliasBusy,
        ErrorName::AliasConflict,
        ErrorName::AlarmBreached,
        ErrorName::AnalysisFailed,
        ErrorName::HookFailed,
        ErrorName::TransientAws,
        ErrorName::AwsFailure,
        ErrorName::InternalError,
        ErrorName::AlreadySettled,
        ErrorName::Frozen,
        ErrorName::HoldTimedOut,
        ErrorName::Rejected,
        ErrorName::OperatorCommand,
        ErrorName::ExecutionAborted,
        ErrorName::ExecutionTimedOut,
        ErrorName::ExecutionFailed,
    ];

    /// The names a phase function raises (the first thirteen of `ALL`): what the state machine's Retry
    /// and Catch may match. The rest only name endings the safety net records.
    pub const RAISED: &[ErrorName] = ErrorName::ALL.split_at(13).0;

    /// Names that end a task on purpose without a failure (an operator's command): the state
    /// machine catches them to act, and no failure is ever recorded under them.
    pub const SIGNALS: &[ErrorName] = &[ErrorName::OperatorCommand];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::InvalidRequest => "InvalidRequest",
            ErrorName::AliasBusy => "AliasBusy",
            ErrorName::AliasConflict => "AliasConflict",
            ErrorName::AlarmBreached => "AlarmBreached",
            ErrorName::AnalysisFailed => "AnalysisFailed",
            ErrorName::HookFailed => "HookFailed",
            ErrorName::TransientAws => "TransientAws",
            ErrorName::AwsFailure => "AwsFailure",
            ErrorName::InternalError => "InternalError",
            ErrorName::AlreadySettled => "AlreadySettled",
            ErrorName::Frozen => "Frozen",
            ErrorName::HoldTimedOut => "HoldTimedOut",
            ErrorName::Rejected => "Rejected",
            ErrorName::OperatorCommand => "OperatorCommand",
            ErrorName::ExecutionAborted => "ExecutionAborted",
            ErrorName::ExecutionTimedOut => "ExecutionTimedOut",
            ErrorName::ExecutionFailed => "ExecutionFailed",
        }
    }

    /// The catalog entry of this name, if it is one.
    pub fn of(name: &str) -> Option<ErrorName> {
        ErrorName::ALL.into_iter().find(|n| n.as_str() == name)
    }

    /// Whether a name used in the state machine's Retry and Catch is one a phase raises, or one
    /// of AWS's own families.
    pub fn is_known_state_machine_error(name: &str) -> bool {
        name.starts_with("Lambda.")
            || name.starts_with("States.")
            || ErrorName::RAISED.iter().any(|n| n.as_str() == name)
            || ErrorName::SIGNALS.iter().any(|n| n.as_str() == name)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name of a recorded failure: a catalog name (what sluice writes), or the name of an error
/// sluice caught and kept (Step Functions' `States.Timeout`, a Lambda runtime's
/// `Sandbox.Timedout`, ...). Only reading a caught failure makes the second kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum FailureName {
    Sluice(ErrorName),
    Caught(String),
}

impl FailureName {
    pub fn as_str(&self) -> &str {
        match self {
            FailureName::Sluice(n) => n.as_str(),
            FailureName::Caught(n) => n,
        }
    }
}

impl From<ErrorName> for FailureName {
    fn from(name: ErrorName) -> FailureName {
        FailureName::Sluice(name)
    }
}

impl From<String> for FailureName {
    fn from(name: String) -> FailureName {
        match ErrorName::of(&name) {
            Some(n) => FailureName::Sluice(n),
            None => FailureName::Caught(name),
        }
    }
}

/// Tests write caught names as literals; sluice's own code names failures from the catalog.
#[cfg(any(test, feature = "testing"))]
impl From<&str> for FailureName {
    fn from(name: &str) -> FailureName {
        FailureName::from(name.to_string())
    }
}

impl From<FailureName> for String {
    fn from(name: FailureName) -> String {
        name.as_str().to_string()
    }
}

impl PartialEq<ErrorName> for FailureName {
    fn eq(&self, other: &ErrorName) -> bool {
        *self == FailureName::Sluice(*other)
    }
}

impl PartialEq<&str> for FailureName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for FailureName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its catalog name and a message meant for a person; a refused request field
/// also names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct Error {
    pub name: ErrorName,
    pub message: String,
    /// The request field a refusal is about ("targets[0].alias"); the message starts with it.
    pub field: Option<String>,
}

impl Error {
    pub fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Error {
            name,
            message: message.into(),
            field: None,
        }
    }

    /// A refusal, "field: reason", kept short whatever it quotes: the field to
    /// [`MAX_FIELD_CHARS`] characters, the whole to [`MAX_REFUSAL_BYTES`] (each place that
    /// quotes input clips it too; this is the net under them).
    pub fn invalid(field: &str, reason: impl fmt::Display) -> Self {
        let field = clip(field, MAX_FIELD_CHARS);
        Error {
            name: ErrorName::InvalidRequest,
            message: clip_bytes(&format!("{field}: {reason}"), MAX_REFUSAL_BYTES),
            field: Some(field),
        }
    }

    pub fn internal(reason: impl fmt::Display) -> Self {
        Error::new(ErrorName::InternalError, reason.to_string())
    }

    /// A refusal's reason, without the field it names.
    pub fn reason(&self) -> &str {
        match &self.field {
            Some(field) => self
                .message
                .strip_prefix(field.as_str())
                .and_then(|rest| rest.strip_prefix(": "))
                .unwrap_or(&self.message),
            None => &self.message,
        }
    }
}

/// Why a value cannot be what it claims (a weight, a version, a name, a duration): the reason
/// only; whoever read the value names the field (`Error::invalid`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(reason: impl Into<String>) -> Self {
        Invalid(reason.into())
    }

    /// This reason as the refusal of `field`.
    pub fn at(self, field: &str) -> Error {
        Error::invalid(field, self.0)
    }
}

/// The reason as text.
impl std::ops::Deref for Invalid {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_listed_once_and_reads_back() {
        for (i, name) in ErrorName::ALL.iter().enumerate() {
            assert_eq!(ErrorName::of(name.as_str()), Some(*name));
            assert!(!ErrorName::ALL[..i].contains(name), "{name} listed twice");
        }
        assert_eq!(ErrorName::RAISED.last(), Some(&ErrorName::Rejected));
        assert!(!ErrorName::RAISED.contains(&ErrorName::ExecutionAborted));
        assert_eq!(
            FailureName::from("States.Timeout".to_string()),
            FailureName::Caught("States.Timeout".into())
        );
        assert_eq!(
            FailureName::from("AlarmBreached".to_string()),
            ErrorName::AlarmBreached
        );
    }

    #[test]
    fn a_refusal_names_its_field_and_keeps_its_reason() {
        let e = Error::invalid("targets[0].alias", "is all digits");
        assert_eq!(e.message, "targets[0].alias: is all digits");
        assert_eq!(e.field.as_deref(), Some("targets[0].alias"));
        assert_eq!(e.reason(), "is all digits");
        assert_eq!(Error::internal("x").reason(), "x");
    }
}
