//! Push: enrollment through the recording notifier, the login push as the device reads it
//! (the signed envelope and payload, through `latchkey-wire`), number matching, the 120 s
//! life of a push, and one winner among answers at once.

use super::harness::{text, token, Machine, ORIGIN};
use super::interleaving::Plan;
use crate::support::Response;
use latchkey::Operation;
use latchkey_wire::{LoginPush, RegistrationUri};
use push_agent::crypto::{answer_message, enroll_message, system_random, Decision, DeviceKey};
use serde_json::{json, Value};

/// An enrolled push device: its key, its id and the server key it trusts.
pub struct PushDevice {
    pub key: DeviceKey,
    pub id: String,
    pub server_key: [u8; 32],
}

const ENDPOINT: &str = "https://device.example/sns";

/// Starts a push registration through `token` (with `body`: a password once the account is
/// protected) and enrolls a new device key through its registration URI.
pub async fn enroll_push(m: &Machine, token: &str, body: Value) -> PushDevice {
    let r = m
        .call_as(Operation::StartPushRegistration, token, body)
        .await
        .expect(200);
    let uri = RegistrationUri::parse(&text(&r.body["registration_uri"])).unwrap();
    assert_eq!(uri.api, ORIGIN);
    let key = DeviceKey::generate(&system_random()).unwrap();
    let r = m
        .call(Operation::PushEnroll, enroll_body(&uri, &key))
        .await
        .expect(201);
    PushDevice {
        key,
        id: text(&r.body["device_id"]),
        server_key: uri.server_key,
    }
}

/// The agent's enrollment body for `uri`, with the new device key it signs with.
pub fn enroll_body_for(uri: &RegistrationUri) -> (Value, DeviceKey) {
    let key = DeviceKey::generate(&system_random()).unwrap();
    (enroll_body(uri, &key), key)
}

fn enroll_body(uri: &RegistrationUri, key: &DeviceKey) -> Value {
    let public_key = key.public_key_b64();
    let message = enroll_message(&uri.registration_id, &public_key);
    json!({
        "registration_id": uri.registration_id,
        "secret": uri.secret.expose(),
        "public_key": public_key,
        "endpoint": ENDPOINT,
        "signature": key.sign(&system_random(), message.as_bytes()).unwrap(),
    })
}

/// A new user whose first device is a push device; the (now full) session.
pub async fn user_with_push(m: &Machine, username: &str) -> (String, PushDevice) {
    m.signup(username).await;
    let token = m.setup_session(username).await;
    let device = enroll_push(m, &token, json!({})).await;
    (token, device)
}

struct Sent {
    id: String,
    number: String,
}

async fn send_push(m: &Machine, mfa_token: &str) -> Sent {
    let r = m
        .call(Operation::LoginPush, json!({ "mfa_token": mfa_token }))
        .await
        .expect(202);
    Sent {
        id: text(&r.body["push_id"]),
        number: text(&r.body["number"]),
    }
}

async fn status(m: &Machine, mfa_token: &str, push_id: &str) -> Response {
    m.call(
        Operation::LoginPushStatus,
        json!({ "mfa_token": mfa_token, "push_id": push_id }),
    )
    .await
}

/// The status a pending, denied or expired push reports.
async fn status_label(m: &Machine, mfa_token: &str, push_id: &str) -> String {
    let r = status(m, mfa_token, push_id).await.expect(200);
    text(&r.body["status"])
}

/// The device's answer, signed as the agent signs it.
async fn respond(
    m: &Machine,
    device: &PushDevice,
    push: &LoginPush,
    decision: Decision,
    number: Option<&str>,
) -> Response {
    let message = answer_message(&push.push_id, &push.challenge, decision, number);
    let mut body = json!({
        "push_id": push.push_id,
        "device_id": device.id,
        "decision": decision.as_str(),
        "signature": device.key.sign(&system_random(), message.as_bytes()).unwrap(),
    });
    if let Some(number) = number {
        body["number"] = json!(number);
    }
    m.call(Operation::PushRespond, body).await
}

/// The push as it reached the device.
fn delivered(m: &Machine, device: &PushDevice, sent: &Sent) -> LoginPush {
    let (target, push) = m.notifier.login_push(&device.server_key, &sent.id);
    assert_eq!(target, device.id, "published for the device's filter");
    push
}

/// Every digit moved by one: a number that is surely wrong.
fn wrong(number: &str) -> String {
    number
        .bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
        .collect()
}

#[tokio::test]
async fn a_login_push_reaches_the_device_and_an_approval_with_the_number_signs_in_once() {
    let m = Machine::new();
    let (session, device) = user_with_push(&m, "pia").await;
    assert_eq!(m.scope(&session).await, "full", "enrolling ended setup");
    assert_eq!(
        m.notifier.subscribed(),
        [(ENDPOINT.to_owned(), device.id.clone())]
    );

    let mfa = m.mfa_token("pia").await;
    let r = m
        .call(Operation::LoginPush, json!({ "mfa_token": mfa }))
        .await
        .expect(202);
    assert_eq!(r.body["expires_at"], m.now().plus_secs(120).rfc3339());
    let sent = Sent {
        id: text(&r.body["push_id"]),
        number: text(&r.body["number"]),
    };
    assert!(
        sent.number.len() == 6 && sent.number.bytes().all(|b| b.is_ascii_digit()),
        "{}",
        sent.number
    );
    let push = delivered(&m, &device, &sent);
    assert_eq!(push.username, "pia");
    assert_eq!(push.device_id, device.id);
    assert_eq!(push.user_agent, "machines");
    assert_eq!(push.expires_at, m.now().plus_secs(120).rfc3339());
    assert_eq!(push.respond_url, format!("{ORIGIN}/v1/push/respond"));
    assert_eq!(status_label(&m, &mfa, &sent.id).await, "pending");

    let r = respond(&m, &device, &push, Decision::Approve, Some(&sent.number))
        .await
        .expect(200);
    assert_eq!(r.body, json!({ "status": "approved" }));

    let r = status(&m, &mfa, &sent.id).await.expect(200);
    assert_eq!(r.body["status"], "authenticated");
    assert_eq!(m.scope(&token(&r.body)).await, "full");
    // Handed out once: the mfa_token is spent.
    status(&m, &mfa, &sent.id)
        .await
        .expect_error(401, "invalid_mfa_token");
    respond(&m, &device, &push, Decision::Approve, Some(&sent.number))
        .await
        .expect_error(409, "already_answered");
}

#[tokio::test]
async fn an_approval_with_a_wrong_number_denies_the_push() {
    let m = Machine::new();
    let (session, device) = user_with_push(&m, "quinn").await;
    let mfa = m.mfa_token("quinn").await;
    let sent = send_push(&m, &mfa).await;
    let push = delivered(&m, &device, &sent);

    let r = respond(
        &m,
        &device,
        &push,
        Decision::Approve,
        Some(&wrong(&sent.number)),
    )
    .await
    .expect(200);
    assert_eq!(r.body, json!({ "status": "denied" }));
    assert_eq!(status_label(&m, &mfa, &sent.id).await, "denied");
    // Denied for good: the right number comes too late.
    respond(&m, &device, &push, Decision::Approve, Some(&sent.number))
        .await
        .expect_error(409, "already_answered");
    assert_eq!(status_label(&m, &mfa, &sent.id).await, "denied");

    let events = m
        .call_as(Operation::ListEvents, &session, Value::Null)
        .await
        .expect(200);
    assert!(
        events.body["events"].as_array().unwrap().iter().any(|e| {
            e["type"] == "push_denied"
                && e["detail"] == "wrong number"
                && e["device_id"] == device.id.as_str()
        }),
        "{}",
        events.body
    );
}

#[tokio::test]
async fn a_push_lives_120_seconds() {
    let m = Machine::new();
    let (_, device) = user_with_push(&m, "rory").await;
    let (first, second) = (m.mfa_token("rory").await, m.mfa_token("rory").await);
    let early = send_push(&m, &first).await;
    let late = send_push(&m, &second).await;
    let (early_push, late_push) = (
        delivered(&m, &device, &early),
        delivered(&m, &device, &late),
    );

    m.advance(119);
    assert_eq!(status_label(&m, &second, &late.id).await, "pending");
    respond(
        &m,
        &device,
        &early_push,
        Decision::Approve,
        Some(&early.number),
    )
    .await
    .expect(200);

    m.advance(1);
    assert_eq!(status_label(&m, &second, &late.id).await, "expired");
    respond(
        &m,
        &device,
        &late_push,
        Decision::Approve,
        Some(&late.number),
    )
    .await
    .expect_error(410, "expired");
    assert_eq!(status_label(&m, &second, &late.id).await, "expired");
    // The push answered in time still signs in (its mfa_token lives five minutes).
    let r = status(&m, &first, &early.id).await.expect(200);
    assert_eq!(r.body["status"], "authenticated");
}

#[tokio::test]
async fn of_two_answers_at_once_exactly_one_wins() {
    let m = Machine::new();
    let (_, device) = user_with_push(&m, "sage").await;
    for decisions in [
        [Decision::Approve, Decision::Approve],
        [Decision::Approve, Decision::Deny],
        [Decision::Deny, Decision::Approve],
    ] {
        let mfa = m.mfa_token("sage").await;
        let sent = send_push(&m, &mfa).await;
        let push = delivered(&m, &device, &sent);
        // Both answers read the pending push before either writes.
        let plan = m.store.arm(Plan::reads_together("PUSH", 2));
        let (a, b) = futures::join!(
            respond(&m, &device, &push, decisions[0], Some(&sent.number)),
            respond(&m, &device, &push, decisions[1], Some(&sent.number)),
        );
        m.store.disarm();
        assert_eq!(
            plan.clashes(),
            1,
            "the loser's write found the item changed"
        );
        let (winner, loser) = match (a.status.as_u16(), b.status.as_u16()) {
            (200, 409) => (a, b),
            (409, 200) => (b, a),
            other => panic!("one 200 and one 409: {other:?} {} {}", a.body, b.body),
        };
        loser.expect_error(409, "already_answered");
        let won = text(&winner.body["status"]);
        let r = status(&m, &mfa, &sent.id).await.expect(200);
        match won.as_str() {
            "approved" => assert_eq!(r.body["status"], "authenticated"),
            "denied" => assert_eq!(r.body["status"], "denied"),
            other => panic!("{other}"),
        }
    }
}

#[tokio::test]
async fn a_publish_that_fails_is_503_and_does_not_count_toward_the_limit() {
    let m = Machine::new();
    let (_, _device) = user_with_push(&m, "toni").await;
    let mfa = m.mfa_token("toni").await;
    m.notifier.fail(true);
    m.call(Operation::LoginPush, json!({ "mfa_token": mfa }))
        .await
        .expect_error(503, "unavailable");
    m.notifier.fail(false);
    // Three pushes per mfa_token, the failed one given back.
    for _ in 0..3 {
        send_push(&m, &mfa).await;
    }
    m.call(Operation::LoginPush, json!({ "mfa_token": mfa }))
        .await
        .expect_error(429, "too_many_attempts");
    assert_eq!(m.notifier.published().len(), 3);
}

#[tokio::test]
async fn an_enrollment_whose_subscription_fails_adds_no_device() {
    let m = Machine::new();
    m.signup("uma").await;
    let session = m.setup_session("uma").await;
    let r = m
        .call_as(Operation::StartPushRegistration, &session, json!({}))
        .await
        .expect(200);
    let uri = RegistrationUri::parse(&text(&r.body["registration_uri"])).unwrap();
    let key = DeviceKey::generate(&system_random()).unwrap();
    m.notifier.fail(true);
    m.call(Operation::PushEnroll, enroll_body(&uri, &key))
        .await
        .expect_error(503, "unavailable");
    m.notifier.fail(false);
    assert!(m.devices(&session).await.is_empty());
    assert_eq!(m.scope(&session).await, "setup");
    // The registration is still open: the same enrollment goes through now.
    m.call(Operation::PushEnroll, enroll_body(&uri, &key))
        .await
        .expect(201);
    assert_eq!(m.devices(&session).await.len(), 1);
    assert_eq!(
        m.login_as(&uri.username, "mfa_required").await["methods"],
        json!(["push", "recovery_code"])
    );
}

/// Picks a write that answers a login push.
fn answers_a_push(writes: &[latchkey::store::Write]) -> bool {
    writes
        .iter()
        .any(|w| matches!(w, latchkey::store::Write::Put { item, .. } if item.key.sk == "PUSH"))
}

/// The approval is judged on the device's key as read; the device removed before the
/// approval is written, it does not count.
#[tokio::test]
async fn an_approval_from_a_device_removed_meanwhile_does_not_count() {
    let m = Machine::new();
    let (session, device) = user_with_push(&m, "rita").await;
    let mfa = m.mfa_token("rita").await;
    let sent = send_push(&m, &mfa).await;
    let push = delivered(&m, &device, &sent);
    // Both read the profile with the device in it; the approval's write waits for the
    // removal's two (the password's mark, then the profile).
    let plan = m
        .store
        .arm(Plan::reads_together("PROFILE", 2).holding(answers_a_push, 2));
    let (approved, removed) = tokio::join!(
        respond(&m, &device, &push, Decision::Approve, Some(&sent.number)),
        m.send(
            Operation::RemoveDevice,
            Some(&session),
            Some(&device.id),
            json!({ "password": crate::support::PASSWORD }),
        ),
    );
    m.store.disarm();
    removed.expect(200);
    assert!(plan.clashes() > 0, "the approval met the changed profile");
    approved.expect_error(404, "not_found");
    assert_eq!(status_label(&m, &mfa, &sent.id).await, "pending");
}
