//! AWS SDK errors sorted into what the phases act on, for every service sluice calls.

use crate::ports::{AwsError, AwsErrorKind};
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Sorts an SDK error: not found, a lost conditional write, worth retrying, or refused.
pub(crate) fn classify<E, R>(operation: &str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let (kind, message) = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (
            AwsErrorKind::Transient,
            format!("{}", DisplayErrorContext(&err)),
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
