//! Setup sessions end with the account's first device: the session that confirmed it goes
//! on as a full one, every other setup session of the account is revoked in the same write
//! (session items and their index items), and a setup session of an account that has a
//! device is `401` on every route, also after an operator's reset-mfa. And ids or tokens
//! too long to exist answer as unknown ones, never as an outage (the test store refuses
//! oversized keys as DynamoDB does, support.rs).

// The software authenticator webauthn.rs uses (private there); this file needs only its
// `create`.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "webauthn/authenticator.rs"]
mod authenticator;

use crate::admin::{enroll_push, start_push, topic_subscriptions};
use crate::settings::{code_for, mfa_token, now_secs, register_totp, user_with_totp};
use crate::support::{Response, TestEnv, PASSWORD};
use authenticator::SoftAuthenticator;
use latchkey::auth::token_hash;
use latchkey::ops::admin;
use latchkey::records::{self, Session, SessionIndex};
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Helpers

/// A second login of an account without a device: another setup session.
async fn setup_login(env: &TestEnv, username: &str) -> String {
    let r = env.login(username, PASSWORD).await.expect(200);
    assert_eq!(r.body["status"], "mfa_setup_required", "{}", r.body);
    r.body["session"]["token"].as_str().unwrap().to_owned()
}

#[track_caller]
fn assert_scope(r: Response, scope: &str) {
    let r = r.expect(200);
    assert_eq!(r.body["scope"], scope, "{}", r.body);
}

/// The session index items of `username`.
async fn index_items(env: &TestEnv, username: &str) -> Vec<SessionIndex> {
    env.app
        .store
        .query_desc(
            &records::events_partition(username),
            records::SESSION_INDEX_PREFIX,
            100,
        )
        .await
        .unwrap()
        .iter()
        .map(|item| records::decode::<SessionIndex>(item).unwrap().value)
        .collect()
}

async fn stored_session(env: &TestEnv, token: &str) -> Option<Session> {
    records::load::<Session>(
        env.app.store.as_ref(),
        &records::session_key(&token_hash(token)),
    )
    .await
    .unwrap()
    .map(|s| s.value)
}

/// `token`'s session and its index item are gone from the store.
async fn assert_revoked_in_store(env: &TestEnv, username: &str, token: &str) {
    assert!(
        stored_session(env, token).await.is_none(),
        "the session item is deleted"
    );
    let hash = token_hash(token);
    let index = index_items(env, username).await;
    assert!(
        !index.iter().any(|entry| entry.token_hash == hash),
        "the index item is deleted: {index:?}"
    );
}

/// `token`'s session is stored as full, its index item too.
async fn assert_full_in_store(env: &TestEnv, username: &str, token: &str) {
    let session = stored_session(env, token).await.expect("the session stays");
    assert_eq!(session.scope, records::Scope::Full);
    let hash = token_hash(token);
    let index = index_items(env, username).await;
    let entry = index
        .iter()
        .find(|entry| entry.token_hash == hash)
        .expect("the index item stays");
    assert_eq!(entry.scope, Some(records::Scope::Full));
}

/// A setup session of an account with a device is `401 unauthenticated` everywhere.
async fn assert_dead_everywhere(env: &TestEnv, token: &str) {
    env.get("/v1/me", token)
        .await
        .expect_error(401, "unauthenticated");
    env.get("/v1/mfa", token)
        .await
        .expect_error(401, "unauthenticated");
    env.post_auth("/v1/mfa/totp", token, json!({}))
        .await
        .expect_error(401, "unauthenticated");
    env.post_auth("/v1/mfa/webauthn", token, json!({}))
        .await
        .expect_error(401, "unauthenticated");
    env.post_auth("/v1/mfa/push", token, json!({}))
        .await
        .expect_error(401, "unauthenticated");
}

async fn device_count(env: &TestEnv, username: &str) -> usize {
    admin::show(&env.app, username).await.unwrap().devices.len()
}

/// Starts a TOTP registration; returns (registration id, secret).
async fn start_totp(env: &TestEnv, token: &str) -> (Value, String) {
    let start = env
        .post_auth("/v1/mfa/totp", token, json!({}))
        .await
        .expect(200);
    (
        start.body["registration_id"].clone(),
        start.body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn confirm_totp(
    env: &TestEnv,
    token: &str,
    registration_id: &Value,
    secret: &str,
) -> Response {
    env.post_auth(
        "/v1/mfa/totp/confirm",
        token,
        json!({
            "registration_id": registration_id,
            "code": code_for(secret, now_secs(env)),
        }),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// The first device ends the other setup sessions

#[tokio::test]
async fn a_first_authenticator_app_makes_its_session_full_and_revokes_the_other_setup_sessions() {
    let env = TestEnv::start().await;
    let a = env.signup_and_login("ada").await;
    let b = setup_login(&env, "ada").await;
    let c = setup_login(&env, "ada").await;
    for token in [&a, &b, &c] {
        assert_scope(env.get("/v1/me", token).await, "setup");
    }
    // B has a registration of its own open, which must not land afterwards either.
    let (b_rid, b_secret) = start_totp(&env, &b).await;

    let totp = register_totp(&env, &a, None).await;
    assert!(totp.recovery_codes.is_some());

    let me = env.get("/v1/me", &a).await.expect(200);
    assert_eq!(me.body["scope"], "full", "{}", me.body);
    assert_eq!(me.body["mfa_setup_required"], false);
    assert_full_in_store(&env, "ada", &a).await;

    for token in [&b, &c] {
        assert_dead_everywhere(&env, token).await;
        assert_revoked_in_store(&env, "ada", token).await;
    }
    env.clock.advance_secs(30);
    confirm_totp(&env, &b, &b_rid, &b_secret)
        .await
        .expect_error(401, "unauthenticated");
    assert_eq!(device_count(&env, "ada").await, 1);
    // A full session goes on, and logging in again needs the second factor.
    env.get("/v1/mfa", &a).await.expect(200);
    assert_eq!(index_items(&env, "ada").await.len(), 1);
    assert_eq!(
        env.login("ada", PASSWORD).await.expect(200).body["status"],
        "mfa_required"
    );
}

#[tokio::test]
async fn a_first_security_key_revokes_the_other_setup_sessions() {
    let env = TestEnv::start().await;
    let a = env.signup_and_login("bea").await;
    let b = setup_login(&env, "bea").await;
    assert_scope(env.get("/v1/me", &b).await, "setup");

    let start = env
        .post_auth("/v1/mfa/webauthn", &a, json!({}))
        .await
        .expect(200);
    let mut auth = SoftAuthenticator::new(&env.base.replace("127.0.0.1", "localhost"));
    let credential = auth.create(&start.body["publicKey"]).unwrap();
    env.post_auth(
        "/v1/mfa/webauthn/confirm",
        &a,
        json!({ "registration_id": start.body["registration_id"], "credential": credential }),
    )
    .await
    .expect(201);

    assert_scope(env.get("/v1/me", &a).await, "full");
    assert_full_in_store(&env, "bea", &a).await;
    assert_dead_everywhere(&env, &b).await;
    assert_revoked_in_store(&env, "bea", &b).await;
}

#[tokio::test]
async fn a_first_push_device_revokes_the_other_setup_sessions() {
    let env = TestEnv::start().await;
    let a = env.signup_and_login("cai").await;
    let b = setup_login(&env, "cai").await;
    assert_scope(env.get("/v1/me", &b).await, "setup");

    let (rid, secret) = start_push(&env, &a).await;
    enroll_push(&env, &rid, &secret).await.expect(201);

    // The enrollment has no session of its own: the one that started it became full.
    assert_scope(env.get("/v1/me", &a).await, "full");
    assert_full_in_store(&env, "cai", &a).await;
    assert_dead_everywhere(&env, &b).await;
    assert_revoked_in_store(&env, "cai", &b).await;
}

#[tokio::test]
async fn a_setup_session_left_open_cannot_add_a_device_later() {
    let env = TestEnv::start().await;
    let a = env.signup_and_login("dov").await;
    let b = setup_login(&env, "dov").await;
    register_totp(&env, &a, None).await;

    env.post_auth("/v1/mfa/webauthn", &b, json!({}))
        .await
        .expect_error(401, "unauthenticated");
    env.post_auth("/v1/mfa/webauthn", &b, json!({ "password": PASSWORD }))
        .await
        .expect_error(401, "unauthenticated");
    env.post_auth("/v1/mfa/push", &b, json!({ "password": PASSWORD }))
        .await
        .expect_error(401, "unauthenticated");
    // Nor re-authenticate its way to anything.
    env.post_auth(
        "/v1/session/reauthenticate",
        &b,
        json!({ "password": PASSWORD }),
    )
    .await
    .expect_error(401, "unauthenticated");
    assert_eq!(device_count(&env, "dov").await, 1);
    assert_scope(env.get("/v1/me", &a).await, "full");
}

#[tokio::test]
async fn two_setup_sessions_confirming_at_once_make_one_device_and_one_session() {
    let env = TestEnv::start().await;
    let a = env.signup_and_login("eli").await;
    let b = setup_login(&env, "eli").await;
    let (a_rid, a_secret) = start_totp(&env, &a).await;
    let (b_rid, b_secret) = start_totp(&env, &b).await;

    let (ra, rb) = tokio::join!(
        confirm_totp(&env, &a, &a_rid, &a_secret),
        confirm_totp(&env, &b, &b_rid, &b_secret),
    );
    let statuses = (ra.status.as_u16(), rb.status.as_u16());
    let (winner, loser, lost) = match statuses {
        (201, 401) => (&a, &b, rb),
        (401, 201) => (&b, &a, ra),
        other => panic!(
            "one 201 and one 401, got {other:?}: {} / {}",
            ra.body, rb.body
        ),
    };
    lost.expect_error(401, "unauthenticated");
    assert_eq!(device_count(&env, "eli").await, 1);
    assert_scope(env.get("/v1/me", winner).await, "full");
    assert_full_in_store(&env, "eli", winner).await;
    assert_dead_everywhere(&env, loser).await;
    assert_revoked_in_store(&env, "eli", loser).await;
}

#[tokio::test]
async fn a_setup_session_the_first_device_did_not_revoke_is_refused_all_the_same() {
    let env = TestEnv::start().await;
    let a = env.signup_and_login("eva").await;
    let b = setup_login(&env, "eva").await;
    // B's index item as written before it recorded the scope: the first device's write
    // cannot tell it is a setup session, and leaves it.
    let key = records::session_index_key("eva", &token_hash(&b));
    let stored = records::load::<SessionIndex>(env.app.store.as_ref(), &key)
        .await
        .unwrap()
        .unwrap();
    let unscoped = SessionIndex {
        scope: None,
        ..stored.value.clone()
    };
    env.app
        .store
        .write(vec![stored.replace(&unscoped).unwrap()])
        .await
        .unwrap();
    let (rid, secret) = start_push(&env, &b).await;

    register_totp(&env, &a, None).await;
    let escaped = stored_session(&env, &b).await.expect("not revoked");
    assert_eq!(escaped.scope, records::Scope::Setup);
    assert_dead_everywhere(&env, &b).await;
    enroll_push(&env, &rid, &secret)
        .await
        .expect_error(410, "expired");
    assert_eq!(device_count(&env, "eva").await, 1);
    assert_scope(env.get("/v1/me", &a).await, "full");
}

#[tokio::test]
async fn a_first_device_with_fifty_setup_sessions_open_ends_them_all() {
    let env = TestEnv::start().await;
    let a = env.signup_and_login("fox").await;
    let mut others = Vec::new();
    for _ in 0..49 {
        others.push(setup_login(&env, "fox").await);
    }
    // More than one transaction can revoke: the first device's write still lands (it ends
    // what fits), and the sessions it left are refused at authentication.
    register_totp(&env, &a, None).await;
    assert_scope(env.get("/v1/me", &a).await, "full");
    for token in &others {
        env.get("/v1/me", token)
            .await
            .expect_error(401, "unauthenticated");
    }
    let index = index_items(&env, "fox").await;
    assert!(
        index.len() < 50,
        "the first device revoked setup sessions: {}",
        index.len()
    );
    assert_eq!(device_count(&env, "fox").await, 1);
}

#[tokio::test]
async fn after_reset_mfa_a_new_first_device_revokes_the_other_setup_sessions() {
    let env = TestEnv::start().await;
    let (old, _) = user_with_totp(&env, "fay").await;
    admin::reset_mfa(&env.app, "fay", "operator").await.unwrap();
    env.get("/v1/me", &old)
        .await
        .expect_error(401, "unauthenticated");

    let a = setup_login(&env, "fay").await;
    let b = setup_login(&env, "fay").await;
    assert_scope(env.get("/v1/me", &b).await, "setup");
    env.clock.advance_secs(30);
    register_totp(&env, &a, None).await;

    assert_scope(env.get("/v1/me", &a).await, "full");
    assert_full_in_store(&env, "fay", &a).await;
    assert_dead_everywhere(&env, &b).await;
    assert_revoked_in_store(&env, "fay", &b).await;
    assert_eq!(device_count(&env, "fay").await, 1);
}

#[tokio::test]
async fn a_push_enrollment_started_by_a_setup_session_that_lost_the_race_is_expired() {
    let env = TestEnv::start().await;
    let a = env.signup_and_login("gus").await;
    let b = setup_login(&env, "gus").await;
    let (rid, secret) = start_push(&env, &b).await;

    register_totp(&env, &a, None).await;
    enroll_push(&env, &rid, &secret)
        .await
        .expect_error(410, "expired");

    let state = admin::show(&env.app, "gus").await.unwrap();
    assert_eq!(state.devices.len(), 1, "only the authenticator app");
    // The refused enrollment's SNS subscription was dropped again.
    assert_eq!(topic_subscriptions(&env).await, 0);
    assert_scope(env.get("/v1/me", &a).await, "full");
    env.get("/v1/me", &b)
        .await
        .expect_error(401, "unauthenticated");
}

// ---------------------------------------------------------------------------------------
// Oversized ids and tokens answer as unknown ones

const TOO_LONG: usize = 3000;

#[tokio::test]
async fn oversized_registration_ids_are_not_found() {
    let env = TestEnv::start().await;
    let setup = env.signup_and_login("hal").await;
    let long = "r".repeat(TOO_LONG);

    env.post_auth(
        "/v1/mfa/totp/confirm",
        &setup,
        json!({ "registration_id": long, "code": "123456" }),
    )
    .await
    .expect_error(404, "not_found");

    // Well-formed for webauthn-rs's type; the id is judged before the credential.
    let credential = json!({
        "id": "AAAA",
        "rawId": "AAAA",
        "response": { "attestationObject": "AAAA", "clientDataJSON": "AAAA" },
        "type": "public-key",
    });
    env.post_auth(
        "/v1/mfa/webauthn/confirm",
        &setup,
        json!({ "registration_id": long, "credential": credential }),
    )
    .await
    .expect_error(404, "not_found");

    enroll_push(&env, &long, "some-secret")
        .await
        .expect_error(404, "not_found");
    // Just over the sort-key limit, and just over the id limit, likewise.
    for length in [1025, 129] {
        enroll_push(&env, &"r".repeat(length), "some-secret")
            .await
            .expect_error(404, "not_found");
    }
    // Nothing changed for the session.
    assert_scope(env.get("/v1/me", &setup).await, "setup");
}

#[tokio::test]
async fn an_oversized_bearer_token_is_unauthenticated() {
    let env = TestEnv::start().await;
    let long = "t".repeat(5000);
    for path in ["/v1/me", "/v1/mfa", "/v1/mfa/events"] {
        env.get(path, &long)
            .await
            .expect_error(401, "unauthenticated");
    }
    env.post_auth("/v1/mfa/totp", &long, json!({}))
        .await
        .expect_error(401, "unauthenticated");
    env.call(Method::POST, "/v1/logout", Some(&long), None)
        .await
        .expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn oversized_device_ids_are_not_found() {
    let env = TestEnv::start().await;
    let (token, _) = user_with_totp(&env, "ivy").await;
    env.reauthenticate(&token).await;
    let path = format!("/v1/mfa/devices/{}", "d".repeat(TOO_LONG));
    env.call(
        Method::PATCH,
        &path,
        Some(&token),
        Some(json!({ "name": "Renamed" })),
    )
    .await
    .expect_error(404, "not_found");
    env.call(
        Method::DELETE,
        &path,
        Some(&token),
        Some(json!({ "password": PASSWORD })),
    )
    .await
    .expect_error(404, "not_found");
    assert_eq!(device_count(&env, "ivy").await, 1);
}

#[tokio::test]
async fn oversized_push_ids_are_unknown_pushes() {
    let env = TestEnv::start().await;
    let (_, totp) = user_with_totp(&env, "jon").await;
    let mfa = mfa_token(&env, "jon").await;
    let long = "p".repeat(TOO_LONG);

    env.post(
        "/v1/login/push/status",
        json!({ "mfa_token": mfa, "push_id": long }),
    )
    .await
    .expect_error(404, "not_found");
    // The login is judged first, whatever the push id.
    env.post(
        "/v1/login/push/status",
        json!({ "mfa_token": "not-a-token", "push_id": long }),
    )
    .await
    .expect_error(401, "invalid_mfa_token");

    env.post(
        "/v1/push/respond",
        json!({
            "push_id": long,
            "device_id": "some-device",
            "decision": "approve",
            "number": "42",
            "signature": "AAAA",
        }),
    )
    .await
    .expect_error(404, "not_found");
    // An oversized device id with an unknown push too.
    env.post(
        "/v1/push/respond",
        json!({
            "push_id": "no-such-push",
            "device_id": "d".repeat(TOO_LONG),
            "decision": "deny",
            "signature": "AAAA",
        }),
    )
    .await
    .expect_error(404, "not_found");

    // None of this spent or counted against the login: it still finishes.
    env.clock.advance_secs(30);
    env.post(
        "/v1/login/totp",
        json!({ "mfa_token": mfa, "code": code_for(&totp.secret, now_secs(&env)) }),
    )
    .await
    .expect(200);
}
