//! The "Authentication settings" flows over HTTP on moto: authenticator app, recovery
//! codes, device rename/remove, MFA opt-out/in, the security log, and the second step of
//! login with TOTP or a recovery code.

use crate::support::{Response, TestEnv, PASSWORD};
use latchkey::clock::Clock;
use reqwest::Method;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};

/// An independent TOTP implementation (totp-rs, not the server's wrapper) from the base32
/// secret the server showed.
pub fn code_for(secret_base32: &str, unix_secs: i64) -> String {
    let bytes = Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new())
        .generate(unix_secs as u64)
}

pub fn now_secs(env: &TestEnv) -> i64 {
    env.clock.now().secs()
}

pub struct Totp {
    pub secret: String,
    pub device: Value,
    pub recovery_codes: Option<Vec<String>>,
}

pub async fn register_totp(env: &TestEnv, token: &str, name: Option<&str>) -> Totp {
    let body = match name {
        Some(n) => json!({ "name": n }),
        None => json!({}),
    };
    let start = env.post_auth("/v1/mfa/totp", token, body).await.expect(200);
    let secret = start.body["secret"].as_str().unwrap().to_owned();
    let confirm = env
        .post_auth(
            "/v1/mfa/totp/confirm",
            token,
            json!({
                "registration_id": start.body["registration_id"],
                "code": code_for(&secret, now_secs(env)),
            }),
        )
        .await
        .expect(201);
    Totp {
        secret,
        device: confirm.body["device"].clone(),
        recovery_codes: confirm.body["recovery_codes"].as_array().map(|codes| {
            codes
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect()
        }),
    }
}

/// A user with an authenticator app and a full session.
pub async fn user_with_totp(env: &TestEnv, username: &str) -> (String, Totp) {
    let token = env.signup_and_login(username).await;
    let totp = register_totp(env, &token, None).await;
    (token, totp)
}

pub async fn mfa_token(env: &TestEnv, username: &str) -> String {
    let r = env.login(username, PASSWORD).await.expect(200);
    assert_eq!(r.body["status"], "mfa_required", "{}", r.body);
    r.body["mfa_token"].as_str().unwrap().to_owned()
}

async fn totp_login(env: &TestEnv, mfa_token: &str, code: &str) -> Response {
    env.post(
        "/v1/login/totp",
        json!({ "mfa_token": mfa_token, "code": code }),
    )
    .await
}

async fn recovery_login(env: &TestEnv, mfa_token: &str, code: &str) -> Response {
    env.post(
        "/v1/login/recovery-code",
        json!({ "mfa_token": mfa_token, "code": code }),
    )
    .await
}

async fn event_types(env: &TestEnv, token: &str) -> Vec<String> {
    let r = env.get("/v1/mfa/events", token).await.expect(200);
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn registering_an_authenticator_app_shows_secret_uri_qr_and_then_recovery_codes() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("ann").await;
    let start = env
        .post_auth("/v1/mfa/totp", &token, json!({"name": "Phone"}))
        .await
        .expect(200);
    let secret = start.body["secret"].as_str().unwrap();
    assert_eq!(
        Secret::Encoded(secret.into()).to_bytes().unwrap().len(),
        20,
        "160-bit secret"
    );
    let uri = start.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Latchkey:ann?"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")));
    assert!(uri.contains("issuer=Latchkey"));
    assert!(start.body["qr_svg"].as_str().unwrap().contains("<svg"));
    assert_eq!(start.body["expires_at"], "2026-11-28T10:10:15Z");

    // A wrong code leaves the registration open.
    let rid = start.body["registration_id"].clone();
    env.post_auth(
        "/v1/mfa/totp/confirm",
        &token,
        json!({"registration_id": rid, "code": "000000"}),
    )
    .await
    .expect_error(401, "invalid_code");
    let confirm = env
        .post_auth(
            "/v1/mfa/totp/confirm",
            &token,
            json!({"registration_id": rid, "code": code_for(secret, now_secs(&env))}),
        )
        .await
        .expect(201);
    let device = &confirm.body["device"];
    assert_eq!(device["type"], "totp");
    assert_eq!(device["name"], "Phone");
    assert_eq!(device["created_at"], "2026-11-28T10:00:15Z");
    assert_eq!(device["last_used_at"], Value::Null);
    let codes = confirm.body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    for code in codes {
        let code = code.as_str().unwrap();
        assert_eq!(code.len(), 23);
        assert!(code.split('-').all(|g| g.len() == 5
            && g.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())));
    }
    // The registration was spent; the same token is now a full session.
    env.post_auth(
        "/v1/mfa/totp/confirm",
        &token,
        json!({"registration_id": rid, "code": code_for(secret, now_secs(&env))}),
    )
    .await
    .expect_error(409, "registration_used");
    let me = env.get("/v1/me", &token).await.expect(200);
    assert_eq!(me.body["scope"], "full");
    assert_eq!(me.body["mfa_setup_required"], false);

    let settings = env.get("/v1/mfa", &token).await.expect(200);
    assert_eq!(settings.body["mfa_enabled"], true);
    assert_eq!(settings.body["mfa_setup_required"], false);
    assert_eq!(settings.body["devices"].as_array().unwrap().len(), 1);
    assert_eq!(
        settings.body["recovery_codes"],
        json!({"remaining": 10, "generated_at": "2026-11-28T10:00:15Z"})
    );
    assert_eq!(
        settings.body["methods"],
        json!([
            {"type": "webauthn", "registered": 0, "max": 10},
            {"type": "totp", "registered": 1, "max": 1},
            {"type": "push", "registered": 0, "max": 1},
        ])
    );
    // The secret is never shown again, nor stored in clear.
    assert!(!settings.body.to_string().contains(secret));
}

#[tokio::test]
async fn one_authenticator_app_per_profile() {
    let env = TestEnv::start().await;
    let (token, _) = user_with_totp(&env, "ben").await;
    env.reauthenticate(&token).await;
    env.post_auth("/v1/mfa/totp", &token, json!({}))
        .await
        .expect_error(409, "method_limit_reached");
}

#[tokio::test]
async fn totp_registrations_expire_after_ten_minutes_and_are_private() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("cai").await;
    let other = env.signup_and_login("cai-other").await;
    let start = env
        .post_auth("/v1/mfa/totp", &token, json!({}))
        .await
        .expect(200);
    let secret = start.body["secret"].as_str().unwrap();
    let rid = start.body["registration_id"].clone();
    env.post_auth(
        "/v1/mfa/totp/confirm",
        &other,
        json!({"registration_id": rid, "code": code_for(secret, now_secs(&env))}),
    )
    .await
    .expect_error(404, "not_found");
    env.post_auth(
        "/v1/mfa/totp/confirm",
        &token,
        json!({"registration_id": "nope", "code": "123456"}),
    )
    .await
    .expect_error(404, "not_found");
    env.clock.advance_secs(600);
    env.post_auth(
        "/v1/mfa/totp/confirm",
        &token,
        json!({"registration_id": rid, "code": code_for(secret, now_secs(&env))}),
    )
    .await
    .expect_error(410, "expired");
    env.post_auth("/v1/mfa/totp", &token, json!({"name": ""}))
        .await
        .expect_error(400, "invalid_request");
    env.post_auth("/v1/mfa/totp", &token, json!({"nom": "x"}))
        .await
        .expect_error(400, "invalid_request");
}

#[tokio::test]
async fn login_with_an_authenticator_app_code() {
    let env = TestEnv::start().await;
    let (_, totp) = user_with_totp(&env, "dan").await;
    let r = env.login("dan", PASSWORD).await.expect(200);
    assert_eq!(r.body["status"], "mfa_required");
    assert_eq!(r.body["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(r.body["expires_at"], "2026-11-28T10:05:15Z");
    let mfa = r.body["mfa_token"].as_str().unwrap();
    // The code that confirmed the registration is already spent: move to the next step.
    env.clock.advance_secs(30);
    let code = code_for(&totp.secret, now_secs(&env));
    let ok = totp_login(&env, mfa, &code).await.expect(200);
    assert_eq!(ok.body["status"], "authenticated");
    assert_eq!(ok.body["session"]["scope"], "full");
    let token = ok.body["session"]["token"].as_str().unwrap();
    env.get("/v1/mfa/events", token).await.expect(200);
    // The mfa_token is spent by the success.
    totp_login(&env, mfa, &code)
        .await
        .expect_error(401, "invalid_mfa_token");
    let devices = env.get("/v1/mfa", token).await.expect(200).body["devices"].clone();
    assert_eq!(devices[0]["last_used_at"], "2026-11-28T10:00:45Z");
}

#[tokio::test]
async fn totp_accepts_one_step_of_skew_and_refuses_replays_and_older_steps() {
    let env = TestEnv::start().await;
    let (_, totp) = user_with_totp(&env, "eve").await;
    env.clock.advance_secs(300);
    let now = now_secs(&env);
    for offset in [-2i64, 2] {
        let mfa = mfa_token(&env, "eve").await;
        totp_login(&env, &mfa, &code_for(&totp.secret, now + offset * 30))
            .await
            .expect_error(401, "invalid_code");
    }
    let mfa = mfa_token(&env, "eve").await;
    totp_login(&env, &mfa, &code_for(&totp.secret, now - 30))
        .await
        .expect(200);
    let mfa = mfa_token(&env, "eve").await;
    totp_login(&env, &mfa, &code_for(&totp.secret, now))
        .await
        .expect(200);
    let mfa = mfa_token(&env, "eve").await;
    // Same code again: a replay.
    totp_login(&env, &mfa, &code_for(&totp.secret, now))
        .await
        .expect_error(401, "invalid_code");
    totp_login(&env, &mfa, &code_for(&totp.secret, now + 30))
        .await
        .expect(200);
    // An earlier step after a later one.
    let mfa = mfa_token(&env, "eve").await;
    totp_login(&env, &mfa, &code_for(&totp.secret, now))
        .await
        .expect_error(401, "invalid_code");
    let mfa2 = mfa_token(&env, "eve").await;
    env.clock.advance_secs(60);
    totp_login(&env, &mfa2, &code_for(&totp.secret, now_secs(&env)))
        .await
        .expect(200);
}

#[tokio::test]
async fn an_mfa_token_dies_after_five_wrong_factors_or_five_minutes() {
    let env = TestEnv::start().await;
    let (_, totp) = user_with_totp(&env, "fay").await;
    env.clock.advance_secs(30);
    let mfa = mfa_token(&env, "fay").await;
    for _ in 0..5 {
        totp_login(&env, &mfa, "000000")
            .await
            .expect_error(401, "invalid_code");
    }
    let good = code_for(&totp.secret, now_secs(&env));
    totp_login(&env, &mfa, &good)
        .await
        .expect_error(401, "invalid_mfa_token");
    recovery_login(&env, &mfa, &totp.recovery_codes.as_ref().unwrap()[0])
        .await
        .expect_error(401, "invalid_mfa_token");

    let mfa = mfa_token(&env, "fay").await;
    env.clock.advance_secs(300);
    totp_login(&env, &mfa, &code_for(&totp.secret, now_secs(&env)))
        .await
        .expect_error(401, "invalid_mfa_token");
    totp_login(&env, "not-a-token", "123456")
        .await
        .expect_error(401, "invalid_mfa_token");
}

#[tokio::test]
async fn wrong_second_factors_count_toward_the_account_lock() {
    let env = TestEnv::start().await;
    let (_, totp) = user_with_totp(&env, "gus").await;
    env.clock.advance_secs(30);
    for _ in 0..2 {
        let mfa = mfa_token(&env, "gus").await;
        for _ in 0..5 {
            totp_login(&env, &mfa, "000000")
                .await
                .expect_error(401, "invalid_code");
        }
    }
    env.login("gus", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
    env.clock.advance_secs(900);
    let mfa = mfa_token(&env, "gus").await;
    totp_login(&env, &mfa, &code_for(&totp.secret, now_secs(&env)))
        .await
        .expect(200);
}

#[tokio::test]
async fn recovery_codes_log_in_once_each_ignoring_case_spaces_and_hyphens() {
    let env = TestEnv::start().await;
    let (_, totp) = user_with_totp(&env, "hal").await;
    let codes = totp.recovery_codes.unwrap();
    let mfa = mfa_token(&env, "hal").await;
    let typed = codes[0].to_uppercase().replace('-', " ");
    let r = recovery_login(&env, &mfa, &typed).await.expect(200);
    assert_eq!(r.body["status"], "authenticated");
    assert_eq!(r.body["recovery_codes_remaining"], 9);
    let token = r.body["session"]["token"].as_str().unwrap().to_owned();

    let mfa = mfa_token(&env, "hal").await;
    recovery_login(&env, &mfa, &codes[0])
        .await
        .expect_error(401, "invalid_code");
    recovery_login(&env, &mfa, "garbage")
        .await
        .expect_error(401, "invalid_code");
    let r = recovery_login(&env, &mfa, &codes[1].replace('-', ""))
        .await
        .expect(200);
    assert_eq!(r.body["recovery_codes_remaining"], 8);
    let settings = env.get("/v1/mfa", &token).await.expect(200);
    assert_eq!(settings.body["recovery_codes"]["remaining"], 8);
    let types = event_types(&env, &token).await;
    assert!(
        types.iter().filter(|t| *t == "recovery_code_used").count() == 2,
        "{types:?}"
    );
    assert!(types.contains(&"second_factor_failed".to_owned()));
}

#[tokio::test]
async fn regenerating_recovery_codes_replaces_them_all_at_once() {
    let env = TestEnv::start().await;
    let (token, totp) = user_with_totp(&env, "ida").await;
    let old = totp.recovery_codes.unwrap();
    env.clock.advance_secs(60);
    env.reauthenticate(&token).await;
    let r = env
        .call(Method::POST, "/v1/mfa/recovery-codes", Some(&token), None)
        .await
        .expect(200);
    let new: Vec<String> = r.body["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    assert_eq!(r.body["generated_at"], "2026-11-28T10:01:15Z");
    assert!(new.iter().all(|c| !old.contains(c)));
    let mfa = mfa_token(&env, "ida").await;
    recovery_login(&env, &mfa, &old[3])
        .await
        .expect_error(401, "invalid_code");
    let r = recovery_login(&env, &mfa, &new[3]).await.expect(200);
    assert_eq!(r.body["recovery_codes_remaining"], 9);
    env.post_auth("/v1/mfa/recovery-codes", &token, json!({"x": 1}))
        .await
        .expect_error(400, "invalid_request");
}

#[tokio::test]
async fn methods_drop_recovery_code_when_none_remain() {
    let env = TestEnv::start().await;
    let (_, totp) = user_with_totp(&env, "jon").await;
    for code in totp.recovery_codes.unwrap() {
        let mfa = mfa_token(&env, "jon").await;
        recovery_login(&env, &mfa, &code).await.expect(200);
    }
    let r = env.login("jon", PASSWORD).await.expect(200);
    assert_eq!(r.body["methods"], json!(["totp"]));
}

#[tokio::test]
async fn renaming_a_device_checks_the_name_and_the_owner() {
    let env = TestEnv::start().await;
    let (token, totp) = user_with_totp(&env, "kim").await;
    let (other, other_totp) = user_with_totp(&env, "kim-other").await;
    let id = totp.device["id"].as_str().unwrap();
    let path = format!("/v1/mfa/devices/{id}");
    let r = env
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": "  Work phone  "})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["name"], "Work phone");
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["type"], "totp");
    for bad in [
        json!({"name": "   "}),
        json!({"name": "x".repeat(65)}),
        json!({"name": "a\u{0}b"}),
        json!({"name": 5}),
        json!({}),
    ] {
        env.call(Method::PATCH, &path, Some(&token), Some(bad))
            .await
            .expect_error(400, "invalid_request");
    }
    // Another user's device does not exist for this caller.
    let foreign = format!(
        "/v1/mfa/devices/{}",
        other_totp.device["id"].as_str().unwrap()
    );
    env.call(
        Method::PATCH,
        &foreign,
        Some(&token),
        Some(json!({"name": "mine"})),
    )
    .await
    .expect_error(404, "not_found");
    env.call(
        Method::PATCH,
        "/v1/mfa/devices/unknown",
        Some(&token),
        Some(json!({"name": "x"})),
    )
    .await
    .expect_error(404, "not_found");
    let theirs = env.get("/v1/mfa", &other).await.expect(200);
    assert_eq!(theirs.body["devices"][0]["name"], "Authenticator app");
    assert!(event_types(&env, &token)
        .await
        .contains(&"device_renamed".to_owned()));
}

#[tokio::test]
async fn removing_the_last_device_needs_the_password_and_brings_back_setup() {
    let env = TestEnv::start().await;
    let (token, totp) = user_with_totp(&env, "lea").await;
    let path = format!("/v1/mfa/devices/{}", totp.device["id"].as_str().unwrap());
    env.call(
        Method::DELETE,
        &path,
        Some(&token),
        Some(json!({"password": "wrong password"})),
    )
    .await
    .expect_error(401, "invalid_credentials");
    env.call(Method::DELETE, &path, Some(&token), None)
        .await
        .expect_error(400, "invalid_request");
    let (other, _) = user_with_totp(&env, "lea-other").await;
    env.call(
        Method::DELETE,
        &path,
        Some(&other),
        Some(json!({"password": PASSWORD})),
    )
    .await
    .expect_error(404, "not_found");
    let r = env
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await
        .expect(200);
    assert_eq!(r.body, json!({"mfa_setup_required": true}));
    env.call(
        Method::DELETE,
        &path,
        Some(&token),
        Some(json!({"password": PASSWORD})),
    )
    .await
    .expect_error(404, "not_found");
    env.clock.advance_secs(1);
    let r = env.login("lea", PASSWORD).await.expect(200);
    assert_eq!(r.body["status"], "mfa_setup_required");
    let types = event_types(&env, &token).await;
    assert_eq!(types[0], "login_succeeded");
    assert!(types.contains(&"device_removed".to_owned()));
    assert!(
        types.contains(&"login_failed".to_owned()),
        "the wrong password is logged: {types:?}"
    );
}

#[tokio::test]
async fn wrong_passwords_in_settings_count_toward_the_lock() {
    let env = TestEnv::start().await;
    let (token, totp) = user_with_totp(&env, "max").await;
    let path = format!("/v1/mfa/devices/{}", totp.device["id"].as_str().unwrap());
    for _ in 0..5 {
        env.call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({"password": "nope nope"})),
        )
        .await
        .expect(401);
        env.call(
            Method::PUT,
            "/v1/mfa/settings",
            Some(&token),
            Some(json!({"mfa_enabled": false, "password": "nope nope"})),
        )
        .await
        .expect(401);
    }
    let locked = env
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    let locked = locked.expect_error(429, "too_many_attempts");
    assert!(locked.headers.contains_key("retry-after"));
    env.login("max", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
}

#[tokio::test]
async fn opting_out_and_back_in() {
    let env = TestEnv::start().await;
    let (token, totp) = user_with_totp(&env, "ned").await;
    let settings =
        |enabled: bool, password: &str| json!({"mfa_enabled": enabled, "password": password});
    env.call(
        Method::PUT,
        "/v1/mfa/settings",
        Some(&token),
        Some(settings(false, "wrong password")),
    )
    .await
    .expect_error(401, "invalid_credentials");
    env.call(
        Method::PUT,
        "/v1/mfa/settings",
        Some(&token),
        Some(json!({"mfa_enabled": "no", "password": PASSWORD})),
    )
    .await
    .expect_error(400, "invalid_request");
    let r = env
        .call(
            Method::PUT,
            "/v1/mfa/settings",
            Some(&token),
            Some(settings(false, PASSWORD)),
        )
        .await
        .expect(200);
    assert_eq!(
        r.body,
        json!({"mfa_enabled": false, "mfa_setup_required": false})
    );
    let r = env.login("ned", PASSWORD).await.expect(200);
    assert_eq!(r.body["status"], "authenticated");
    assert_eq!(r.body["session"]["scope"], "full");

    let r = env
        .call(
            Method::PUT,
            "/v1/mfa/settings",
            Some(&token),
            Some(settings(true, PASSWORD)),
        )
        .await
        .expect(200);
    assert_eq!(
        r.body,
        json!({"mfa_enabled": true, "mfa_setup_required": false})
    );
    assert_eq!(
        env.login("ned", PASSWORD).await.expect(200).body["status"],
        "mfa_required"
    );

    // Opted out, remove the device, opt back in: setup is required at the next login.
    env.call(
        Method::PUT,
        "/v1/mfa/settings",
        Some(&token),
        Some(settings(false, PASSWORD)),
    )
    .await
    .expect(200);
    let path = format!("/v1/mfa/devices/{}", totp.device["id"].as_str().unwrap());
    let r = env
        .call(
            Method::DELETE,
            &path,
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await
        .expect(200);
    assert_eq!(r.body, json!({"mfa_setup_required": false}));
    let r = env
        .call(
            Method::PUT,
            "/v1/mfa/settings",
            Some(&token),
            Some(settings(true, PASSWORD)),
        )
        .await
        .expect(200);
    assert_eq!(
        r.body,
        json!({"mfa_enabled": true, "mfa_setup_required": true})
    );
    assert_eq!(
        env.login("ned", PASSWORD).await.expect(200).body["status"],
        "mfa_setup_required"
    );
    let types = event_types(&env, &token).await;
    assert!(
        types.contains(&"mfa_disabled".to_owned()) && types.contains(&"mfa_enabled".to_owned())
    );
}

#[tokio::test]
async fn the_security_log_is_newest_first_and_holds_no_secrets() {
    let env = TestEnv::start().await;
    let (token, totp) = user_with_totp(&env, "ola").await;
    env.clock.advance_secs(1);
    env.login("ola", "wrong password").await.expect(401);
    env.clock.advance_secs(1);
    let mfa = mfa_token(&env, "ola").await;
    totp_login(&env, &mfa, "000000").await.expect(401);
    env.clock.advance_secs(30);
    totp_login(&env, &mfa, &code_for(&totp.secret, now_secs(&env)))
        .await
        .expect(200);
    env.clock.advance_secs(1);
    let id = totp.device["id"].as_str().unwrap();
    env.call(
        Method::PATCH,
        &format!("/v1/mfa/devices/{id}"),
        Some(&token),
        Some(json!({"name": "n"})),
    )
    .await
    .expect(200);
    let r = env.get("/v1/mfa/events", &token).await.expect(200);
    let events = r.body["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        &types[..4],
        [
            "device_renamed",
            "login_succeeded",
            "second_factor_failed",
            "login_failed"
        ],
        "{types:?}"
    );
    // The sign-up's setup login and first device happened within one clock instant.
    let mut first: Vec<&str> = types[4..].to_vec();
    first.sort_unstable();
    assert_eq!(
        first,
        [
            "device_added",
            "login_succeeded",
            "recovery_codes_generated"
        ]
    );
    assert_eq!(events[0]["device_id"], id);
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let text = r.body.to_string();
    assert!(!text.contains(&totp.secret));
    for code in totp.recovery_codes.unwrap() {
        assert!(!text.contains(&code));
    }
    assert!(!text.contains(PASSWORD));
}

#[tokio::test]
async fn the_security_log_returns_at_most_fifty() {
    let env = TestEnv::start().await;
    let (token, totp) = user_with_totp(&env, "pia").await;
    let path = format!("/v1/mfa/devices/{}", totp.device["id"].as_str().unwrap());
    for i in 0..55 {
        env.clock.advance_secs(1);
        env.call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": format!("n{i}")})),
        )
        .await
        .expect(200);
    }
    let r = env.get("/v1/mfa/events", &token).await.expect(200);
    assert_eq!(r.body["events"].as_array().unwrap().len(), 50);
}
