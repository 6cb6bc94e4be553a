//! Lifecycle events on EventBridge (sluice-core's `deployment::lifecycle` builds them): put on
//! the bus the stack names (`SLUICE_EVENT_BUS`: the default bus unless the template says
//! otherwise; `none` turns them off), best effort. Putting an event never delays a phase by more
//! than `PUT_TIMEOUT` nor fails it: a failure is logged, and the deployment goes on.

use crate::config::on_first_use;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use sluice_core::deployment::Lifecycle;
use sluice_core::deployment::lifecycle::SOURCE;
use sluice_core::{Deployment, LifecycleEvent};
use std::time::Duration;
use tokio::sync::OnceCell;

/// The longest a phase waits for PutEvents.
pub const PUT_TIMEOUT: Duration = Duration::from_secs(2);

/// The bus lifecycle events go to.
pub struct EventBus {
    bus: Option<String>,
    client: OnceCell<Client>,
}

impl EventBus {
    /// The bus `SLUICE_EVENT_BUS` names (absent or empty: the default bus; `none`: no events).
    pub fn from_env() -> Self {
        let bus = match std::env::var("SLUICE_EVENT_BUS") {
            Ok(b) if b.eq_ignore_ascii_case("none") => None,
            Ok(b) if !b.trim().is_empty() => Some(b),
            _ => Some("default".to_string()),
        };
        EventBus {
            bus,
            client: OnceCell::new(),
        }
    }

    /// Whether events are put at all.
    pub fn enabled(&self) -> bool {
        self.bus.is_some()
    }

    /// Puts the `kind` event of `deployment`.
    pub async fn announce(&self, kind: Lifecycle, deployment: &Deployment) {
        self.put(deployment.lifecycle(kind)).await;
    }

    /// Counts `event` (sluice's metrics) and puts it, best effort: never an error, never longer
    /// than `PUT_TIMEOUT`.
    pub async fn put(&self, event: LifecycleEvent) {
        // Counted on the dashboard whether or not it goes to a bus (no API call: a log line).
        crate::metrics::count(event.detail_type);
        let Some(bus) = &self.bus else {
            return;
        };
        let id = event.detail["deploymentId"]
            .as_str()
            .unwrap_or("-")
            .to_string();
        let entry = PutEventsRequestEntry::builder()
            .source(SOURCE)
            .detail_type(event.detail_type)
            .detail(event.detail.to_string())
            .event_bus_name(bus)
            .build();
        let client = on_first_use(&self.client, Client::new).await;
        let put = client.put_events().entries(entry).send();
        match tokio::time::timeout(PUT_TIMEOUT, put).await {
            Ok(Ok(out)) if out.failed_entry_count() == 0 => {}
            Ok(Ok(out)) => tracing::warn!(
                deployment_id = %id,
                detail_type = event.detail_type,
                "EventBridge did not take the lifecycle event: {:?}",
                out.entries().first().and_then(|e| e.error_message())
            ),
            Ok(Err(e)) => tracing::warn!(
                deployment_id = %id,
                detail_type = event.detail_type,
                "could not put the lifecycle event: {}",
                aws_sdk_eventbridge::error::DisplayErrorContext(&e)
            ),
            Err(_) => tracing::warn!(
                deployment_id = %id,
                detail_type = event.detail_type,
                "the lifecycle event was not put within {PUT_TIMEOUT:?}; the deployment goes on"
            ),
        }
    }
}
