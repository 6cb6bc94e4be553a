//! The FunctionStore adapter over aws-sdk-lambda.

use crate::ports::{AwsError, AwsErrorKind, FunctionStore};
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::types::{AliasRoutingConfiguration, LastUpdateStatus, State};
use sluice_core::{AliasSnapshot, Routing, Version, Weight};
use std::collections::HashMap;
use std::time::Duration;

/// How long publish waits for a function's last update to finish before giving up (retryable).
const PUBLISH_WAIT: Duration = Duration::from_secs(60);

pub struct LambdaFunctions {
    client: Client,
}

impl LambdaFunctions {
    pub fn new(client: Client) -> Self {
        LambdaFunctions { client }
    }

    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        LambdaFunctions::new(Client::new(&config))
    }
}

/// Sorts an SDK error into what the phases act on. Shared with the CloudWatch adapter.
pub(crate) fn classify<E, R>(operation: &str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let (kind, message) = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (
            AwsErrorKind::Transient,
            format!("{}", aws_sdk_lambda::error::DisplayErrorContext(&err)),
        ),
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("Unknown");
            let text = format!("{code}: {}", e.message().unwrap_or("no message"));
            let kind = match code {
                "ResourceNotFoundException" | "ResourceNotFound" => AwsErrorKind::NotFound,
                "PreconditionFailedException" => AwsErrorKind::Conflict,
                "ThrottlingException"
                | "TooManyRequestsException"
                | "ServiceException"
                | "ServiceUnavailable"
                | "InternalFailure"
                | "ResourceConflictException"
                | "ResourceNotReadyException"
                | "EC2ThrottledException" => AwsErrorKind::Transient,
                _ => AwsErrorKind::Refused,
            };
            (kind, text)
        }
        _ => (
            AwsErrorKind::Refused,
            format!("{}", aws_sdk_lambda::error::DisplayErrorContext(&err)),
        ),
    };
    AwsError::new(kind, operation, message)
}

fn routing_of(
    function: &str,
    alias: &str,
    version: Option<&str>,
    routing: Option<&AliasRoutingConfiguration>,
) -> Result<Routing, AwsError> {
    let bad = |why: String| {
        AwsError::new(
            AwsErrorKind::Refused,
            "GetAlias",
            format!("{function}:{alias} {why}"),
        )
    };
    let version = Version::parse(version.unwrap_or(""))
        .map_err(|e| bad(format!("points at an unusable version: {e}")))?;
    let weights = routing
        .and_then(|r| r.additional_version_weights())
        .filter(|w| !w.is_empty());
    let additional = match weights {
        None => None,
        Some(w) if w.len() == 1 => {
            let (v, f) = w
                .iter()
                .next()
                .ok_or_else(|| bad("has empty routing".into()))?;
            let v = Version::parse(v)
                .map_err(|e| bad(format!("routes to an unusable version: {e}")))?;
            let f = Weight::from_fraction(*f)
                .ok_or_else(|| bad(format!("has weight {f} outside [0, 1]")))?;
            Some((v, f))
        }
        Some(w) => {
            return Err(bad(format!(
                "routes to {} additional versions; Lambda allows one",
                w.len()
            )));
        }
    };
    Ok(Routing {
        version,
        additional,
    })
}

impl FunctionStore for LambdaFunctions {
    async fn get_alias(
        &self,
        function: &str,
        alias: &str,
    ) -> Result<Option<AliasSnapshot>, AwsError> {
        let out = match self
            .client
            .get_alias()
            .function_name(function)
            .name(alias)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = classify("GetAlias", e);
                return if e.kind == AwsErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let routing = routing_of(
            function,
            alias,
            out.function_version(),
            out.routing_config(),
        )?;
        Ok(Some(AliasSnapshot {
            routing,
            revision_id: out.revision_id().unwrap_or_default().to_string(),
        }))
    }

    async fn update_alias(
        &self,
        function: &str,
        alias: &str,
        routing: &Routing,
        expected_revision: &str,
    ) -> Result<String, AwsError> {
        // An empty map clears the routing; leaving RoutingConfig out would keep the old weights.
        let config = match &routing.additional {
            Some((v, w)) => AliasRoutingConfiguration::builder()
                .additional_version_weights(v.as_str(), w.fraction())
                .build(),
            None => AliasRoutingConfiguration::builder()
                .set_additional_version_weights(Some(HashMap::new()))
                .build(),
        };
        let out = self
            .client
            .update_alias()
            .function_name(function)
            .name(alias)
            .function_version(routing.version.as_str())
            .routing_config(config)
            .revision_id(expected_revision)
            .send()
            .await
            .map_err(|e| classify("UpdateAlias", e))?;
        Ok(out.revision_id().unwrap_or_default().to_string())
    }

    async fn create_alias(
        &self,
        function: &str,
        alias: &str,
        version: &Version,
    ) -> Result<String, AwsError> {
        let out = self
            .client
            .create_alias()
            .function_name(function)
            .name(alias)
            .function_version(version.as_str())
            .description("created by sluice")
            .send()
            .await
            .map_err(|e| classify("CreateAlias", e))?;
        Ok(out.revision_id().unwrap_or_default().to_string())
    }

    async fn function_exists(
        &self,
        function: &str,
        version: Option<&Version>,
    ) -> Result<bool, AwsError> {
        let res = self
            .client
            .get_function_configuration()
            .function_name(function)
            .set_qualifier(version.map(|v| v.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = classify("GetFunctionConfiguration", e);
                if e.kind == AwsErrorKind::NotFound {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn publish_version(&self, function: &str) -> Result<Version, AwsError> {
        let started = tokio::time::Instant::now();
        loop {
            let conf = self
                .client
                .get_function_configuration()
                .function_name(function)
                .send()
                .await
                .map_err(|e| classify("GetFunctionConfiguration", e))?;
            let state = conf.state().cloned();
            let update = conf.last_update_status().cloned();
            match (&state, &update) {
                (Some(State::Failed), _) | (_, Some(LastUpdateStatus::Failed)) => {
                    return Err(AwsError::new(
                        AwsErrorKind::Refused,
                        "PublishVersion",
                        format!(
                            "{function} is in a failed state ({}); fix the function before deploying it",
                            conf.state_reason()
                                .or(conf.last_update_status_reason())
                                .unwrap_or("no reason given")
                        ),
                    ));
                }
                (Some(State::Pending), _) | (_, Some(LastUpdateStatus::InProgress)) => {
                    if started.elapsed() > PUBLISH_WAIT {
                        return Err(AwsError::new(
                            AwsErrorKind::Transient,
                            "PublishVersion",
                            format!(
                                "{function} is still updating after {}s",
                                PUBLISH_WAIT.as_secs()
                            ),
                        ));
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                _ => break,
            }
        }
        let out = self
            .client
            .publish_version()
            .function_name(function)
            .description("published by sluice")
            .send()
            .await
            .map_err(|e| classify("PublishVersion", e))?;
        Version::parse(out.version().unwrap_or(""))
            .map_err(|e| AwsError::new(AwsErrorKind::Refused, "PublishVersion", e))
    }
}
