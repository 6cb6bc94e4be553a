//! The Executions adapter over aws-sdk-sfn.

use crate::config::sdk_config;
use crate::errors::classify;
use crate::ports::{AwsError, AwsErrorKind, Executions};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::ExecutionStatus;

pub struct StepFunctions {
    client: Client,
}

impl StepFunctions {
    pub fn new(client: Client) -> Self {
        StepFunctions { client }
    }

    pub async fn from_env() -> Self {
        StepFunctions::new(Client::new(&sdk_config().await))
    }
}

impl Executions for StepFunctions {
    async fn is_running(&self, execution_arn: &str) -> Result<bool, AwsError> {
        match self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
        {
            Ok(out) => Ok(out.status() == &ExecutionStatus::Running),
            Err(e) => {
                let e = classify("DescribeExecution", e);
                // Unknown (or past the 90 days Step Functions keeps it): not running.
                if e.kind == AwsErrorKind::NotFound {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}
