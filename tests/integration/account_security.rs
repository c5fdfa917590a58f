//! The account's own security controls on moto: where it is signed in (list, sign one
//! out, sign out everywhere else), the idle timeout and the throttled last-seen write, the
//! password change, and where each event came from.

use crate::settings::user_with_totp;
use crate::support::{Response, TestEnv, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

const NEW_PASSWORD: &str = "a new and longer passphrase";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// A request with the given User-Agent and, optionally, an `X-Forwarded-For` the client
/// wrote itself.
async fn send(
    env: &TestEnv,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    user_agent: &str,
    forwarded_for: Option<&str>,
) -> Response {
    let mut headers = vec![("user-agent", user_agent)];
    if let Some(forwarded) = forwarded_for {
        headers.push(("x-forwarded-for", forwarded));
    }
    env.call_with_headers(method, path, token, body, &headers)
        .await
}

/// Signs in with the password alone (MFA off) from `user_agent`: a full session's token.
async fn login_from(env: &TestEnv, username: &str, password: &str, user_agent: &str) -> String {
    let r = send(
        env,
        Method::POST,
        "/v1/login",
        None,
        Some(json!({ "username": username, "password": password })),
        user_agent,
        None,
    )
    .await
    .expect(200);
    assert_eq!(r.body["status"], "authenticated", "{}", r.body);
    r.body["session"]["token"].as_str().unwrap().to_owned()
}

/// A user who opted out of MFA, so that every password login is a full session; the
/// token of the session that did it.
async fn user_without_mfa(env: &TestEnv, username: &str) -> String {
    let (token, _) = user_with_totp(env, username).await;
    env.call(
        Method::PUT,
        "/v1/mfa/settings",
        Some(&token),
        Some(json!({"mfa_enabled": false, "password": PASSWORD})),
    )
    .await
    .expect(200);
    token
}

async fn sessions(env: &TestEnv, token: &str) -> Vec<Value> {
    env.get("/v1/sessions", token).await.expect(200).body["sessions"]
        .as_array()
        .unwrap()
        .clone()
}

async fn revoke(env: &TestEnv, token: &str, id: &str) -> Response {
    env.call(
        Method::DELETE,
        &format!("/v1/sessions/{id}"),
        Some(token),
        None,
    )
    .await
}

async fn change_password(env: &TestEnv, token: &str, current: &str, new: &str) -> Response {
    env.call(
        Method::PUT,
        "/v1/password",
        Some(token),
        Some(json!({ "current_password": current, "new_password": new })),
    )
    .await
}

async fn events(env: &TestEnv, token: &str) -> Vec<Value> {
    env.get("/v1/mfa/events", token).await.expect(200).body["events"]
        .as_array()
        .unwrap()
        .clone()
}

async fn alive(env: &TestEnv, token: &str) -> bool {
    let r = env.get("/v1/me", token).await;
    match r.status.as_u16() {
        200 => true,
        401 => {
            assert_eq!(r.code(), "unauthenticated");
            false
        }
        other => panic!("GET /v1/me answered {other}: {}", r.body),
    }
}

#[tokio::test]
async fn sessions_are_listed_newest_first_with_where_they_came_from() {
    let env = TestEnv::start().await;
    let first = user_without_mfa(&env, "sara").await;
    env.clock.advance_secs(60);
    let firefox = login_from(&env, "sara", PASSWORD, FIREFOX).await;
    env.clock.advance_secs(60);
    let chrome = login_from(&env, "sara", PASSWORD, CHROME).await;
    // Another account's sessions are not this one's.
    user_without_mfa(&env, "tom").await;

    let list = sessions(&env, &chrome).await;
    assert_eq!(list.len(), 3, "{list:?}");
    let agents: Vec<&str> = list
        .iter()
        .map(|s| s["user_agent"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(agents[..2], [CHROME, FIREFOX]);
    let newest = &list[0];
    assert_eq!(
        newest,
        &json!({
            "id": newest["id"],
            "created_at": "2026-11-28T10:02:15Z",
            "last_seen_at": "2026-11-28T10:02:15Z",
            "expires_at": "2026-11-28T22:02:15Z",
            "scope": "full",
            "ip": "127.0.0.1",
            "user_agent": CHROME,
            "current": true,
        })
    );
    assert_eq!(list[1]["created_at"], "2026-11-28T10:01:15Z");
    assert_eq!(list[1]["current"], false);
    assert_eq!(list[2]["current"], false);
    let ids: Vec<&str> = list.iter().map(|s| s["id"].as_str().unwrap()).collect();
    for id in &ids {
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        // The id is not the token, nor any part of one, and cannot be used as one.
        for token in [&first, &firefox, &chrome] {
            assert!(!token.contains(id));
        }
        env.get("/v1/me", id)
            .await
            .expect_error(401, "unauthenticated");
    }
    // Through another session, that one is current.
    let seen_by_firefox = sessions(&env, &firefox).await;
    let current: Vec<&Value> = seen_by_firefox
        .iter()
        .filter(|s| s["current"] == true)
        .collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], ids[1]);
}

#[tokio::test]
async fn a_token_of_the_earlier_format_or_with_another_account_is_401() {
    let env = TestEnv::start().await;
    let token = user_without_mfa(&env, "uma").await;
    let other = user_without_mfa(&env, "victor").await;
    let (_, secret) = token.split_once('.').unwrap();
    let (victor, _) = other.split_once('.').unwrap();
    for bad in [
        secret.to_owned(),                    // the earlier format: the secret alone
        format!("{victor}.{secret}"),         // uma's secret under victor's account
        format!("!!!.{secret}"),              // an account that is not base64url
        format!("{}.{secret}x", &token[..4]), // a secret of the wrong length
    ] {
        env.get("/v1/me", &bad)
            .await
            .expect_error(401, "unauthenticated");
    }
    assert!(alive(&env, &token).await);
}

#[tokio::test]
async fn one_session_is_signed_out_by_its_id_and_only_within_its_account() {
    let env = TestEnv::start().await;
    let mine = user_without_mfa(&env, "wendy").await;
    let other = login_from(&env, "wendy", PASSWORD, FIREFOX).await;
    let stranger = user_without_mfa(&env, "xavier").await;
    let list = sessions(&env, &mine).await;
    let other_id = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mine_id = list.iter().find(|s| s["current"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stranger_id = sessions(&env, &stranger).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another account's session, a made-up id, a malformed one: 404, nothing ended.
    for id in [stranger_id.as_str(), &"0".repeat(32), "not-an-id"] {
        revoke(&env, &mine, id).await.expect_error(404, "not_found");
    }
    assert!(alive(&env, &stranger).await);

    let r = revoke(&env, &mine, &other_id).await;
    assert_eq!((r.status.as_u16(), &r.body), (204, &Value::Null));
    assert!(!alive(&env, &other).await);
    assert_eq!(sessions(&env, &mine).await.len(), 1);
    revoke(&env, &mine, &other_id)
        .await
        .expect_error(404, "not_found");
    let revoked: Vec<Value> = events(&env, &mine)
        .await
        .into_iter()
        .filter(|e| e["type"] == "session_revoked")
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["detail"], format!("session {other_id}"));

    // Its own: signed out at once.
    assert_eq!(revoke(&env, &mine, &mine_id).await.status, 204);
    assert!(!alive(&env, &mine).await);
    assert!(alive(&env, &stranger).await);
}

#[tokio::test]
async fn signing_out_everywhere_else_keeps_the_caller_only() {
    let env = TestEnv::start().await;
    let mine = user_without_mfa(&env, "yara").await;
    let a = login_from(&env, "yara", PASSWORD, FIREFOX).await;
    let b = login_from(&env, "yara", PASSWORD, CHROME).await;
    let stranger = user_without_mfa(&env, "zeno").await;
    env.clock.advance_secs(1);
    let r = env
        .call(
            Method::POST,
            "/v1/sessions/revoke-others",
            Some(&mine),
            None,
        )
        .await
        .expect(200);
    assert_eq!(r.body, json!({"revoked": 2}));
    assert!(!alive(&env, &a).await);
    assert!(!alive(&env, &b).await);
    assert!(alive(&env, &mine).await);
    assert!(alive(&env, &stranger).await);
    let list = sessions(&env, &mine).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["current"], true);
    let events = events(&env, &mine).await;
    assert_eq!(events[0]["type"], "session_revoked");
    assert_eq!(events[0]["detail"], "all other sessions (2)");
    // Nothing left to end; a body other than none or `{}` is refused.
    let r = env
        .post_auth("/v1/sessions/revoke-others", &mine, json!({}))
        .await
        .expect(200);
    assert_eq!(r.body, json!({"revoked": 0}));
    env.post_auth("/v1/sessions/revoke-others", &mine, json!({"all": true}))
        .await
        .expect_error(400, "invalid_request");
    // The account signs in again as usual.
    let again = login_from(&env, "yara", PASSWORD, FIREFOX).await;
    assert!(alive(&env, &again).await);
}

#[tokio::test]
async fn a_session_ends_after_an_hour_without_a_request() {
    let env = TestEnv::start().await;
    let token = user_without_mfa(&env, "abby").await;
    env.clock.advance_secs(3600 - 1);
    assert!(alive(&env, &token).await, "used within the hour");
    env.clock.advance_secs(3600 - 1);
    assert!(
        alive(&env, &token).await,
        "within an hour of its last request"
    );
    env.clock.advance_secs(3600);
    assert!(!alive(&env, &token).await, "idle for an hour");
    // Idle sessions are not listed either.
    let fresh = login_from(&env, "abby", PASSWORD, FIREFOX).await;
    assert_eq!(sessions(&env, &fresh).await.len(), 1);
}

#[tokio::test]
async fn the_idle_timeout_is_configurable() {
    let env = TestEnv::start_with(&[("LATCHKEY_SESSION_IDLE_SECONDS", "900")]).await;
    let token = user_without_mfa(&env, "bert").await;
    env.clock.advance_secs(899);
    assert!(alive(&env, &token).await);
    env.clock.advance_secs(900);
    assert!(!alive(&env, &token).await);
}

#[tokio::test]
async fn last_seen_is_written_at_most_every_five_minutes() {
    let env = TestEnv::start().await;
    let watcher = user_without_mfa(&env, "cleo").await;
    let used = login_from(&env, "cleo", PASSWORD, FIREFOX).await;
    let last_seen_of_used = || async {
        sessions(&env, &watcher)
            .await
            .into_iter()
            .find(|s| s["user_agent"] == FIREFOX)
            .unwrap()["last_seen_at"]
            .clone()
    };
    assert_eq!(last_seen_of_used().await, "2026-11-28T10:00:15Z");
    env.clock.advance_secs(5 * 60 - 1);
    assert!(alive(&env, &used).await);
    assert_eq!(
        last_seen_of_used().await,
        "2026-11-28T10:00:15Z",
        "a use within five minutes of the last write is not written"
    );
    env.clock.advance_secs(1);
    assert!(alive(&env, &used).await);
    assert_eq!(last_seen_of_used().await, "2026-11-28T10:05:15Z");
}

#[tokio::test]
async fn a_password_change_signs_out_every_other_session_and_keeps_the_caller() {
    let env = TestEnv::start().await;
    let mine = user_without_mfa(&env, "dora").await;
    let a = login_from(&env, "dora", PASSWORD, FIREFOX).await;
    let b = login_from(&env, "dora", PASSWORD, CHROME).await;
    let r = send(
        &env,
        Method::PUT,
        "/v1/password",
        Some(&mine),
        Some(json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD })),
        CHROME,
        None,
    )
    .await
    .expect(200);
    assert_eq!(r.body, json!({"revoked_sessions": 2}));
    assert!(!alive(&env, &a).await);
    assert!(!alive(&env, &b).await);
    assert!(alive(&env, &mine).await);
    assert_eq!(sessions(&env, &mine).await.len(), 1);
    env.login("dora", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    login_from(&env, "dora", NEW_PASSWORD, FIREFOX).await;
    let events = events(&env, &mine).await;
    let changed = events
        .iter()
        .find(|e| e["type"] == "password_changed")
        .expect("a password_changed event");
    assert_eq!(changed["ip"], "127.0.0.1");
    assert_eq!(changed["user_agent"], CHROME);
}

#[tokio::test]
async fn a_password_change_ends_logins_waiting_for_their_second_factor() {
    let env = TestEnv::start().await;
    let (token, totp) = user_with_totp(&env, "eden").await;
    let pending = crate::settings::mfa_token(&env, "eden").await;
    change_password(&env, &token, PASSWORD, NEW_PASSWORD)
        .await
        .expect(200);
    env.clock.advance_secs(30);
    let code = crate::settings::code_for(&totp.secret, crate::settings::now_secs(&env));
    env.post(
        "/v1/login/totp",
        json!({ "mfa_token": pending, "code": code }),
    )
    .await
    .expect_error(401, "invalid_mfa_token");
}

#[tokio::test]
async fn wrong_current_passwords_count_toward_the_lock() {
    let env = TestEnv::start().await;
    let token = user_without_mfa(&env, "finn").await;
    for _ in 0..10 {
        change_password(&env, &token, "not the password", NEW_PASSWORD)
            .await
            .expect_error(401, "invalid_credentials");
    }
    let r = change_password(&env, &token, PASSWORD, NEW_PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
    assert_eq!(r.headers["retry-after"], "900");
    env.login("finn", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
    let failed = events(&env, &token)
        .await
        .into_iter()
        .filter(|e| e["type"] == "login_failed")
        .count();
    assert_eq!(failed, 10);
    // Nothing changed: after the lock, the old password is still the one.
    env.clock.advance_secs(900);
    assert!(alive(&env, &token).await);
    login_from(&env, "finn", PASSWORD, FIREFOX).await;
}

#[tokio::test]
async fn a_weak_or_unchanged_new_password_is_refused_and_nothing_counts() {
    let env = TestEnv::start().await;
    let token = user_without_mfa(&env, "gwen").await;
    for weak in ["short", "GWEN", &"x".repeat(257)] {
        change_password(&env, &token, PASSWORD, weak)
            .await
            .expect_error(400, "weak_password");
        // Checked before the current password is judged: a wrong one is not counted.
        change_password(&env, &token, "wrong", weak)
            .await
            .expect_error(400, "weak_password");
    }
    change_password(&env, &token, PASSWORD, PASSWORD)
        .await
        .expect_error(409, "same_password");
    env.call(
        Method::PUT,
        "/v1/password",
        Some(&token),
        Some(json!({ "current_password": PASSWORD })),
    )
    .await
    .expect_error(400, "invalid_request");
    assert!(events(&env, &token)
        .await
        .iter()
        .all(|e| e["type"] != "login_failed" && e["type"] != "password_changed"));
    login_from(&env, "gwen", PASSWORD, FIREFOX).await;
}

#[tokio::test]
async fn events_carry_the_requests_address_and_user_agent_not_a_forwarded_for() {
    let env = TestEnv::start().await;
    let token = user_without_mfa(&env, "hugo").await;
    env.clock.advance_secs(1);
    send(
        &env,
        Method::POST,
        "/v1/login",
        None,
        Some(json!({ "username": "hugo", "password": "wrong password" })),
        FIREFOX,
        Some("203.0.113.7"),
    )
    .await
    .expect_error(401, "invalid_credentials");
    let list = events(&env, &token).await;
    assert_eq!(list[0]["type"], "login_failed");
    assert_eq!(
        list[0]["ip"], "127.0.0.1",
        "the client's own X-Forwarded-For is ignored"
    );
    assert_eq!(list[0]["user_agent"], FIREFOX);
    // Every event has both fields.
    for event in &list {
        let event = event.as_object().unwrap();
        assert!(event.contains_key("ip") && event.contains_key("user_agent"));
    }
    // The session made at that login records them too.
    send(
        &env,
        Method::POST,
        "/v1/login",
        None,
        Some(json!({ "username": "hugo", "password": PASSWORD })),
        CHROME,
        Some("203.0.113.7"),
    )
    .await
    .expect(200);
    let chrome = sessions(&env, &token)
        .await
        .into_iter()
        .find(|s| s["user_agent"] == CHROME)
        .unwrap();
    assert_eq!(chrome["ip"], "127.0.0.1");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_recorded() {
    let env = TestEnv::start_with(&[("LATCHKEY_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let token = user_without_mfa(&env, "iris").await;
    env.clock.advance_secs(1);
    send(
        &env,
        Method::POST,
        "/v1/login",
        None,
        Some(json!({ "username": "iris", "password": PASSWORD })),
        FIREFOX,
        Some("198.51.100.23, 203.0.113.7"),
    )
    .await
    .expect(200);
    let list = events(&env, &token).await;
    assert_eq!(list[0]["type"], "login_succeeded");
    assert_eq!(
        list[0]["ip"], "203.0.113.7",
        "the right-most address the trusted proxy saw, not what the client wrote first"
    );
}

#[tokio::test]
async fn a_setup_session_that_escaped_the_first_device_is_not_listed() {
    use latchkey::records::{self, Scope, SessionIndex};
    let env = TestEnv::start().await;
    let token = user_without_mfa(&env, "jade").await;
    // An index item of a setup session the first device's write did not end (only the
    // first 40 go in that write); authentication refuses such a session, the list hides it.
    let now = env.app.clock.now().millis();
    let escaped = SessionIndex {
        username: "jade".into(),
        token_hash: "0".repeat(64),
        expires_at: now + 3_600_000,
        scope: Some(Scope::Setup),
        created_at: now,
        last_seen_at: now,
        ip: None,
        user_agent: None,
        generation: 0,
    };
    env.app
        .store
        .write(vec![records::create(&escaped).unwrap()])
        .await
        .unwrap();
    let list = sessions(&env, &token).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["current"], true);
}
