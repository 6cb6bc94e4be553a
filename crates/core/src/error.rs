//! The catalog of error names. Every error a phase function returns carries one of these
//! names; the state machine's Retry and Catch clauses may name only these (or `Lambda.*`,
//! `States.*`), and a contract test checks that.

use crate::bounds::{MAX_FIELD_CHARS, MAX_REFUSAL_BYTES, clip, clip_bytes};
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
    /// A PreTraffic or PostTraffic hook failed.
    HookFailed,
    /// AWS throttled or failed transiently; safe to retry.
    TransientAws,
    /// AWS refused the call for a reason a retry will not fix (permissions, limits, ...).
    AwsFailure,
    /// A bug or a broken invariant: the document handed to a phase is not one sluice wrote, a
    /// status no step expects, ...
    InternalError,
}

impl ErrorName {
    pub const ALL: [ErrorName; 8] = [
        ErrorName::InvalidRequest,
        ErrorName::AliasBusy,
        ErrorName::AliasConflict,
        ErrorName::AlarmBreached,
        ErrorName::HookFailed,
        ErrorName::TransientAws,
        ErrorName::AwsFailure,
        ErrorName::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::InvalidRequest => "InvalidRequest",
            ErrorName::AliasBusy => "AliasBusy",
            ErrorName::AliasConflict => "AliasConflict",
            ErrorName::AlarmBreached => "AlarmBreached",
            ErrorName::HookFailed => "HookFailed",
            ErrorName::TransientAws => "TransientAws",
            ErrorName::AwsFailure => "AwsFailure",
            ErrorName::InternalError => "InternalError",
        }
    }

    /// Whether a name used in the state machine belongs to the catalog or to AWS's own families.
    pub fn is_known_state_machine_error(name: &str) -> bool {
        name.starts_with("Lambda.")
            || name.starts_with("States.")
            || ErrorName::ALL.iter().any(|n| n.as_str() == name)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its catalog name and a message meant for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct Error {
    pub name: ErrorName,
    pub message: String,
}

impl Error {
    pub fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Error {
            name,
            message: message.into(),
        }
    }

    /// A refusal, "field: reason", kept short whatever it quotes: the field to
    /// [`MAX_FIELD_CHARS`] characters, the whole to [`MAX_REFUSAL_BYTES`] (each place that
    /// quotes input clips it too; this is the net under them).
    pub fn invalid(field: &str, reason: impl fmt::Display) -> Self {
        let field = clip(field, MAX_FIELD_CHARS);
        Error::new(
            ErrorName::InvalidRequest,
            clip_bytes(&format!("{field}: {reason}"), MAX_REFUSAL_BYTES),
        )
    }

    pub fn internal(reason: impl fmt::Display) -> Self {
        Error::new(ErrorName::InternalError, reason.to_string())
    }
}

/// A request field that cannot be accepted, and why. Becomes an `InvalidRequest`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Refusal {
    pub field: String,
    pub reason: String,
}

impl Refusal {
    pub fn new(field: impl Into<String>, reason: impl fmt::Display) -> Self {
        Refusal {
            field: field.into(),
            reason: reason.to_string(),
        }
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        Error::invalid(&r.field, r.reason)
    }
}
