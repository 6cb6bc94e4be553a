//! sluice-aws: what sluice needs from AWS, as narrow port traits, the AWS SDK adapters behind
//! them, the operations several phases share over them (writing an alias, taking and releasing
//! locks, watches, endings), and the runtime glue every phase binary runs in. Nothing else in
//! sluice talks to the SDK.

pub mod alias;
pub mod clock;
pub mod cloudformation;
pub mod cloudwatch;
pub mod config;
pub mod dynamodb;
pub mod ending;
mod errors;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod lambda;
pub mod lifecycle;
pub mod locks;
pub mod metrics;
pub mod ports;
pub mod retry;
pub mod runtime;
pub mod sfn;
pub mod sts;
pub mod sweep;
pub mod watches;

pub use ports::{
    AlarmReader, AwsError, AwsErrorKind, Executions, FunctionStore, Invoked, Invoker, Ledger,
    MetricReader, Saved, Tasks, Watches,
};
