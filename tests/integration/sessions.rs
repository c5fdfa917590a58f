//! Sessions: bearer tokens, scopes, expiry, logout.

use crate::support::TestEnv;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn me_describes_a_setup_session() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("ivy").await;
    let me = env.get("/v1/me", &token).await.expect(200);
    assert_eq!(
        me.body,
        json!({"username": "ivy", "mfa_enabled": true, "mfa_setup_required": true, "scope": "setup"})
    );
}

#[tokio::test]
async fn missing_unknown_and_malformed_tokens_are_401() {
    let env = TestEnv::start().await;
    env.call(Method::GET, "/v1/me", None, None)
        .await
        .expect_error(401, "unauthenticated");
    env.get("/v1/me", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await
        .expect_error(401, "unauthenticated");
    let r = env
        .http
        .get(format!("{}/v1/me", env.base))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn logout_revokes_the_token_at_once() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("jack").await;
    let r = env
        .call(Method::POST, "/v1/logout", Some(&token), None)
        .await;
    assert_eq!(r.status, 204);
    env.get("/v1/me", &token)
        .await
        .expect_error(401, "unauthenticated");
    env.call(Method::POST, "/v1/logout", Some(&token), None)
        .await
        .expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn sessions_expire_after_twelve_hours() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("kate").await;
    // Used every 50 minutes, so the idle timeout never ends it first.
    for _ in 0..14 {
        env.clock.advance_secs(50 * 60);
        env.get("/v1/me", &token).await.expect(200);
    }
    env.clock.advance_secs(12 * 3600 - 14 * 50 * 60 - 1);
    env.get("/v1/me", &token).await.expect(200);
    env.clock.advance_secs(1);
    env.get("/v1/me", &token)
        .await
        .expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn a_setup_session_reaches_only_the_setup_routes() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("liam").await;
    env.get("/v1/me", &token).await.expect(200);
    env.get("/v1/mfa", &token).await.expect(200);
    let forbidden = [
        (Method::GET, "/v1/mfa/events", None),
        (Method::POST, "/v1/mfa/recovery-codes", None),
        (
            Method::PUT,
            "/v1/mfa/settings",
            Some(json!({"mfa_enabled": false, "password": "x"})),
        ),
        (
            Method::PATCH,
            "/v1/mfa/devices/abc",
            Some(json!({"name": "x"})),
        ),
        (
            Method::DELETE,
            "/v1/mfa/devices/abc",
            Some(json!({"password": "x"})),
        ),
    ];
    for (method, path, body) in forbidden {
        env.call(method, path, Some(&token), body)
            .await
            .expect_error(403, "mfa_setup_required");
    }
    // The registration flows are open to it.
    env.post_auth("/v1/mfa/totp", &token, json!({}))
        .await
        .expect(200);
    let r = env
        .call(Method::POST, "/v1/logout", Some(&token), None)
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn answers_are_never_cached_and_unknown_api_paths_are_json_404() {
    let env = TestEnv::start().await;
    let r = env
        .post("/v1/login", json!({"username": "x", "password": "y"}))
        .await;
    assert_eq!(r.headers["cache-control"], "no-store");
    assert_eq!(r.headers["content-type"], "application/json");
    env.call(Method::GET, "/v1/nope", None, None)
        .await
        .expect_error(404, "not_found");
}
