//! The security-events handler (latchkey::stream) in process: the table's stream stood in
//! for by records made from the memory store's event items, as DynamoDB Streams would
//! carry them (INSERT, the new image). Which events reach the push device, and how a
//! failing record is reported.

use super::harness::{text, Machine};
use super::push::enroll_push;
use crate::support::PASSWORD;
use latchkey::notice::NoticeRef;
use latchkey::notify::bus::RecordingBus;
use latchkey::records::{events_partition, EVENT_PREFIX};
use latchkey::store::{Item, Store};
use latchkey::stream::{self, AttributeValue, StreamChange, StreamEvent, StreamRecord};
use latchkey::Operation;
use latchkey_wire::{Payload, SignedEnvelope};
use serde_json::json;
use std::collections::HashMap;

/// A stream record inserting `item`, numbered `sequence`.
pub(crate) fn inserted(sequence: usize, item: &Item) -> StreamRecord {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let keys = HashMap::from([
        ("pk".to_owned(), s(&item.key.pk)),
        ("sk".to_owned(), s(&item.key.sk)),
    ]);
    let mut image = keys.clone();
    image.insert("body".to_owned(), s(&item.body));
    image.insert(
        "version".to_owned(),
        AttributeValue::N(item.version.to_string()),
    );
    StreamRecord {
        event_id: None,
        event_name: "INSERT".to_owned(),
        dynamodb: StreamChange {
            sequence_number: format!("{:021}", 100 + sequence),
            keys,
            new_image: Some(image),
        },
    }
}

/// The user's event items, oldest first, from the `skip`-th on.
pub(crate) async fn event_items(m: &Machine, username: &str, skip: usize) -> Vec<Item> {
    let mut items = m
        .store
        .query_desc(&events_partition(username), EVENT_PREFIX, 100)
        .await
        .unwrap();
    items.reverse();
    items.split_off(skip.min(items.len()))
}

pub(crate) fn batch(items: &[Item]) -> StreamEvent {
    StreamEvent {
        records: items
            .iter()
            .enumerate()
            .map(|(n, item)| inserted(n, item))
            .collect(),
    }
}

/// The notices published so far, each checked against the server's key as the agent does.
fn notices(m: &Machine, server_key: &[u8]) -> Vec<(String, latchkey_wire::Notice)> {
    m.notifier
        .published()
        .into_iter()
        .filter_map(|(device, message)| {
            let envelope = SignedEnvelope::parse(&message).unwrap();
            assert!(push_agent::crypto::verify_server_signature(
                server_key,
                envelope.payload.as_bytes(),
                &envelope.signature
            ));
            match Payload::parse(&envelope.payload).unwrap() {
                Payload::Notice(notice) => Some((device, notice)),
                Payload::Login(_) => None,
            }
        })
        .collect()
}

#[tokio::test]
async fn the_push_device_hears_of_later_changes_to_its_account_but_not_of_its_own() {
    let m = Machine::new();
    let bus = RecordingBus::default();
    let (token, secret, _) = m.user_with_totp("ann").await;
    let push = enroll_push(&m, &token, json!({ "password": PASSWORD })).await;
    let totp = m
        .devices(&token)
        .await
        .iter()
        .find(|d| d["type"] == "totp")
        .map(|d| text(&d["id"]))
        .unwrap();
    let _ = secret;

    // Sign-up, the app's enrollment (before the push device existed), the push device's
    // own enrollment: nothing to tell it.
    let before = event_items(&m, "ann", 0).await;
    let answer = stream::handle(&m.app, &bus, &batch(&before)).await;
    assert!(answer.batch_item_failures.is_empty());
    assert!(notices(&m, &push.server_key).is_empty());
    // Every event went to the operators' bus all the same.
    assert_eq!(bus.events.lock().unwrap().len(), before.len());

    // The app removed: the push device is told, with a stable id.
    m.advance(1);
    m.send(
        Operation::RemoveDevice,
        Some(&token),
        Some(&totp),
        json!({ "password": PASSWORD }),
    )
    .await
    .expect(200);
    let removal = event_items(&m, "ann", before.len()).await;
    assert_eq!(removal.len(), 1);
    let answer = stream::handle(&m.app, &bus, &batch(&removal)).await;
    assert!(answer.batch_item_failures.is_empty());
    let sent = notices(&m, &push.server_key);
    assert_eq!(sent.len(), 1);
    let (device, notice) = &sent[0];
    assert_eq!(device, &push.id);
    assert_eq!(notice.device_id, push.id);
    assert_eq!(notice.event, "device_removed");
    assert_eq!(notice.username, "ann");
    assert_eq!(notice.device_name, None, "the device is gone");
    assert_eq!(notice.report_url, "http://localhost:8080/v1/push/report");
    assert_eq!(notice.created_at, m.now().rfc3339());
    assert_eq!(
        notice.expires_at,
        m.now().plus_secs(7 * 24 * 3600).rfc3339()
    );
    let event = latchkey::records::decode::<latchkey::records::Event>(&removal[0])
        .unwrap()
        .value;
    assert_eq!(notice.notice_id, NoticeRef::of(&event).notice_id());
    // Delivered again: the same notice, the same id.
    stream::handle(&m.app, &bus, &batch(&removal)).await;
    let again = notices(&m, &push.server_key);
    assert_eq!(again.len(), 2);
    assert_eq!(again[1].1, again[0].1);

    // The push device itself removed: no notice (it is gone from the account).
    m.advance(1);
    m.send(
        Operation::RemoveDevice,
        Some(&token),
        Some(&push.id),
        json!({ "password": PASSWORD }),
    )
    .await
    .expect(200);
    let last = event_items(&m, "ann", before.len() + 1).await;
    assert_eq!(last.len(), 1);
    let answer = stream::handle(&m.app, &bus, &batch(&last)).await;
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(notices(&m, &push.server_key).len(), 2);
}

#[tokio::test]
async fn a_failing_record_is_reported_and_the_batch_stops_there() {
    let m = Machine::new();
    let bus = RecordingBus::default();
    let (token, _, _) = m.user_with_totp("bea").await;
    let push = enroll_push(&m, &token, json!({ "password": PASSWORD })).await;
    let seen = event_items(&m, "bea", 0).await.len();
    for _ in 0..2 {
        m.advance(1);
        m.call_as(
            Operation::RegenerateRecoveryCodes,
            &token,
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
        m.advance(1);
    }
    let mut items = event_items(&m, "bea", seen).await;
    assert_eq!(items.len(), 2);
    // A record between them that cannot be read.
    let mut corrupt = items[0].clone();
    corrupt.key.sk.push_str("-corrupt");
    corrupt.body = "{not json".to_owned();
    items.insert(1, corrupt);
    let event = batch(&items);
    let answer = stream::handle(&m.app, &bus, &event).await;
    assert_eq!(answer.batch_item_failures.len(), 1, "{answer:?}");
    assert_eq!(
        answer.batch_item_failures[0].item_identifier,
        event.records[1].dynamodb.sequence_number
    );
    // The one before it was handled; the one after it waits for the retry.
    assert_eq!(notices(&m, &push.server_key).len(), 1);
    assert_eq!(bus.events.lock().unwrap().len(), 1);

    // An SNS outage fails the first record, which is reported; nothing else is tried.
    m.notifier.fail(true);
    let retry = batch(&[items[2].clone()]);
    let answer = stream::handle(&m.app, &bus, &retry).await;
    assert_eq!(
        answer.batch_item_failures[0].item_identifier,
        retry.records[0].dynamodb.sequence_number
    );
    m.notifier.fail(false);
    let answer = stream::handle(&m.app, &bus, &retry).await;
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(notices(&m, &push.server_key).len(), 2);

    // Records the event source mapping's filter passes: inserted event items only.
    let mut modified = event.records[0].clone();
    modified.event_name = "MODIFY".to_owned();
    assert!(stream::accepted(&event.records[0]));
    assert!(!stream::accepted(&modified));
    let profile = m
        .store
        .get(&latchkey::records::profile_key("bea"))
        .await
        .unwrap()
        .unwrap();
    assert!(!stream::accepted(&inserted(9, &profile)));
}

/// The stream event kept for `cargo lambda invoke` (README) is one the handler reads: its
/// event reaches the operators' bus with its source.
#[tokio::test]
async fn the_repository_s_sample_stream_event_is_handled() {
    let m = Machine::new();
    let bus = RecordingBus::default();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../functions/events/security-event.json"
    ))
    .unwrap();
    let event: StreamEvent = serde_json::from_str(&text).unwrap();
    assert!(event.records.iter().all(stream::accepted));
    let answer = stream::handle(&m.app, &bus, &event).await;
    assert!(answer.batch_item_failures.is_empty());
    let put = bus.events.lock().unwrap().clone();
    assert_eq!(put.len(), 1);
    let detail: serde_json::Value = serde_json::from_str(&put[0].1).unwrap();
    assert_eq!(detail["type"], "mfa_disabled");
    assert_eq!(detail["username"], "alice");
    assert_eq!(detail["ip"], "203.0.113.9");
}

#[tokio::test]
async fn a_report_ends_every_session_at_once_beyond_the_first_writes_share() {
    let m = Machine::new();
    let (first, secret, _) = m.user_with_totp("bea").await;
    let push = enroll_push(&m, &first, json!({ "password": PASSWORD })).await;
    let mut tokens = vec![first.clone()];
    // More sessions than the report's own write deletes (25).
    for _ in 0..30 {
        let mfa = m.mfa_token("bea").await;
        m.advance(30);
        let r = m.totp_login(&mfa, &m.code(&secret)).await.expect(200);
        tokens.push(super::harness::token(&r.body));
    }
    m.advance(1);
    m.call_as(
        Operation::RegenerateRecoveryCodes,
        &first,
        json!({ "password": PASSWORD }),
    )
    .await
    .expect(200);
    let events = event_items(&m, "bea", 0).await;
    let regenerated = events
        .iter()
        .map(|item| {
            latchkey::records::decode::<latchkey::records::Event>(item)
                .unwrap()
                .value
        })
        .rfind(|e| e.kind == "recovery_codes_generated")
        .unwrap();
    let notice_id = NoticeRef::of(&regenerated).notice_id();
    let message = push_agent::crypto::notice_report_message(&notice_id, &push.id);
    let r = m
        .call(
            Operation::PushReport,
            json!({
                "notice_id": notice_id,
                "device_id": push.id,
                "signature": push
                    .key
                    .sign(&push_agent::crypto::system_random(), message.as_bytes())
                    .unwrap(),
            }),
        )
        .await
        .expect(200);
    assert_eq!(r.body["revoked_sessions"], tokens.len());
    for token in &tokens {
        m.call_as(Operation::Me, token, json!(null))
            .await
            .expect(401);
    }
}
