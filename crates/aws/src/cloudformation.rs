//! A deployed stack's outputs, so the CLI can find sluice by its stack's name.

use crate::config::shared;
use crate::errors::classify;
use crate::ports::{AwsError, AwsErrorKind};
use aws_sdk_cloudformation::Client;
use std::collections::HashMap;

/// The outputs of the stack `name`, by key.
pub async fn stack_outputs(name: &str) -> Result<HashMap<String, String>, AwsError> {
    let client = Client::new(shared().await);
    let out = client
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| classify("DescribeStacks", e))?;
    let stack = out.stacks().first().ok_or_else(|| {
        AwsError::new(
            AwsErrorKind::NotFound,
            "DescribeStacks",
            format!("no stack {name}"),
        )
    })?;
    Ok(stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect())
}
