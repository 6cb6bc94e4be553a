//! The ports: the few AWS operations the phases use, in deployment terms.

use sluice_core::{AlarmReading, AliasSnapshot, Error, ErrorName, Routing, Version};
use std::future::Future;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The resource does not exist.
    NotFound,
    /// A conditional write lost: the alias changed since the revision given.
    Conflict,
    /// Throttling, a 5xx, a timeout, a function still updating: a retry may succeed.
    Transient,
    /// Anything else: permissions, validation, limits.
    Refused,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct AwsError {
    pub kind: AwsErrorKind,
    pub operation: String,
    pub message: String,
}

impl AwsError {
    pub fn new(
        kind: AwsErrorKind,
        operation: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            kind,
            operation: operation.into(),
            message: message.into(),
        }
    }
}

impl From<AwsError> for Error {
    fn from(e: AwsError) -> Error {
        let name = match e.kind {
            AwsErrorKind::Transient => ErrorName::TransientAws,
            AwsErrorKind::Conflict => ErrorName::AliasConflict,
            AwsErrorKind::NotFound | AwsErrorKind::Refused => ErrorName::AwsFailure,
        };
        Error::new(name, e.to_string())
    }
}

/// Lambda functions, versions and aliases.
pub trait FunctionStore: Send + Sync {
    /// The alias, or None when it does not exist.
    fn get_alias(
        &self,
        function: &str,
        alias: &str,
    ) -> impl Future<Output = Result<Option<AliasSnapshot>, AwsError>> + Send;

    /// Points the alias at `routing` if its RevisionId is still `expected_revision`; returns the new one.
    fn update_alias(
        &self,
        function: &str,
        alias: &str,
        routing: &Routing,
        expected_revision: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// Creates the alias on `version`; returns its RevisionId.
    fn create_alias(
        &self,
        function: &str,
        alias: &str,
        version: &Version,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// Whether the function (or, with `version`, that published version) exists.
    fn function_exists(
        &self,
        function: &str,
        version: Option<&Version>,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;

    /// Waits until the function's last update is done, then publishes its code as a version.
    /// Lambda returns the existing version when the code and configuration did not change.
    fn publish_version(
        &self,
        function: &str,
    ) -> impl Future<Output = Result<Version, AwsError>> + Send;
}

/// CloudWatch alarms.
pub trait AlarmReader: Send + Sync {
    /// The state of each named alarm that exists; absent names are left out.
    fn read_alarms(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<AlarmReading>, AwsError>> + Send;
}
