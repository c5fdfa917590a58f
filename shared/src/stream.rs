//! The security-events function: what leaves the table through its DynamoDB stream.
//!
//! Every event item is written in the same transaction as the change it records, so the
//! stream carries exactly the changes that happened. For each new event item (the event
//! source mapping's filter passes only `INSERT`s of `EVENT#` items; this checks again):
//!
//! 1. when its type is one of [`crate::notice::NOTICE_EVENTS`] and the account has a push
//!    device, a signed notice goes to that device (SNS, as a login push does). A device
//!    removed by the change is no longer in the profile and hears nothing; a push device
//!    is not told of its own enrollment (it is in the user's hand);
//! 2. the event goes on the operators' EventBridge bus.
//!
//! Delivery is at least once: a failed record is reported (`batchItemFailures`) and the
//! stream hands it, and everything after it in its shard, to the function again, which
//! re-sends what it had already sent for them with the same `notice_id`. Records are
//! processed in order and the first failure ends the batch: the ones after it come back
//! with it anyway, so working on them now would only send them twice.
//!
//! The dev server reads the same stream from moto and calls [`handle`] as Lambda's event
//! source mapping would (functions/src/stream_poller.rs).

use crate::app::App;
use crate::clock::Instant;
use crate::error::{Error, Result};
use crate::notice::{noticed, NoticeRef, NOTICE_LIFETIME_SECS};
use crate::notify::bus::{EventBus, SECURITY_EVENT};
use crate::records::{self, load, profile_key, DeviceType, Event, Profile, EVENT_PREFIX};
use crate::store::{Item, Key};
use latchkey_wire::{Notice, SignedEnvelope};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A DynamoDB stream event as Lambda hands it to a function (the fields used here).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventID", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName")]
    pub event_name: String,
    pub dynamodb: StreamChange,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamChange {
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
    #[serde(rename = "Keys", default)]
    pub keys: HashMap<String, AttributeValue>,
    /// The item after the change (stream view type `NEW_IMAGE` or `NEW_AND_OLD_IMAGES`).
    #[serde(rename = "NewImage", default, skip_serializing_if = "Option::is_none")]
    pub new_image: Option<HashMap<String, AttributeValue>>,
}

/// A DynamoDB attribute in the stream's JSON (`{"S": "…"}`, `{"N": "…"}`); the table's
/// items hold only these two kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributeValue {
    S(String),
    N(String),
    #[serde(other)]
    Other,
}

/// The function's answer: the record to resume from, when one failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemFailure {
    /// The failed record's `SequenceNumber`.
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// Handles one batch; see the module's notes.
pub async fn handle(app: &App, bus: &dyn EventBus, event: &StreamEvent) -> BatchResponse {
    for record in &event.records {
        if let Err(error) = process(app, bus, record).await {
            let sequence = &record.dynamodb.sequence_number;
            match &error {
                Error::Internal(cause) => {
                    tracing::error!(sequence, %cause, "security event failed; the batch resumes here")
                }
                other => {
                    tracing::warn!(
                        sequence,
                        code = other.code(),
                        "security event failed; the batch resumes here"
                    )
                }
            }
            return BatchResponse {
                batch_item_failures: vec![ItemFailure {
                    item_identifier: sequence.clone(),
                }],
            };
        }
    }
    BatchResponse::default()
}

fn text<'a>(image: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    match image.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

/// What the event source mapping's filter passes (infra/template.yaml, `FilterCriteria`):
/// the insertion of an event item.
pub fn accepted(record: &StreamRecord) -> bool {
    record.event_name == "INSERT"
        && matches!(record.dynamodb.keys.get("sk"), Some(AttributeValue::S(sk)) if sk.starts_with(EVENT_PREFIX))
}

/// The event item a record inserted, if it inserted one.
fn inserted_event(record: &StreamRecord) -> Result<Option<Event>> {
    if record.event_name != "INSERT" {
        return Ok(None);
    }
    let Some(image) = &record.dynamodb.new_image else {
        return Ok(None);
    };
    let (Some(pk), Some(sk)) = (text(image, "pk"), text(image, "sk")) else {
        return Err(Error::internal("a stream record has no pk or sk"));
    };
    if !sk.starts_with(EVENT_PREFIX) {
        return Ok(None);
    }
    let body = text(image, "body").ok_or_else(|| Error::internal("an event item has no body"))?;
    let item = Item {
        key: Key::new(pk, sk),
        version: 1,
        ttl: None,
        body: body.to_owned(),
    };
    Ok(Some(records::decode::<Event>(&item)?.value))
}

async fn process(app: &App, bus: &dyn EventBus, record: &StreamRecord) -> Result<()> {
    let Some(event) = inserted_event(record)? else {
        return Ok(());
    };
    let reference = NoticeRef::of(&event);
    if noticed(&event.kind) {
        send_notice(app, &event, &reference).await?;
    }
    let detail = operator_event(&event, &reference)?;
    bus.put(SECURITY_EVENT, &detail).await?;
    Ok(())
}

/// The event as operators receive it on the bus.
fn operator_event(event: &Event, reference: &NoticeRef) -> Result<String> {
    serde_json::to_string(&serde_json::json!({
        "event_id": reference.notice_id(),
        "username": event.username,
        "type": event.kind,
        "at": Instant(event.at).rfc3339(),
        "device_id": event.device_id,
        "detail": event.detail,
        "ip": event.ip,
        "user_agent": event.user_agent,
    }))
    .map_err(|_| Error::internal("an operator event does not serialise"))
}

async fn send_notice(app: &App, event: &Event, reference: &NoticeRef) -> Result<()> {
    let Some(profile) = load::<Profile>(app.store.as_ref(), &profile_key(&event.username)).await?
    else {
        return Ok(());
    };
    let devices = &profile.value.devices;
    let Some(push) = devices
        .iter()
        .find(|d| d.secret.device_type() == DeviceType::Push)
    else {
        return Ok(());
    };
    if push.created_at >= event.at {
        // Enrolled after the change, or by it (the recovery codes a first device brings):
        // it was not the account's device when the change happened.
        return Ok(());
    }
    let about = event.device_id.as_deref();
    if about == Some(push.id.as_str()) {
        // Its own enrollment, or (read late) its own removal: nothing to tell it.
        return Ok(());
    }
    let created = Instant(event.at);
    let expires = created.plus_secs(NOTICE_LIFETIME_SECS);
    if expires <= app.clock.now() {
        return Ok(());
    }
    let notice = Notice {
        notice_id: reference.notice_id(),
        device_id: push.id.clone(),
        username: event.username.clone(),
        issuer: app.config.issuer.clone(),
        event: event.kind.clone(),
        device_name: about
            .and_then(|id| devices.iter().find(|d| d.id == id).map(|d| d.name.clone())),
        ip: event.ip.clone(),
        user_agent: event.user_agent.clone(),
        created_at: created.rfc3339(),
        expires_at: expires.rfc3339(),
        report_url: format!("{}/v1/push/report", app.config.public_url),
    };
    let unserialisable = |_| Error::internal("a notice does not serialise");
    let payload = notice.to_json().map_err(unserialisable)?;
    let signature = app.keys()?.push_sign(payload.as_bytes())?;
    let message = SignedEnvelope::new(payload, &signature)
        .to_json()
        .map_err(unserialisable)?;
    app.notifier.publish(&push.id, &message).await?;
    Ok(())
}
