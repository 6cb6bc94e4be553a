//! sluice-core: the deployment domain. No I/O, no async, no AWS: requests, strategies and
//! plans, the deployment document and every decision over it, and the catalog of error names.

pub mod alarms;
pub mod bounds;
pub mod budget;
pub mod deployment;
pub mod duration;
pub mod error;
mod fields;
pub mod function;
pub mod ledger;
pub mod request;
pub mod strategy;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod watch;
pub mod weight;

pub use alarms::{AlarmReading, AlarmState, AlarmSummary, AlarmTransition};
pub use deployment::{
    Action, AliasDecision, AliasSnapshot, AliasWrite, CheckedTarget, Deployment, ExecutionEnded,
    Explain, Failure, ResolvedTarget, RollbackOutcome, Routing, Status, TargetState, VersionSource,
    require_function,
};
pub use error::{Error, ErrorName, Refusal};
pub use function::Home;
pub use ledger::{AliasLock, HeldLock, LockHolder};
pub use request::{Hooks, Request, StartInput, Target, TargetVersion};
pub use strategy::{Plan, Step, Strategy};
pub use watch::{AlarmEvent, Watch};
pub use weight::{Version, Weight};
