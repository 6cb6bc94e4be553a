//! The ports: the few AWS operations the phases use, in deployment terms.

use sluice_core::analysis::{MetricQuery, Series};
use sluice_core::ledger::{Command, MeetingPoint};
use sluice_core::{
    AlarmName, AlarmReading, AlarmTransition, AliasEntry, AliasName, AliasSnapshot, Deployment,
    Error, ErrorName, ExecutionState, Failure, Freeze, FreezeScope, FunctionRef, LockHolder,
    OpenItem, Routing, Timestamp, Version, VersionInfo, Watch,
};
use std::collections::HashMap;
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
    /// What AWS returned is not what sluice wrote (a ledger item of another shape): a bug, or
    /// someone else's write.
    Unreadable,
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
            AwsErrorKind::Unreadable => ErrorName::InternalError,
        };
        Error::new(name, e.to_string())
    }
}

/// What an invocation returned: its payload (JSON; null when empty), and Lambda's
/// `FunctionError` when the function raised.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoked {
    pub payload: serde_json::Value,
    pub function_error: Option<String>,
}

/// Invokes the user's functions synchronously (the check hook, at each check of a bake).
pub trait Invoker: Send + Sync {
    fn invoke(
        &self,
        function: &FunctionRef,
        payload: &serde_json::Value,
    ) -> impl Future<Output = Result<Invoked, AwsError>> + Send;
}

/// Lambda functions, versions and aliases.
pub trait FunctionStore: Send + Sync {
    /// The alias, or None when it does not exist.
    fn get_alias(
        &self,
        function: &FunctionRef,
        alias: &AliasName,
    ) -> impl Future<Output = Result<Option<AliasSnapshot>, AwsError>> + Send;

    /// Points the alias at `routing` if its RevisionId is still `expected_revision`; returns the new one.
    fn update_alias(
        &self,
        function: &FunctionRef,
        alias: &AliasName,
        routing: &Routing,
        expected_revision: &str,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// Creates the alias on `version`; returns its RevisionId.
    fn create_alias(
        &self,
        function: &FunctionRef,
        alias: &AliasName,
        version: &Version,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// The function's unqualified ARN, or None when it does not exist.
    fn function_arn(
        &self,
        function: &FunctionRef,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;

    /// This published version of the function, as Lambda describes it (None: no such version).
    fn version(
        &self,
        function: &FunctionRef,
        version: &Version,
    ) -> impl Future<Output = Result<Option<VersionInfo>, AwsError>> + Send;

    /// Waits until the function's last update is done, then publishes its code as a version.
    /// Lambda returns the existing version when the code and configuration did not change.
    fn publish_version(
        &self,
        function: &FunctionRef,
    ) -> impl Future<Output = Result<Version, AwsError>> + Send;
}

/// CloudWatch alarms.
pub trait AlarmReader: Send + Sync {
    /// The state of each named alarm that exists; absent names are left out.
    fn read_alarms(
        &self,
        names: &[AlarmName],
    ) -> impl Future<Output = Result<Vec<AlarmReading>, AwsError>> + Send;

    /// Each named alarm's moves into ALARM since `since`, from its history: what a read of the
    /// state alone misses when an alarm fired and cleared between two reads.
    fn alarm_history(
        &self,
        names: &[AlarmName],
        since: Timestamp,
    ) -> impl Future<Output = Result<Vec<AlarmTransition>, AwsError>> + Send;
}

/// CloudWatch metrics: what the canary analysis reads.
pub trait MetricReader: Send + Sync {
    /// Each query's datapoints over `[start, end)`, one per minute that had data (the minute's
    /// start in epoch seconds, oldest first). A query with no data has no entry. A result
    /// CloudWatch did not complete (`PartialData`, `InternalError`) is a transient error: nothing
    /// is known from it.
    fn read_metrics(
        &self,
        queries: &[MetricQuery],
        start: Timestamp,
        end: Timestamp,
    ) -> impl Future<Output = Result<HashMap<String, Series>, AwsError>> + Send;
}

/// How a record write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Written,
    /// The record was settled already (by the safety net, or a retry); nothing was written.
    AlreadySettled,
}

/// The deployment ledger: alias locks and deployment records.
pub trait Ledger: Send + Sync {
    /// Takes the lock at `key` for `holder` unless another execution holds it; returns that
    /// holder when it does. Taking a lock `holder`'s execution already holds succeeds.
    fn lock(
        &self,
        key: &str,
        holder: &LockHolder,
    ) -> impl Future<Output = Result<Option<LockHolder>, AwsError>> + Send;

    /// Hands the lock at `key` from `stale` to `holder`, if `stale` still holds it.
    fn take_over(
        &self,
        key: &str,
        stale: &LockHolder,
        holder: &LockHolder,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;

    /// Releases the lock at `key` if the execution `execution_arn` holds it; a lock someone
    /// else holds, or none, is left as it is.
    fn unlock(
        &self,
        key: &str,
        execution_arn: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Who holds the lock at `key`.
    fn holder(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<LockHolder>, AwsError>> + Send;

    /// Writes the deployment's record, its latest document, unless an ending was recorded for
    /// good already (a settled record is never overwritten: a phase still running after the
    /// safety net settled its deployment must not undo that).
    fn save(&self, deployment: &Deployment)
    -> impl Future<Output = Result<Saved, AwsError>> + Send;

    /// The latest document recorded for a deployment.
    fn load(
        &self,
        deployment_id: &str,
    ) -> impl Future<Output = Result<Option<Deployment>, AwsError>> + Send;

    /// Every record not settled yet and every lock (the ledger's open index).
    fn open(&self) -> impl Future<Output = Result<Vec<OpenItem>, AwsError>> + Send;

    /// The freezes of these scopes that the ledger holds (read consistently: a freeze set just
    /// before a deployment starts stops it), in force or not.
    fn freezes(
        &self,
        scopes: &[FreezeScope],
    ) -> impl Future<Output = Result<Vec<Freeze>, AwsError>> + Send;

    /// Writes the deployment's entries in the alias journal (again, on a retry: same keys).
    fn journal(&self, entries: &[AliasEntry]) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Step Functions executions.
pub trait Executions: Send + Sync {
    /// Where the execution is: running, ended (and how), or unknown to Step Functions.
    fn state(
        &self,
        execution_arn: &str,
    ) -> impl Future<Output = Result<ExecutionState, AwsError>> + Send;

    /// Whether the execution is still RUNNING; an execution Step Functions does not know is not.
    fn is_running(
        &self,
        execution_arn: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;

    /// Whether the execution runs again after it ended: redriven (same ARN), and RUNNING.
    fn runs_again(
        &self,
        execution_arn: &str,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
}

/// The watches of event-driven bakes, kept in the ledger (see sluice_core::watch).
pub trait Watches: Send + Sync {
    /// Registers `watch` against `alarm`, replacing the deployment's earlier watch on it.
    fn watch(
        &self,
        alarm: &AlarmName,
        watch: &Watch,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Every watch registered against `alarm`.
    fn watches(
        &self,
        alarm: &AlarmName,
    ) -> impl Future<Output = Result<Vec<Watch>, AwsError>> + Send;

    /// Removes the deployment's watch on `alarm`: only the one waiting on `token` when given
    /// (a later bake's watch stays); a watch already gone is no error.
    fn unwatch(
        &self,
        alarm: &AlarmName,
        deployment_id: &str,
        token: Option<&str>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// The watch of the bake at `slot` (`Deployment::bake_slot`) has begun, waiting on `token`:
    /// the meeting point as it was (its bake ended already, or a command came first: the watch
    /// must then end its own task).
    fn watch_began(
        &self,
        deployment_id: &str,
        slot: &str,
        token: &str,
    ) -> impl Future<Output = Result<MeetingPoint, AwsError>> + Send;

    /// The bake at `slot` has ended on its own, unless an operator's command was recorded there
    /// first: the meeting point as it was (with the watch's token when it has begun; with the
    /// command, and the end not recorded, when the command came first).
    fn bake_ended(
        &self,
        deployment_id: &str,
        slot: &str,
    ) -> impl Future<Output = Result<MeetingPoint, AwsError>> + Send;

    /// Records an operator's command at `slot`, unless the bake ended there or another command
    /// came first: Ok with the watch's token (None: not begun yet), or Err with the meeting point
    /// that refused it.
    fn command(
        &self,
        deployment_id: &str,
        slot: &str,
        command: &Command,
    ) -> impl Future<Output = Result<Result<Option<String>, MeetingPoint>, AwsError>> + Send;

    /// The meeting point at `slot` as it is.
    fn meeting_point(
        &self,
        deployment_id: &str,
        slot: &str,
    ) -> impl Future<Output = Result<MeetingPoint, AwsError>> + Send;
}

/// Step Functions tasks that wait for their token.
pub trait Tasks: Send + Sync {
    /// Ends the waiting task with success; false when it had ended already (nothing to do).
    fn succeed_task(&self, token: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;

    /// Fails the waiting task; false when it had ended already (nothing to do).
    fn fail_task(
        &self,
        token: &str,
        failure: &Failure,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
}
