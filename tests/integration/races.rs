//! One-time things under concurrency: exactly one winner, no lost updates.

use crate::settings::{code_for, mfa_token, now_secs, user_with_totp};
use crate::support::TestEnv;
use futures::future::join_all;
use latchkey::records::{load, profile_key, Device, Profile};
use reqwest::Method;
use serde_json::json;

/// Exactly one attempt gets in. Every loser is a wrong second factor, and wrong factors
/// count toward the account lock, so after ten of them the rest are refused as locked.
fn assert_one_winner(answers: &[crate::support::Response]) {
    let seen: Vec<_> = answers
        .iter()
        .map(|r| (r.status.as_u16(), r.code().to_owned()))
        .collect();
    assert_eq!(
        answers.iter().filter(|r| r.status == 200).count(),
        1,
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|(status, code)| *status == 200
            || (*status, code.as_str()) == (401, "invalid_code")
            || (*status, code.as_str()) == (429, "too_many_attempts")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn twenty_concurrent_logins_with_one_recovery_code_let_exactly_one_in() {
    let env = TestEnv::start().await;
    let (_, totp) = user_with_totp(&env, "race-rc").await;
    let code = totp.recovery_codes.unwrap()[0].clone();
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(mfa_token(&env, "race-rc").await);
    }
    let answers = join_all(tokens.iter().map(|t| {
        env.post(
            "/v1/login/recovery-code",
            json!({"mfa_token": t, "code": code}),
        )
    }))
    .await;
    assert_one_winner(&answers);
}

#[tokio::test]
async fn twenty_concurrent_uses_of_one_totp_code_let_exactly_one_in() {
    let env = TestEnv::start().await;
    let (_, totp) = user_with_totp(&env, "race-totp").await;
    env.clock.advance_secs(30);
    let code = code_for(&totp.secret, now_secs(&env));
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(mfa_token(&env, "race-totp").await);
    }
    let answers = join_all(
        tokens
            .iter()
            .map(|t| env.post("/v1/login/totp", json!({"mfa_token": t, "code": code}))),
    )
    .await;
    assert_one_winner(&answers);
}

#[tokio::test]
async fn one_mfa_token_used_twenty_times_at_once_is_spent_once() {
    let env = TestEnv::start().await;
    let (_, totp) = user_with_totp(&env, "race-token").await;
    let codes = totp.recovery_codes.unwrap();
    let mfa = mfa_token(&env, "race-token").await;
    let answers = join_all(codes.iter().chain(codes.iter()).map(|c| {
        env.post(
            "/v1/login/recovery-code",
            json!({"mfa_token": mfa, "code": c}),
        )
    }))
    .await;
    assert_eq!(answers.iter().filter(|r| r.status == 200).count(), 1);
}

#[tokio::test]
async fn two_concurrent_totp_registrations_make_one_device() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("race-reg").await;
    let a = env
        .post_auth("/v1/mfa/totp", &token, json!({}))
        .await
        .expect(200);
    let b = env
        .post_auth("/v1/mfa/totp", &token, json!({}))
        .await
        .expect(200);
    let confirm = |start: &crate::support::Response| {
        let secret = start.body["secret"].as_str().unwrap().to_owned();
        let rid = start.body["registration_id"].clone();
        let code = code_for(&secret, now_secs(&env));
        env.post_auth(
            "/v1/mfa/totp/confirm",
            &token,
            json!({"registration_id": rid, "code": code}),
        )
    };
    let (ra, rb) = tokio::join!(confirm(&a), confirm(&b));
    let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    let loser = if ra.status == 409 { ra } else { rb };
    assert_eq!(loser.code(), "method_limit_reached");
    let settings = env.get("/v1/mfa", &token).await.expect(200);
    assert_eq!(settings.body["devices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn twenty_concurrent_renames_of_different_devices_lose_no_update() {
    let env = TestEnv::start().await;
    let (token, _) = user_with_totp(&env, "race-rename").await;
    // Twenty devices exceed what registration allows (10 + 1 + 1); they are planted in the
    // store directly because this test is about the rename path's concurrency only.
    let key = profile_key("race-rename");
    let stored = load::<Profile>(env.app.store.as_ref(), &key)
        .await
        .unwrap()
        .unwrap();
    let mut profile = stored.value.clone();
    let template = profile.devices[0].clone();
    for i in 1..20 {
        profile.devices.push(Device {
            id: format!("planted-{i}"),
            name: format!("old {i}"),
            ..template.clone()
        });
    }
    env.app
        .store
        .write(vec![stored.replace(&profile).unwrap()])
        .await
        .unwrap();
    let ids: Vec<String> = profile.devices.iter().map(|d| d.id.clone()).collect();
    let answers = join_all(ids.iter().map(|id| {
        env.call(
            Method::PATCH,
            Box::leak(format!("/v1/mfa/devices/{id}").into_boxed_str()),
            Some(&token),
            Some(json!({"name": format!("new {id}")})),
        )
    }))
    .await;
    assert!(
        answers.iter().all(|r| r.status == 200),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let settings = env.get("/v1/mfa", &token).await.expect(200);
    for device in settings.body["devices"].as_array().unwrap() {
        assert_eq!(
            device["name"],
            format!("new {}", device["id"].as_str().unwrap())
        );
    }
}
