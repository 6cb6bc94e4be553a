//! sluice-aws: what sluice needs from AWS, as narrow port traits, and the AWS SDK adapters
//! behind them. Nothing else in sluice talks to the SDK.

pub mod alias;
pub mod clock;
pub mod cloudwatch;
#[cfg(any(test, feature = "fake"))]
pub mod fake;
pub mod lambda;
pub mod ports;
pub mod runtime;

pub use ports::{AlarmReader, AwsError, AwsErrorKind, FunctionStore};
