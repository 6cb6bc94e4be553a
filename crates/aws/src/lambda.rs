//! The FunctionStore adapter over aws-sdk-lambda.

use crate::config::on_first_use;
use crate::errors::classify;
use crate::ports::{AwsError, AwsErrorKind, FunctionStore};
use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::{AliasRoutingConfiguration, LastUpdateStatus, State};
use sluice_core::{
    AliasName, AliasSnapshot, FunctionRef, Routing, Version, VersionInfo, VersionState, Weight,
};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long publish waits for a function's last update to finish before giving up (retryable);
/// well inside the function's own timeout.
const PUBLISH_WAIT: Duration = Duration::from_secs(40);

pub struct LambdaFunctions {
    client: OnceCell<Client>,
}

impl LambdaFunctions {
    pub fn new(client: Client) -> Self {
        LambdaFunctions {
            client: OnceCell::new_with(Some(client)),
        }
    }

    /// The standard credential and region chain; the client is made on the first call.
    pub fn from_env() -> Self {
        LambdaFunctions {
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> &Client {
        on_first_use(&self.client, Client::new).await
    }
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
    // Someone pointed it at $LATEST (sluice never does: it shifts published versions): that is
    // another writer's change, a conflict at once, not a failure worth retrying.
    let latest = version == Some("$LATEST")
        || routing
            .and_then(|r| r.additional_version_weights())
            .is_some_and(|w| w.contains_key("$LATEST"));
    if latest {
        return Err(AwsError::new(
            AwsErrorKind::Conflict,
            "GetAlias",
            format!(
                "{function}:{alias} was pointed at $LATEST by someone else (sluice shifts published \
                 versions only); sluice leaves it as it is"
            ),
        ));
    }
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

impl crate::ports::Invoker for LambdaFunctions {
    async fn invoke(
        &self,
        function: &FunctionRef,
        payload: &serde_json::Value,
    ) -> Result<crate::ports::Invoked, AwsError> {
        let out = self
            .client()
            .await
            .invoke()
            .function_name(function.as_str())
            .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
            // A hook may take its time: one attempt (a retry would run it again), bounded by
            // the caller's own limit rather than the shared config's 10 s per attempt.
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default()
                    .timeout_config(
                        aws_smithy_types::timeout::TimeoutConfig::builder()
                            .operation_attempt_timeout(std::time::Duration::from_secs(31))
                            .operation_timeout(std::time::Duration::from_secs(31))
                            .build(),
                    )
                    .retry_config(
                        aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(1),
                    ),
            )
            .send()
            .await
            .map_err(|e| classify("Invoke", e))?;
        let body = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        Ok(crate::ports::Invoked {
            payload: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
            function_error: out.function_error().map(str::to_string),
        })
    }
}

impl FunctionStore for LambdaFunctions {
    async fn get_alias(
        &self,
        function: &FunctionRef,
        alias: &AliasName,
    ) -> Result<Option<AliasSnapshot>, AwsError> {
        let out = match self
            .client()
            .await
            .get_alias()
            .function_name(function.as_str())
            .name(alias.as_str())
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
            function.as_str(),
            alias.as_str(),
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
        function: &FunctionRef,
        alias: &AliasName,
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
            .client()
            .await
            .update_alias()
            .function_name(function.as_str())
            .name(alias.as_str())
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
        function: &FunctionRef,
        alias: &AliasName,
        version: &Version,
    ) -> Result<String, AwsError> {
        let out = self
            .client()
            .await
            .create_alias()
            .function_name(function.as_str())
            .name(alias.as_str())
            .function_version(version.as_str())
            .description("created by sluice")
            .send()
            .await
            .map_err(|e| {
                let e = classify("CreateAlias", e);
                // For CreateAlias this code means the alias exists: another writer got in first.
                if e.message.starts_with("ResourceConflictException") {
                    AwsError::new(AwsErrorKind::Conflict, "CreateAlias", e.message)
                } else {
                    e
                }
            })?;
        Ok(out.revision_id().unwrap_or_default().to_string())
    }

    async fn function_arn(&self, function: &FunctionRef) -> Result<Option<String>, AwsError> {
        match self
            .client()
            .await
            .get_function_configuration()
            .function_name(function.as_str())
            .send()
            .await
        {
            Ok(conf) => Ok(Some(unqualified(
                conf.function_arn().unwrap_or(function.as_str()),
            ))),
            Err(e) => not_found_is_none(classify("GetFunctionConfiguration", e)),
        }
    }

    async fn version(
        &self,
        function: &FunctionRef,
        version: &Version,
    ) -> Result<Option<VersionInfo>, AwsError> {
        match self
            .client()
            .await
            .get_function_configuration()
            .function_name(function.as_str())
            .qualifier(version.as_str())
            .send()
            .await
        {
            Ok(conf) => {
                let why = || {
                    conf.state_reason()
                        .or(conf.last_update_status_reason())
                        .unwrap_or("no reason given")
                        .to_string()
                };
                let state = match (conf.state(), conf.last_update_status()) {
                    (Some(State::Failed | State::Inactive), _)
                    | (_, Some(LastUpdateStatus::Failed)) => VersionState::Unusable(format!(
                        "{}: {}",
                        conf.state().map_or("Failed", |s| s.as_str()),
                        why()
                    )),
                    (Some(State::Pending), _) | (_, Some(LastUpdateStatus::InProgress)) => {
                        VersionState::Pending(format!("Pending: {}", why()))
                    }
                    _ => VersionState::Active,
                };
                Ok(Some(VersionInfo {
                    state,
                    role: conf.role().unwrap_or_default().to_string(),
                    dead_letter: conf
                        .dead_letter_config()
                        .and_then(|d| d.target_arn())
                        .map(str::to_string),
                }))
            }
            Err(e) => not_found_is_none(classify("GetFunctionConfiguration", e)),
        }
    }

    async fn publish_version(&self, function: &FunctionRef) -> Result<Version, AwsError> {
        // Waits for the function's last update to finish, reading its configuration 1, 2, 4, 8,
        // 8, ... s apart (Lambda's control plane is shared with the user's own deploys), then
        // publishes exactly the code and configuration it read (CodeSha256, RevisionId).
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_secs(1);
        let conf = loop {
            let conf = self
                .client()
                .await
                .get_function_configuration()
                .function_name(function.as_str())
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
                    if started.elapsed() + pause > PUBLISH_WAIT {
                        return Err(AwsError::new(
                            AwsErrorKind::Transient,
                            "PublishVersion",
                            format!(
                                "{function} is still updating after {}s",
                                started.elapsed().as_secs()
                            ),
                        ));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(8));
                }
                _ => break conf,
            }
        };
        let out = self
            .client()
            .await
            .publish_version()
            .function_name(function.as_str())
            .set_code_sha256(conf.code_sha256().map(str::to_string))
            .set_revision_id(conf.revision_id().map(str::to_string))
            .description("published by sluice")
            .send()
            .await
            .map_err(|e| {
                let e = classify("PublishVersion", e);
                // The function changed between the read and the publish: read it again.
                if e.kind == AwsErrorKind::Conflict {
                    AwsError::new(
                        AwsErrorKind::Transient,
                        "PublishVersion",
                        format!(
                            "{function} changed while sluice published it ({})",
                            e.message
                        ),
                    )
                } else {
                    e
                }
            })?;
        Version::parse(out.version().unwrap_or(""))
            .map_err(|e| AwsError::new(AwsErrorKind::Refused, "PublishVersion", e.to_string()))
    }
}

/// A function ARN without a version or alias qualifier.
fn unqualified(arn: &str) -> String {
    // arn:aws:lambda:region:account:function:name[:qualifier]
    arn.split(':').take(7).collect::<Vec<_>>().join(":")
}

/// Not found is an answer (None), anything else an error.
fn not_found_is_none<T>(e: AwsError) -> Result<Option<T>, AwsError> {
    if e.kind == AwsErrorKind::NotFound {
        Ok(None)
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_on_latest_is_a_conflict_at_once() {
        let e = routing_of("orders", "live", Some("$LATEST"), None).unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::Conflict);
        assert!(
            e.message
                .contains("orders:live was pointed at $LATEST by someone else")
        );
        let weights = AliasRoutingConfiguration::builder()
            .additional_version_weights("$LATEST", 0.1)
            .build();
        let e = routing_of("orders", "live", Some("3"), Some(&weights)).unwrap_err();
        assert_eq!(e.kind, AwsErrorKind::Conflict);
        assert!(routing_of("orders", "live", Some("3"), None).is_ok());
    }

    #[test]
    fn qualifiers_are_dropped() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:orders";
        assert_eq!(super::unqualified(&format!("{arn}:live")), arn);
        assert_eq!(super::unqualified(arn), arn);
    }
}
