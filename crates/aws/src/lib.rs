//! sluice-aws: what sluice needs from AWS, as narrow port traits, and the AWS SDK adapters
//! behind them. Nothing else in sluice talks to the SDK.

pub mod alias;
pub mod clock;
pub mod cloudformation;
pub mod cloudwatch;
pub mod config;
pub mod dynamodb;
mod errors;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod lambda;
pub mod locks;
pub mod ports;
pub mod runtime;
pub mod sfn;

pub use ports::{
    AlarmReader, AwsError, AwsErrorKind, Executions, FunctionStore, Ledger, Saved, Tasks, Watches,
};
