//! The operators' event bus: every security event leaves on it (EventBridge), for their
//! rules, alerting and SIEM. Like the notifier, the port carries text.

use super::NotifyError;
use async_trait::async_trait;
use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;
use std::sync::Mutex;

/// The `source` of every event Latchkey puts on the bus (what operators' rules match).
pub const SOURCE: &str = "latchkey";
/// The `detail-type` of a security event.
pub const SECURITY_EVENT: &str = "Latchkey security event";

#[async_trait]
pub trait EventBus: Send + Sync {
    /// Puts one event, `detail` being its JSON text.
    async fn put(&self, detail_type: &str, detail: &str) -> Result<(), NotifyError>;
}

pub struct EventBridgeBus {
    client: Client,
    bus: Option<String>,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus: Option<String>) -> Self {
        EventBridgeBus { client, bus }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn put(&self, detail_type: &str, detail: &str) -> Result<(), NotifyError> {
        let Some(bus) = self.bus.as_deref() else {
            tracing::error!("LATCHKEY_EVENT_BUS is not configured");
            return Err(NotifyError::Unavailable);
        };
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(SOURCE)
            .detail_type(detail_type)
            .detail(detail)
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                tracing::error!(operation = "PutEvents", error = %DisplayErrorContext(&e), "EventBridge call failed");
                NotifyError::Unavailable
            })?;
        // PutEvents answers 200 with the entries it could not take counted inside.
        if output.failed_entry_count() > 0 {
            let code = output
                .entries()
                .iter()
                .find_map(|e| e.error_code())
                .unwrap_or("unknown");
            tracing::error!(
                operation = "PutEvents",
                code,
                "EventBridge refused the event"
            );
            return Err(NotifyError::Unavailable);
        }
        Ok(())
    }
}

/// A bus that only logs: the dev server without `LATCHKEY_EVENT_BUS`.
pub struct LogOnlyBus;

#[async_trait]
impl EventBus for LogOnlyBus {
    async fn put(&self, detail_type: &str, _detail: &str) -> Result<(), NotifyError> {
        tracing::debug!(detail_type, "no event bus configured; event not forwarded");
        Ok(())
    }
}

/// Records what would be put: in-process tests.
#[derive(Default)]
pub struct RecordingBus {
    pub events: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl EventBus for RecordingBus {
    async fn put(&self, detail_type: &str, detail: &str) -> Result<(), NotifyError> {
        self.events
            .lock()
            .map_err(|_| NotifyError::Unavailable)?
            .push((detail_type.to_owned(), detail.to_owned()));
        Ok(())
    }
}
