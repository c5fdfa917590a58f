//! The security log: one item per event under the user's partition, newest first, kept
//! about a year. Events carry types, device ids and short non-secret details only.

use crate::app::App;
use crate::clock::Instant;
use crate::error::Result;
use crate::http::{self, Response};
use crate::records::{decode, events_partition, Event, EVENT_PREFIX};
use lambda_http::Body;
use serde::Serialize;

pub const LIMIT: usize = 50;

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
        .map_err(crate::txn::store_error)?;
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
