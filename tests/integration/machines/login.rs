//! The login state machine: what a right password leads to, and the mfa_token's life
//! (five minutes, five wrong factors, spent by a success).

use super::harness::{text, token, Machine};
use super::push::enroll_push;
use super::webauthn::{register_key, SoftAuthenticator};
use crate::support::PASSWORD;
use latchkey::Operation;
use serde_json::json;

#[tokio::test]
async fn mfa_off_signs_in_with_a_full_session() {
    let m = Machine::new();
    let (session, _, _) = m.user_with_totp("ada").await;
    let r = m
        .call_as(
            Operation::UpdateMfaSettings,
            &session,
            json!({ "mfa_enabled": false, "password": PASSWORD }),
        )
        .await
        .expect(200);
    assert_eq!(r.body["mfa_enabled"], false);

    let body = m.login_as("ada", "authenticated").await;
    assert_eq!(body["session"]["scope"], "full");
    assert!(body.get("mfa_token").is_none(), "{body}");
    assert_eq!(m.scope(&token(&body)).await, "full");
}

#[tokio::test]
async fn mfa_on_without_a_device_gives_a_setup_session() {
    let m = Machine::new();
    m.signup("bob").await;
    let body = m.login_as("bob", "mfa_setup_required").await;
    assert_eq!(body["session"]["scope"], "setup");
    assert!(body.get("mfa_token").is_none(), "{body}");
    let session = token(&body);
    assert_eq!(m.scope(&session).await, "setup");
    m.send(Operation::ListEvents, Some(&session), None, json!(null))
        .await
        .expect_error(403, "mfa_setup_required");
}

#[tokio::test]
async fn devices_ask_for_a_second_factor_naming_the_methods_in_order() {
    let m = Machine::new();
    let (session, _, _) = m.user_with_totp("cyd").await;
    let body = m.login_as("cyd", "mfa_required").await;
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(body["expires_at"], m.now().plus_secs(300).rfc3339());
    assert!(body.get("session").is_none(), "{body}");

    // Added in another order than the contract's: push, then a security key.
    let again = json!({ "password": PASSWORD });
    enroll_push(&m, &session, again.clone()).await;
    let mut key = SoftAuthenticator::new(super::harness::ORIGIN);
    register_key(&m, &session, &mut key, again).await;
    let body = m.login_as("cyd", "mfa_required").await;
    assert_eq!(
        body["methods"],
        json!(["webauthn", "totp", "push", "recovery_code"])
    );
}

#[tokio::test]
async fn an_mfa_token_lives_five_minutes() {
    let m = Machine::new();
    let (_, _, codes) = m.user_with_totp("dina").await;
    let (first, second) = (m.mfa_token("dina").await, m.mfa_token("dina").await);
    m.advance(299);
    m.recovery_login(&first, &codes[0]).await.expect(200);
    m.advance(1);
    m.recovery_login(&second, &codes[1])
        .await
        .expect_error(401, "invalid_mfa_token");
}

#[tokio::test]
async fn the_fifth_wrong_factor_ends_an_mfa_token() {
    let m = Machine::new();
    let (_, secret, codes) = m.user_with_totp("eddy").await;

    // Four wrong factors leave the login alive...
    let mfa = m.mfa_token("eddy").await;
    for _ in 0..4 {
        m.totp_login(&mfa, &m.wrong_code(&secret))
            .await
            .expect_error(401, "invalid_code");
    }
    m.recovery_login(&mfa, &codes[0]).await.expect(200);

    // ...the fifth, of whichever kind, ends it.
    let mfa = m.mfa_token("eddy").await;
    for _ in 0..3 {
        m.totp_login(&mfa, &m.wrong_code(&secret))
            .await
            .expect_error(401, "invalid_code");
    }
    for _ in 0..2 {
        m.recovery_login(&mfa, "AAAA-BBBB-CCCC")
            .await
            .expect_error(401, "invalid_code");
    }
    m.recovery_login(&mfa, &codes[1])
        .await
        .expect_error(401, "invalid_mfa_token");
    m.totp_login(&mfa, &m.code(&secret))
        .await
        .expect_error(401, "invalid_mfa_token");
}

#[tokio::test]
async fn a_success_spends_the_mfa_token() {
    let m = Machine::new();
    let (_, secret, codes) = m.user_with_totp("flo").await;
    let mfa = m.mfa_token("flo").await;
    let r = m.totp_login(&mfa, &m.code(&secret)).await.expect(200);
    assert_eq!(r.body["status"], "authenticated");
    assert_eq!(r.body["session"]["scope"], "full");
    assert_eq!(m.scope(&text(&r.body["session"]["token"])).await, "full");

    m.recovery_login(&mfa, &codes[0])
        .await
        .expect_error(401, "invalid_mfa_token");
    m.advance(30);
    m.totp_login(&mfa, &m.code(&secret))
        .await
        .expect_error(401, "invalid_mfa_token");
}
