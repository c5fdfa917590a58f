//! Re-authentication (sudo): what a stolen session token alone cannot do, how a password
//! marks a session for five minutes, and what a wrong one costs.

use crate::settings::user_with_totp;
use crate::support::{TestEnv, PASSWORD};
use reqwest::Method;
use serde_json::json;

const REAUTH: &str = "/v1/session/reauthenticate";

/// The changes that add a way in or hand out bypass codes, for an account with a device.
const GUARDED: [&str; 4] = [
    "/v1/mfa/recovery-codes",
    "/v1/mfa/totp",
    "/v1/mfa/webauthn",
    "/v1/mfa/push",
];

#[tokio::test]
async fn a_session_that_only_signed_in_cannot_change_how_the_account_is_protected() {
    let env = TestEnv::start().await;
    // The setup session that confirmed the first device is full now, but never gave its
    // password again: signing in does not count.
    let (token, _) = user_with_totp(&env, "sudo-stolen").await;
    for path in GUARDED {
        env.post_auth(path, &token, json!({}))
            .await
            .expect_error(403, "reauthentication_required");
    }
    env.call(Method::POST, "/v1/mfa/recovery-codes", Some(&token), None)
        .await
        .expect_error(403, "reauthentication_required");
    // Nothing changed.
    let settings = env.get("/v1/mfa", &token).await.expect(200);
    assert_eq!(settings.body["devices"].as_array().unwrap().len(), 1);
    assert_eq!(settings.body["recovery_codes"]["remaining"], 10);
}

#[tokio::test]
async fn a_right_password_marks_the_session_for_five_minutes() {
    let env = TestEnv::start().await;
    let (token, _) = user_with_totp(&env, "sudo-window").await;
    let r = env
        .post_auth(REAUTH, &token, json!({ "password": PASSWORD }))
        .await
        .expect(200);
    assert_eq!(r.body.as_object().unwrap().len(), 1);
    assert_eq!(r.body["reauthenticated_until"], "2026-11-28T10:05:15Z");
    env.clock.advance_secs(299);
    env.post_auth("/v1/mfa/recovery-codes", &token, json!({}))
        .await
        .expect(200);
    env.clock.advance_secs(1);
    env.post_auth("/v1/mfa/recovery-codes", &token, json!({}))
        .await
        .expect_error(403, "reauthentication_required");
    // The mark belongs to the session, not the account: another session has none.
    let other = env.login("sudo-window", PASSWORD).await.expect(200);
    assert_eq!(other.body["status"], "mfa_required");
}

#[tokio::test]
async fn a_password_in_the_body_of_the_change_itself_works_once_checked() {
    let env = TestEnv::start().await;
    let (token, _) = user_with_totp(&env, "sudo-inline").await;
    env.post_auth(
        "/v1/mfa/recovery-codes",
        &token,
        json!({ "password": "wrong password" }),
    )
    .await
    .expect_error(401, "invalid_credentials");
    env.post_auth(
        "/v1/mfa/webauthn",
        &token,
        json!({ "password": "wrong password" }),
    )
    .await
    .expect_error(401, "invalid_credentials");
    let codes = env
        .post_auth(
            "/v1/mfa/recovery-codes",
            &token,
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
    assert_eq!(codes.body["codes"].as_array().unwrap().len(), 10);
    // ...and the session is marked for what follows.
    env.post_auth("/v1/mfa/webauthn", &token, json!({}))
        .await
        .expect(200);
    // A password given while marked is still judged.
    env.post_auth(
        "/v1/mfa/webauthn",
        &token,
        json!({ "password": "wrong password" }),
    )
    .await
    .expect_error(401, "invalid_credentials");
    // The wrong ones are on the security log, and count toward the lock.
    let events = env.get("/v1/mfa/events", &token).await.expect(200);
    let failed = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "login_failed")
        .count();
    assert_eq!(failed, 3);
    assert_eq!(failed_attempts(&env, "sudo-inline").await, 3);
}

#[tokio::test]
async fn a_wrong_reauthentication_counts_toward_the_lock() {
    let env = TestEnv::start().await;
    let (token, _) = user_with_totp(&env, "sudo-lock").await;
    for _ in 0..10 {
        env.post_auth(REAUTH, &token, json!({ "password": "wrong password" }))
            .await
            .expect_error(401, "invalid_credentials");
    }
    let r = env
        .post_auth(REAUTH, &token, json!({ "password": PASSWORD }))
        .await
        .expect_error(429, "too_many_attempts");
    assert_eq!(r.headers["retry-after"], "900");
    env.call(
        Method::DELETE,
        "/v1/mfa/devices/whatever",
        Some(&token),
        Some(json!({ "password": PASSWORD })),
    )
    .await
    .expect_error(429, "too_many_attempts");
    env.login("sudo-lock", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
}

#[tokio::test]
async fn a_setup_session_registers_its_first_device_without_a_password() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("sudo-setup").await;
    for path in ["/v1/mfa/totp", "/v1/mfa/webauthn", "/v1/mfa/push"] {
        env.post_auth(path, &token, json!({})).await.expect(200);
    }
    // Re-authenticating is for full sessions.
    env.post_auth(REAUTH, &token, json!({ "password": PASSWORD }))
        .await
        .expect_error(403, "mfa_setup_required");
}

#[tokio::test]
async fn an_account_without_devices_adds_one_without_a_password() {
    let env = TestEnv::start().await;
    let (token, totp) = user_with_totp(&env, "sudo-none").await;
    env.call(
        Method::DELETE,
        &format!("/v1/mfa/devices/{}", totp.device["id"].as_str().unwrap()),
        Some(&token),
        Some(json!({ "password": PASSWORD })),
    )
    .await
    .expect(200);
    // Removing asked for the password, which marked the session: let that lapse first.
    env.clock.advance_secs(301);
    env.post_auth("/v1/mfa/totp", &token, json!({}))
        .await
        .expect(200);
    env.post_auth("/v1/mfa/recovery-codes", &token, json!({}))
        .await
        .expect_error(403, "reauthentication_required");
}

#[tokio::test]
async fn reauthenticate_refuses_bad_bodies_without_counting() {
    let env = TestEnv::start().await;
    let (token, _) = user_with_totp(&env, "sudo-body").await;
    env.post_auth(REAUTH, &token, json!({}))
        .await
        .expect_error(400, "invalid_request");
    env.post_auth(
        REAUTH,
        &token,
        json!({ "password": "wrong password", "extra": 1 }),
    )
    .await
    .expect_error(400, "invalid_request");
    env.post_auth(
        "/v1/mfa/recovery-codes",
        &token,
        json!({ "password": "wrong password", "extra": 1 }),
    )
    .await
    .expect_error(400, "invalid_request");
    env.call(
        Method::POST,
        REAUTH,
        None,
        Some(json!({ "password": PASSWORD })),
    )
    .await
    .expect_error(401, "unauthenticated");
    assert_eq!(failed_attempts(&env, "sudo-body").await, 0);
}

async fn failed_attempts(env: &TestEnv, username: &str) -> u32 {
    latchkey::records::load::<latchkey::records::Profile>(
        env.app.store.as_ref(),
        &latchkey::records::profile_key(username),
    )
    .await
    .unwrap()
    .unwrap()
    .value
    .failed_attempts
}
