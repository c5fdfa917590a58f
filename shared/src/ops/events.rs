//! The security log: one item per event under the user's partition, newest first, kept
//! about a year. Events carry types, device ids and short non-secret details only.

use crate::app::App;
use crate::clock::Instant;
use crate::error::Result;
use crate::http::{self, Response};
use crate::records::{self, decode, events_partition, Event, EVENT_PREFIX};
use crate::store::Write;
use lambda_http::Body;
use serde::Serialize;

pub const LIMIT: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    LoginSucceeded,
    LoginFailed,
    SecondFactorFailed,
    DeviceAdded,
    DeviceRenamed,
    DeviceRemoved,
    RecoveryCodesGenerated,
    RecoveryCodeUsed,
    PushDenied,
    MfaEnabled,
    MfaDisabled,
    /// Operator actions from `latchkey-admin`; not in the API's base list of event types
    /// (docs/openapi.yaml, `Event`), which names the user's own actions; the detail names
    /// the operator.
    AdminAction,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LoginSucceeded => "login_succeeded",
            EventType::LoginFailed => "login_failed",
            EventType::SecondFactorFailed => "second_factor_failed",
            EventType::DeviceAdded => "device_added",
            EventType::DeviceRenamed => "device_renamed",
            EventType::DeviceRemoved => "device_removed",
            EventType::RecoveryCodesGenerated => "recovery_codes_generated",
            EventType::RecoveryCodeUsed => "recovery_code_used",
            EventType::PushDenied => "push_denied",
            EventType::MfaEnabled => "mfa_enabled",
            EventType::MfaDisabled => "mfa_disabled",
            EventType::AdminAction => "admin_action",
        }
    }
}

/// The write that records one event.
pub fn record(
    app: &App,
    username: &str,
    at: Instant,
    kind: EventType,
    device_id: Option<&str>,
    detail: Option<&str>,
) -> Result<Write> {
    let event = Event {
        username: username.to_owned(),
        at: at.millis(),
        id: crate::random::token::<6>(app.rng.as_ref())?,
        kind: kind.as_str().to_owned(),
        device_id: device_id.map(str::to_owned),
        detail: detail.map(str::to_owned),
    };
    records::create(&event)
}

#[derive(Serialize)]
struct EventView {
    at: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

pub async fn list(app: &App, username: &str) -> Result<Response<Body>> {
    let items = app
        .store
        .query_desc(&events_partition(username), EVENT_PREFIX, LIMIT)
        .await
        .map_err(super::store_error)?;
    let events = items
        .iter()
        .map(|item| {
            decode::<Event>(item).map(|stored| EventView {
                at: Instant(stored.value.at).rfc3339(),
                kind: stored.value.kind,
                device_id: stored.value.device_id,
                detail: stored.value.detail,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    http::json(200, &serde_json::json!({ "events": events }))
}
