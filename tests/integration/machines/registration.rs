//! Registration, shown with the authenticator app: start and confirm, one use, ten
//! minutes, the owner only, one device however many confirms race, and what the first
//! device does to the account's sessions.

use super::harness::{text, Machine};
use super::interleaving::Plan;
use latchkey::Operation;
use serde_json::{json, Value};
use std::collections::HashSet;

#[tokio::test]
async fn the_first_authenticator_app_brings_recovery_codes_and_ends_setup() {
    let m = Machine::new();
    m.signup("yara").await;
    let other = m.setup_session("yara").await;
    let session = m.setup_session("yara").await;

    let r = m
        .call_as(Operation::StartTotpRegistration, &session, json!({}))
        .await
        .expect(200);
    assert_eq!(r.body["expires_at"], m.now().plus_secs(600).rfc3339());
    let (id, secret) = (text(&r.body["registration_id"]), text(&r.body["secret"]));
    assert!(text(&r.body["otpauth_uri"]).contains(&secret));

    // A wrong code leaves the registration open.
    m.confirm_totp(&session, &id, &m.wrong_code(&secret))
        .await
        .expect_error(401, "invalid_code");
    let r = m
        .confirm_totp(&session, &id, &m.code(&secret))
        .await
        .expect(201);
    assert_eq!(r.body["device"]["type"], "totp");
    let codes: HashSet<String> = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(codes.len(), 10, "ten distinct codes: {}", r.body);

    // The confirming setup session is full; the account's other one is gone.
    assert_eq!(m.scope(&session).await, "full");
    assert_eq!(m.scope(&other).await, "unauthenticated");
    let mfa = m
        .send(Operation::GetMfa, Some(&session), None, Value::Null)
        .await
        .expect(200);
    assert_eq!(mfa.body["mfa_setup_required"], false);
    assert_eq!(mfa.body["recovery_codes"]["remaining"], 10);

    // Used once.
    m.confirm_totp(&session, &id, &m.code(&secret))
        .await
        .expect_error(409, "registration_used");

    // The codes are the account's: one signs in.
    let token = m.mfa_token("yara").await;
    let code = codes.iter().next().unwrap();
    let r = m.recovery_login(&token, code).await.expect(200);
    assert_eq!(r.body["recovery_codes_remaining"], 9);
}

#[tokio::test]
async fn a_registration_lives_ten_minutes() {
    let m = Machine::new();
    m.signup("zane").await;
    let session = m.setup_session("zane").await;
    let (early, early_secret) = m.start_totp(&session, json!({})).await;
    let (late, late_secret) = m.start_totp(&session, json!({})).await;

    m.advance(599);
    m.confirm_totp(&session, &early, &m.code(&early_secret))
        .await
        .expect(201);
    m.advance(1);
    // Expired is told before anything else (it would otherwise be method_limit_reached).
    m.confirm_totp(&session, &late, &m.code(&late_secret))
        .await
        .expect_error(410, "expired");
}

#[tokio::test]
async fn another_users_registration_is_not_found() {
    let m = Machine::new();
    m.signup("abel").await;
    m.signup("bess").await;
    let abel = m.setup_session("abel").await;
    let bess = m.setup_session("bess").await;
    let (id, secret) = m.start_totp(&abel, json!({})).await;

    m.confirm_totp(&bess, &id, &m.code(&secret))
        .await
        .expect_error(404, "not_found");
    assert!(m.devices(&bess).await.is_empty());
    assert_eq!(m.scope(&bess).await, "setup");
    m.confirm_totp(&abel, &id, &m.code(&secret))
        .await
        .expect(201);
}

/// Two registrations confirmed at once, each having read the account without a device:
/// exactly one device lands, with one set of recovery codes; the other confirm is
/// refused as `loser` says.
async fn two_confirms_at_once(m: &Machine, first: &str, second: &str, loser: (u16, &str)) {
    let (one, one_secret) = m.start_totp(first, json!({})).await;
    let (two, two_secret) = m.start_totp(second, json!({})).await;
    let (one_code, two_code) = (m.code(&one_secret), m.code(&two_secret));
    // Each confirm reads its registration and the profile in one batch; both batches
    // are made before either confirm writes.
    let plan = m.store.arm(Plan::reads_together("REG", 2));
    let (a, b) = futures::join!(
        m.confirm_totp(first, &one, &one_code),
        m.confirm_totp(second, &two, &two_code),
    );
    m.store.disarm();
    assert_eq!(
        plan.clashes(),
        1,
        "the loser's write found the item changed"
    );
    let ((won, winner), (lost, _)) = match (a.status.as_u16(), b.status.as_u16()) {
        (201, _) => ((a, first), (b, second)),
        (_, 201) => ((b, second), (a, first)),
        other => panic!("one confirm wins: {other:?} {} {}", a.body, b.body),
    };
    lost.expect_error(loser.0, loser.1);
    assert_eq!(won.body["recovery_codes"].as_array().unwrap().len(), 10);
    assert_eq!(m.scope(winner).await, "full");
    let settings = m
        .send(Operation::GetMfa, Some(winner), None, Value::Null)
        .await
        .expect(200);
    assert_eq!(settings.body["devices"], json!([won.body["device"]]));
    assert_eq!(settings.body["recovery_codes"]["remaining"], 10);
}

#[tokio::test]
async fn two_confirms_at_once_through_one_session_add_one_device() {
    let m = Machine::new();
    m.signup("cruz").await;
    let session = m.setup_session("cruz").await;
    // The loser's session is full by then (the winner's write made it so): it is told the
    // method's limit.
    two_confirms_at_once(&m, &session, &session, (409, "method_limit_reached")).await;
}

#[tokio::test]
async fn two_confirms_at_once_through_two_setup_sessions_add_one_device() {
    let m = Machine::new();
    m.signup("dana").await;
    let first = m.setup_session("dana").await;
    let second = m.setup_session("dana").await;
    // The loser's setup session ended with the winner's first device.
    two_confirms_at_once(&m, &first, &second, (401, "unauthenticated")).await;
}
