//! AWS SDK errors sorted into what the phases act on, for every service sluice calls.

use crate::ports::{AwsError, AwsErrorKind};
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Sorts an SDK error: not found, a lost conditional write, worth retrying, or refused. An
/// error of the connection is said in one line: where sluice could not reach, and why.
pub(crate) fn classify<E, R>(operation: &str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    let (kind, message) = match &err {
        SdkError::DispatchFailure(_) => (
            AwsErrorKind::Transient,
            format!(
                "cannot reach {}: {}",
                where_(operation),
                deepest_cause(&err)
            ),
        ),
        SdkError::TimeoutError(_) => (
            AwsErrorKind::Transient,
            format!("{} did not answer in time", where_(operation)),
        ),
        SdkError::ResponseError(_) => (
            AwsErrorKind::Transient,
            format!(
                "{} sent an answer sluice could not read: {}",
                where_(operation),
                deepest_cause(&err)
            ),
        ),
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("Unknown");
            let text = format!("{code}: {}", e.message().unwrap_or("no message"));
            (kind_of(code), text)
        }
        _ => (
            AwsErrorKind::Refused,
            format!("{}", DisplayErrorContext(&err)),
        ),
    };
    AwsError::new(kind, operation, message)
}

/// The service an operation belongs to, and the endpoint sluice calls it at: "Step Functions
/// at 127.0.0.1:9" (an endpoint URL given to the process), "Lambda at
/// lambda.us-east-1.amazonaws.com".
fn where_(operation: &str) -> String {
    let (service, prefix) = service_of(operation);
    let config = crate::config::loaded();
    let at = match config.and_then(|c| c.endpoint_url()) {
        Some(url) => url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .trim_end_matches('/')
            .to_string(),
        None => {
            let region = config
                .and_then(|c| c.region())
                .map_or("(no region set)".to_string(), |r| r.to_string());
            format!("{prefix}.{region}.amazonaws.com")
        }
    };
    format!("{service} at {at}")
}

/// The service of one of the operations sluice calls, and its endpoint's prefix.
fn service_of(operation: &str) -> (&'static str, &'static str) {
    match operation {
        "GetAlias"
        | "UpdateAlias"
        | "CreateAlias"
        | "GetFunctionConfiguration"
        | "PublishVersion"
        | "Invoke" => ("Lambda", "lambda"),
        "DescribeAlarms" | "DescribeAlarmHistory" | "GetMetricData" => ("CloudWatch", "monitoring"),
        "GetItem" | "PutItem" | "DeleteItem" | "UpdateItem" | "Query" => ("DynamoDB", "dynamodb"),
        "DescribeStacks" => ("CloudFormation", "cloudformation"),
        "GetCallerIdentity" => ("STS", "sts"),
        _ => ("Step Functions", "states"),
    }
}

/// The innermost error's words, as a person reads them: "connection refused", not the SDK's
/// nested debug structure.
fn deepest_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest: &dyn std::error::Error = err;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    let text = deepest.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("{}", DisplayErrorContext(err)),
    }
}

/// What an AWS error code means for sluice.
fn kind_of(code: &str) -> AwsErrorKind {
    match code {
        "ResourceNotFoundException" | "ResourceNotFound" | "ExecutionDoesNotExist" => {
            AwsErrorKind::NotFound
        }
        "PreconditionFailedException" | "ConditionalCheckFailedException" => AwsErrorKind::Conflict,
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "ServiceException"
        | "ServiceUnavailable"
        | "ServiceUnavailableException"
        | "InternalFailure"
        | "InternalServerError"
        | "InternalServiceError"
        | "ResourceConflictException"
        | "ResourceNotReadyException"
        | "EC2ThrottledException"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded"
        | "TransactionConflictException"
        | "LimitExceededException" => AwsErrorKind::Transient,
        _ => AwsErrorKind::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ConnectorError;

    #[test]
    fn an_unreachable_endpoint_is_one_line() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let err: SdkError<aws_sdk_sfn::operation::start_execution::StartExecutionError, ()> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        let e = classify("StartExecution", err);
        assert_eq!(e.kind, AwsErrorKind::Transient);
        assert!(
            e.message.starts_with("cannot reach Step Functions at ")
                && e.message.ends_with(": connection refused"),
            "{}",
            e.message
        );
        assert!(!e.message.contains('\n') && !e.message.contains("DispatchFailure"));
    }

    #[test]
    fn throttles_and_lost_conditions_are_told_apart() {
        assert_eq!(
            kind_of("ProvisionedThroughputExceededException"),
            AwsErrorKind::Transient
        );
        assert_eq!(kind_of("TooManyRequestsException"), AwsErrorKind::Transient);
        assert_eq!(
            kind_of("ConditionalCheckFailedException"),
            AwsErrorKind::Conflict
        );
        assert_eq!(
            kind_of("PreconditionFailedException"),
            AwsErrorKind::Conflict
        );
        assert_eq!(kind_of("ExecutionDoesNotExist"), AwsErrorKind::NotFound);
        assert_eq!(kind_of("AccessDeniedException"), AwsErrorKind::Refused);
    }
}
