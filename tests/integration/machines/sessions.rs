//! Sessions and sudo: logout, the 12-hour life, the 5-minute re-authentication window,
//! and a setup session's end once its account has a device.

use super::harness::{token, Machine};
use crate::support::PASSWORD;
use latchkey::Operation;
use serde_json::{json, Value};

/// A full session from a complete login (password and code), never re-authenticated.
async fn signed_in(m: &Machine, username: &str, secret: &str) -> String {
    let mfa = m.mfa_token(username).await;
    let r = m.totp_login(&mfa, &m.code(secret)).await.expect(200);
    m.advance(30);
    token(&r.body)
}

#[tokio::test]
async fn logout_ends_that_session_only() {
    let m = Machine::new();
    let (first, secret, _) = m.user_with_totp("gus").await;
    let second = signed_in(&m, "gus", &secret).await;
    let r = m
        .send(Operation::Logout, Some(&first), None, Value::Null)
        .await;
    assert_eq!((r.status.as_u16(), &r.body), (204, &Value::Null));
    assert_eq!(m.scope(&first).await, "unauthenticated");
    m.send(Operation::Logout, Some(&first), None, Value::Null)
        .await
        .expect_error(401, "unauthenticated");
    assert_eq!(m.scope(&second).await, "full");

    // A setup session too.
    m.signup("hal").await;
    let setup = m.setup_session("hal").await;
    m.send(Operation::Logout, Some(&setup), None, json!({}))
        .await
        .expect(204);
    assert_eq!(m.scope(&setup).await, "unauthenticated");
}

#[tokio::test]
async fn a_session_lives_twelve_hours() {
    let m = Machine::new();
    m.signup("ida").await;
    let body = m.login_as("ida", "mfa_setup_required").await;
    assert_eq!(
        body["session"]["expires_at"],
        m.now().plus_secs(12 * 3600).rfc3339()
    );
    let session = token(&body);
    // Used every 50 minutes, so the idle timeout never ends it first.
    for _ in 0..14 {
        m.advance(50 * 60);
        assert_eq!(m.scope(&session).await, "setup");
    }
    m.advance(12 * 3600 - 14 * 50 * 60 - 1);
    assert_eq!(m.scope(&session).await, "setup");
    m.advance(1);
    assert_eq!(m.scope(&session).await, "unauthenticated");
}

#[tokio::test]
async fn a_password_vouches_for_five_minutes() {
    let m = Machine::new();
    let (_, secret, _) = m.user_with_totp("joan").await;
    let session = signed_in(&m, "joan", &secret).await;
    let regenerate = || m.call_as(Operation::RegenerateRecoveryCodes, &session, json!({}));

    // Signing in does not count.
    regenerate()
        .await
        .expect_error(403, "reauthentication_required");
    m.call_as(
        Operation::Reauthenticate,
        &session,
        json!({ "password": "wrong password" }),
    )
    .await
    .expect_error(401, "invalid_credentials");
    let r = m
        .call_as(
            Operation::Reauthenticate,
            &session,
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
    assert_eq!(
        r.body["reauthenticated_until"],
        m.now().plus_secs(300).rfc3339()
    );

    m.advance(299);
    let r = regenerate().await.expect(200);
    assert_eq!(r.body["codes"].as_array().unwrap().len(), 10);
    m.advance(1);
    regenerate()
        .await
        .expect_error(403, "reauthentication_required");
    // The password in the request vouches again.
    m.call_as(
        Operation::RegenerateRecoveryCodes,
        &session,
        json!({ "password": PASSWORD }),
    )
    .await
    .expect(200);
    regenerate().await.expect(200);
}

#[tokio::test]
async fn setup_sessions_die_once_the_account_has_a_device() {
    let m = Machine::new();
    m.signup("kit").await;
    let keeper = m.setup_session("kit").await;
    // More setup sessions than the first device's write revokes at once: those beyond it
    // are refused when they are used.
    let mut others = Vec::new();
    for _ in 0..45 {
        others.push(m.setup_session("kit").await);
    }
    // One of them began a registration of its own before the first device landed.
    let (id, secret) = m.start_totp(&others[44], json!({})).await;

    let (keeper_id, keeper_secret) = m.start_totp(&keeper, json!({})).await;
    m.confirm_totp(&keeper, &keeper_id, &m.code(&keeper_secret))
        .await
        .expect(201);
    assert_eq!(m.scope(&keeper).await, "full");

    for other in &others {
        for (operation, body) in [
            (Operation::Me, Value::Null),
            (Operation::GetMfa, Value::Null),
            (Operation::StartTotpRegistration, json!({})),
            (Operation::Logout, Value::Null),
        ] {
            m.send(operation, Some(other), None, body)
                .await
                .expect_error(401, "unauthenticated");
        }
    }
    m.confirm_totp(&others[44], &id, &m.code(&secret))
        .await
        .expect_error(401, "unauthenticated");
    assert_eq!(m.devices(&keeper).await.len(), 1);
}
