//! The FunctionStore adapter over aws-sdk-lambda.

use crate::config::on_first_use;
use crate::errors::classify;
use crate::ports::{AwsError, AwsErrorKind, FunctionStore};
use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::{AliasRoutingConfiguration, LastUpdateStatus, State};
use sluice_core::{AliasName, AliasSnapshot, FunctionRef, Routing, Version, Weight};
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

    async fn version_exists(
        &self,
        function: &FunctionRef,
        version: &Version,
    ) -> Result<bool, AwsError> {
        match self
            .client()
            .await
            .get_function_configuration()
            .function_name(function.as_str())
            .qualifier(version.as_str())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                not_found_is_none::<()>(classify("GetFunctionConfiguration", e)).map(|_| false)
            }
        }
    }

    async fn publish_version(&self, function: &FunctionRef) -> Result<Version, AwsError> {
        let started = tokio::time::Instant::now();
        loop {
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
            .client()
            .await
            .publish_version()
            .function_name(function.as_str())
            .description("published by sluice")
            .send()
            .await
            .map_err(|e| classify("PublishVersion", e))?;
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
    #[test]
    fn qualifiers_are_dropped() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:orders";
        assert_eq!(super::unqualified(&format!("{arn}:live")), arn);
        assert_eq!(super::unqualified(arn), arn);
    }
}
