//! sluice-core: the deployment domain. No I/O, no async, no AWS: requests, strategies and
//! plans, the deployment document and every decision over it, the ledger's keys and rules, the
//! events sluice reacts to, and the catalog of error names.
//!
//! Modules depend on each other in one direction only, from the leaves up (each imports only
//! modules before it in this list; a contract test holds them to it): bounds, error, fields,
//! duration, time, names, weight, alarms, hooks, failure, strategy, budget, stats, analysis, request,
//! events, ledger, deployment.

pub mod alarms;
pub mod analysis;
pub mod bounds;
pub mod budget;
pub mod deployment;
pub mod duration;
pub mod error;
pub mod events;
pub mod failure;
mod fields;
pub mod hooks;
pub mod ledger;
pub mod names;
pub mod request;
pub mod stats;
pub mod strategy;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;
pub mod weight;

pub use alarms::{AlarmReading, AlarmState, AlarmSummary, AlarmTransition};
pub use budget::CheckInterval;
pub use deployment::{
    Action, AliasDecision, AliasSnapshot, AliasWrite, CheckedTarget, Deployment, Lifecycle,
    LifecycleEvent, ResolvedTarget, RollbackOutcome, Routing, SettledBy, Settlement, Status,
    TargetState, VersionInfo, VersionSource, VersionState, WatchCall, WatchOutcome,
    require_function,
};
pub use error::{Error, ErrorName, FailureName, Invalid};
pub use events::{
    AlarmEvent, ExecutionEnded, ExecutionState, ExecutionStatus, FromEvent, Incoming,
};
pub use failure::{Explain, Failure};
pub use hooks::Hooks;
pub use ledger::{
    AliasEntry, AliasLock, Freeze, FreezeScope, HeldLock, LockHolder, OpenItem, Watch,
};
pub use names::{AlarmName, AliasName, FunctionRef, Home};
pub use request::{Provenance, Request, StartCall, StartInput, Target, TargetVersion};
pub use strategy::{Plan, Step, Strategy};
pub use time::Timestamp;
pub use weight::{Version, Weight};
