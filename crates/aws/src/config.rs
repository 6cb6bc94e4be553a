//! The SDK configuration every client shares: the standard credential and region chain, one
//! HTTPS client, and timeouts that fit inside the functions' own (90 s in template.yaml), so a hung
//! call becomes a retryable error instead of running the function into its timeout.
//!
//! Nothing of it is done at start-up. A process loads the configuration once, when its first
//! AWS call needs it; each adapter builds its client on its own first call; the HTTPS client
//! reads the root certificates when it first connects. A phase function's init is then the
//! Lambda runtime's alone, and an invocation pays only for the clients its path uses (an
//! refused payload uses none; check-alarms calls Step Functions only when a bake ends).

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use std::time::Duration;
use tokio::sync::OnceCell;

/// One attempt of one AWS call.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// One AWS call, its retries included (the SDK's standard mode tries three times).
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Opening a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

static SHARED: OnceCell<SdkConfig> = OnceCell::const_new();

/// The process's configuration, loaded by the first caller: every client made from it shares one
/// HTTPS client (one TLS setup, one connection pool).
pub async fn shared() -> &'static SdkConfig {
    SHARED.get_or_init(load).await
}

/// The configuration, if a call has loaded it already (what error messages say where AWS is).
pub fn loaded() -> Option<&'static SdkConfig> {
    SHARED.get()
}

/// `cell`'s client, made from the shared configuration by its first caller.
pub async fn on_first_use<C>(cell: &OnceCell<C>, make: fn(&SdkConfig) -> C) -> &C {
    cell.get_or_init(|| async { make(shared().await) }).await
}

async fn load() -> SdkConfig {
    loader().load().await
}

fn loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
}

/// The HTTPS client of every SDK client: the SDK's default one (aws-smithy-runtime's
/// `default_https_client`: hyper, rustls, the platform's root certificates, proxies from the
/// environment) with ring for rustls's cryptography instead of aws-lc, made to set TLS up when
/// it first connects rather than when a client is built.
fn https_client() -> ConnectOnFirstUse {
    ConnectOnFirstUse(
        Builder::new().build_with_connector_fn(|settings, components| {
            let mut connector = ConnectorBuilder::default()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                // The platform's store, as the SDK's default: SSL_CERT_FILE / SSL_CERT_DIR, else what
                // openssl-probe finds (on Lambda's provided.al2023, Amazon Linux's ca-certificates).
                .tls_context(Default::default());
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        }),
    )
}

/// An HTTP client that sets TLS up (reads and parses the root certificates) for its first
/// request. The SDK's own does it in `validate_base_client_config`, which every `Client::new`
/// calls: one TLS setup per client built, thrown away, before any request.
#[derive(Debug)]
struct ConnectOnFirstUse(SharedHttpClient);

impl HttpClient for ConnectOnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::config::{Credentials, Region};

    #[tokio::test]
    async fn every_client_of_a_config_shares_its_https_client() {
        // Region and credentials given, so that nothing here looks for them (IMDS).
        let config = loader()
            .region(Region::from_static("us-east-1"))
            .credentials_provider(Credentials::new("id", "secret", None, None, "test"))
            .load()
            .await;
        assert!(config.http_client().is_some());
        let timeouts = config.timeout_config().expect("timeouts");
        assert_eq!(timeouts.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(timeouts.operation_timeout(), Some(OPERATION_TIMEOUT));
    }

    #[test]
    fn making_the_adapters_touches_no_aws() {
        let _ = crate::lambda::LambdaFunctions::from_env();
        let _ = crate::cloudwatch::CloudWatchAlarms::from_env();
        let _ = crate::sfn::StepFunctions::from_env();
        let _ = crate::dynamodb::DynamoLedger::with_table("t");
        assert!(
            !SHARED.initialized(),
            "the configuration was loaded at start-up"
        );
    }
}
