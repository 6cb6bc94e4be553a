//! Who is calling: the CLI records it with every command (a deployment's `requestedBy`, a
//! freeze's `by`).

use crate::config::shared;
use crate::errors::classify;
use crate::ports::{AwsError, AwsErrorKind};
use aws_sdk_sts::Client;

/// The caller's ARN, as STS GetCallerIdentity says it (a call that needs no permission).
pub async fn caller_identity() -> Result<String, AwsError> {
    let out = Client::new(shared().await)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| classify("GetCallerIdentity", e))?;
    out.arn().map(str::to_string).ok_or_else(|| {
        AwsError::new(
            AwsErrorKind::Unreadable,
            "GetCallerIdentity",
            "STS named no ARN",
        )
    })
}
