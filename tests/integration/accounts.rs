//! POST /v1/accounts and POST /v1/login (password step).

use crate::support::{TestEnv, PASSWORD};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn sign_up_lower_cases_the_username_and_starts_with_setup_required() {
    let env = TestEnv::start().await;
    let r = env
        .post(
            "/v1/accounts",
            json!({"username": "Alice.Smith@Example.com", "password": PASSWORD}),
        )
        .await
        .expect(201);
    assert_eq!(r.body, json!({"username": "alice.smith@example.com"}));
    let r = env
        .login("ALICE.smith@example.com", PASSWORD)
        .await
        .expect(200);
    assert_eq!(r.body["status"], "mfa_setup_required");
    assert_eq!(r.body["session"]["scope"], "setup");
    assert_eq!(r.body["session"]["expires_at"], "2026-11-28T22:00:15Z");
    // The account's key in the clear (base64url), then the 256-bit secret.
    let token = r.body["session"]["token"].as_str().unwrap();
    let (account, secret) = token.split_once('.').unwrap();
    assert_eq!(account, "YWxpY2Uuc21pdGhAZXhhbXBsZS5jb20");
    assert_eq!(secret.len(), 43);
}

#[tokio::test]
async fn sign_up_rejects_bad_input_with_field_naming_errors() {
    let env = TestEnv::start().await;
    let r = env
        .raw(
            Method::POST,
            "/v1/accounts",
            None,
            b"{\"username\":".to_vec(),
        )
        .await;
    r.expect_error(400, "invalid_request");
    let r = env
        .post(
            "/v1/accounts",
            json!({"username": "bob", "password": PASSWORD, "role": "admin"}),
        )
        .await
        .expect_error(400, "invalid_request");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("role"));
    let r = env
        .post("/v1/accounts", json!({"username": "bob"}))
        .await
        .expect_error(400, "invalid_request");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("password"));
    let r = env
        .post(
            "/v1/accounts",
            json!({"username": "bob", "password": 12345678}),
        )
        .await
        .expect_error(400, "invalid_request");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("password"));
    assert!(!r.body.to_string().contains("12345678"));
    env.raw(Method::POST, "/v1/accounts", None, vec![])
        .await
        .expect_error(400, "invalid_request");
    // A route without a body takes none or `{}`; white space alone is neither.
    env.raw(
        Method::POST,
        "/v1/login/passkey/start",
        None,
        b"\n".to_vec(),
    )
    .await
    .expect_error(400, "invalid_request");
    env.raw(Method::POST, "/v1/login/passkey/start", None, vec![])
        .await
        .expect(200);
    env.raw(
        Method::POST,
        "/v1/login/passkey/start",
        None,
        b"{}".to_vec(),
    )
    .await
    .expect(200);

    let big = format!(
        r#"{{"username":"bob","password":"{}"}}"#,
        "x".repeat(70 * 1024)
    );
    env.raw(Method::POST, "/v1/accounts", None, big.into_bytes())
        .await
        .expect_error(413, "payload_too_large");

    for bad in ["ab", "has space", "semi;colon", &"a".repeat(65)] {
        env.post(
            "/v1/accounts",
            json!({"username": bad, "password": PASSWORD}),
        )
        .await
        .expect_error(400, "invalid_username");
    }
    for weak in ["short", &"x".repeat(257), "Carol.Jones"] {
        env.post(
            "/v1/accounts",
            json!({"username": "carol.jones", "password": weak}),
        )
        .await
        .expect_error(400, "weak_password");
    }
    // Nothing above created an account.
    env.login("bob", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    env.login("carol.jones", "short")
        .await
        .expect_error(401, "invalid_credentials");
}

#[tokio::test]
async fn duplicate_username_is_409_whatever_its_case() {
    let env = TestEnv::start().await;
    env.signup("dora").await;
    env.post(
        "/v1/accounts",
        json!({"username": "DORA", "password": "another password"}),
    )
    .await
    .expect_error(409, "username_taken");
    // The first password still works: the second sign-up changed nothing.
    env.login("dora", PASSWORD).await.expect(200);
}

#[tokio::test]
async fn concurrent_sign_ups_for_one_username_give_one_201_and_one_409() {
    let env = TestEnv::start().await;
    let body = json!({"username": "race", "password": PASSWORD});
    let (a, b) = tokio::join!(
        env.post("/v1/accounts", body.clone()),
        env.post("/v1/accounts", body.clone())
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    let loser = if a.status == 409 { a } else { b };
    loser.expect_error(409, "username_taken");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_are_the_same_401() {
    let env = TestEnv::start().await;
    env.signup("erin").await;
    let wrong = env
        .login("erin", "not the password")
        .await
        .expect_error(401, "invalid_credentials");
    let unknown = env
        .login("nobody-here", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    let malformed = env
        .login("x", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(malformed.body, unknown.body);
}

#[tokio::test]
async fn ten_failures_lock_the_account_for_fifteen_minutes() {
    let env = TestEnv::start().await;
    env.signup("frank").await;
    for _ in 0..10 {
        env.login("frank", "wrong password")
            .await
            .expect_error(401, "invalid_credentials");
    }
    let locked = env
        .login("frank", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
    assert_eq!(locked.headers["retry-after"], "900");
    env.clock.advance_secs(600);
    let locked = env
        .login("frank", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
    assert_eq!(locked.headers["retry-after"], "300");
    env.clock.advance_secs(300);
    env.login("frank", PASSWORD).await.expect(200);
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let env = TestEnv::start().await;
    env.signup("gina").await;
    for _ in 0..9 {
        env.login("gina", "wrong password").await.expect(401);
    }
    env.login("gina", PASSWORD).await.expect(200);
    for _ in 0..9 {
        env.login("gina", "wrong password").await.expect(401);
    }
    env.login("gina", PASSWORD).await.expect(200);
}

#[tokio::test]
async fn login_rejects_malformed_bodies() {
    let env = TestEnv::start().await;
    env.post("/v1/login", json!({"username": "a"}))
        .await
        .expect_error(400, "invalid_request");
    env.post(
        "/v1/login",
        json!({"username": "a", "password": "b", "x": 1}),
    )
    .await
    .expect_error(400, "invalid_request");
    env.post("/v1/login", json!(["a", "b"]))
        .await
        .expect_error(400, "invalid_request");
}

#[tokio::test]
async fn opted_out_users_get_a_full_session_from_the_password_alone() {
    let env = TestEnv::start().await;
    env.signup("hank").await;
    // Opting out needs a full session; a direct store edit stands in until the settings
    // tests cover the real route.
    let key = latchkey::records::profile_key("hank");
    let stored =
        latchkey::records::load::<latchkey::records::Profile>(env.app.store.as_ref(), &key)
            .await
            .unwrap()
            .unwrap();
    let mut profile = stored.value.clone();
    profile.mfa_enabled = false;
    env.app
        .store
        .write(vec![stored.replace(&profile).unwrap()])
        .await
        .unwrap();

    let r = env.login("hank", PASSWORD).await.expect(200);
    assert_eq!(r.body["status"], "authenticated");
    assert_eq!(r.body["session"]["scope"], "full");
    let token = r.body["session"]["token"].as_str().unwrap();
    let me = env.get("/v1/me", token).await.expect(200);
    assert_eq!(
        me.body,
        json!({"username": "hank", "mfa_enabled": false, "mfa_setup_required": false, "scope": "full"})
    );
}
