//! The SDK configuration every client shares: the standard credential and region chain, and
//! timeouts that fit inside the functions' own (90 s in template.yaml), so a hung call becomes a
//! retryable error instead of running the function into its timeout.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// One attempt of one AWS call.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// One AWS call, its retries included (the SDK's standard mode tries three times).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Opening a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}
