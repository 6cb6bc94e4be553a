//! sluice-core: the deployment domain. No I/O, no async, no AWS: requests, strategies and
//! plans, the deployment document and every decision over it, and the catalog of error names.

pub mod deployment;
pub mod duration;
pub mod error;
pub mod request;
pub mod strategy;
pub mod weight;

pub use deployment::{
    Action, AlarmReading, AlarmState, AliasSnapshot, Deployment, Failure, ResolvedTarget,
    RollbackDecision, RollbackOutcome, Routing, ShiftDecision, Status, TargetState,
};
pub use error::{Error, ErrorName};
pub use request::{Request, Target, TargetVersion};
pub use strategy::{Plan, Step, Strategy};
pub use weight::{Version, Weight};
