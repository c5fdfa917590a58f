//! The security log: one item per event under the user's partition, newest first, kept
//! about a year. Events carry types, device ids and short non-secret details only.

use crate::answers::{EventView, Events};
use crate::app::App;
use crate::clock::Instant;
use crate::error::Result;
use crate::records::{decode, events_partition, Event, EVENT_PREFIX};

pub const LIMIT: usize = 50;

pub async fn list(app: &App, username: &str) -> Result<Events> {
    let items = app
        .store
        .query_desc(&events_partition(username), EVENT_PREFIX, LIMIT)
        .await?;
    let events = items
        .iter()
        .map(|item| {
            decode::<Event>(item).map(|stored| EventView {
                at: Instant(stored.value.at).rfc3339(),
                kind: stored.value.kind,
                device_id: stored.value.device_id,
                detail: stored.value.detail,
                ip: stored.value.ip,
                user_agent: stored.value.user_agent,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Events { events })
}
