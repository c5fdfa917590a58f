//! Operator tooling on moto: the master secret read from Secrets Manager, and the
//! `latchkey-admin` commands (show, reset-mfa, unlock, revoke-sessions), both as
//! `latchkey::ops::admin` calls on the test's own app and through the real binary.
//!
//! The binary must be built first (`cargo build -p latchkey-functions --features admin --bin
//! latchkey-admin`; scripts/test does).

use crate::settings::{code_for, mfa_token, now_secs, user_with_totp};
use crate::support::{moto_endpoint, TestEnv, PASSWORD};
use latchkey::clock::{Clock, SystemClock};
use latchkey::config::MasterSecretSource;
use latchkey::ops::admin;
use latchkey::records::{self, SessionIndex};
use latchkey::{App, Config, Error};
use push_agent::crypto::{enroll_message, system_random, DeviceKey};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const OPERATOR: &str = "alice";

fn unique(prefix: &str) -> String {
    let random = latchkey::random::token::<9>(&latchkey::random::SystemRandom::new()).unwrap();
    format!("{prefix}-{}", random.replace(['-', '_'], "x"))
}

// ---------------------------------------------------------------------------------------
// Master secret from Secrets Manager

fn config_with(vars: &[(&str, &str)]) -> Config {
    let mut all = vec![
        ("LATCHKEY_AWS_ENDPOINT", moto_endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("LATCHKEY_TABLE", "unused".to_owned()),
        ("LATCHKEY_ARGON2_MEMORY_KIB", "256".to_owned()),
        ("LATCHKEY_ARGON2_ITERATIONS", "1".to_owned()),
    ];
    all.extend(vars.iter().map(|(k, v)| (*k, (*v).to_owned())));
    Config::from_lookup(|name| {
        all.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

/// Stores `value` as a new secret in moto; returns its ARN.
async fn put_secret(value: &str) -> String {
    let sdk =
        latchkey::app::aws_sdk_config(&config_with(&[("LATCHKEY_MASTER_SECRET", &"A".repeat(43))]))
            .await
            .unwrap();
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(unique("latchkey-master"))
        .secret_string(value)
        .send()
        .await
        .expect("create a secret in moto (moto[secretsmanager])")
        .arn()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_master_secret_comes_from_secrets_manager() {
    // What `GenerateSecretString` makes: 64 letters and digits (valid base64url, 48 bytes).
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let rng = latchkey::random::SystemRandom::new();
    let value: String = (0..64)
        .map(|_| alphabet[latchkey::random::below(&rng, 62).unwrap() as usize] as char)
        .collect();
    let arn = put_secret(&value).await;

    let config = config_with(&[("LATCHKEY_MASTER_SECRET_ARN", &arn)]);
    assert!(matches!(
        config.master_secret,
        MasterSecretSource::SecretsManager(_)
    ));
    let fetched = App::from_config(config).await.expect("app from the ARN");
    assert!(matches!(
        fetched.config.master_secret,
        MasterSecretSource::Inline(_)
    ));
    let inline = App::from_config(config_with(&[("LATCHKEY_MASTER_SECRET", &value)]))
        .await
        .unwrap();
    assert_eq!(
        fetched.keys().unwrap().push_public_key().unwrap(),
        inline.keys().unwrap().push_public_key().unwrap()
    );
    assert_eq!(
        fetched.keys().unwrap().recovery_code_hash("abcde"),
        inline.keys().unwrap().recovery_code_hash("abcde")
    );
    // A different secret derives different keys (the comparison above means something).
    let other = App::from_config(config_with(&[("LATCHKEY_MASTER_SECRET", &"B".repeat(64))]))
        .await
        .unwrap();
    assert_ne!(
        fetched.keys().unwrap().push_public_key().unwrap(),
        other.keys().unwrap().push_public_key().unwrap()
    );
}

#[tokio::test]
async fn a_missing_or_malformed_master_secret_stops_the_start() {
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret-AbCdEf";
    let r = App::from_config(config_with(&[("LATCHKEY_MASTER_SECRET_ARN", missing)])).await;
    assert!(matches!(r, Err(Error::Unavailable)), "{:?}", r.err());

    for bad in ["tooshort", "not base64url: spaces and !!!"] {
        let arn = put_secret(bad).await;
        let r = App::from_config(config_with(&[("LATCHKEY_MASTER_SECRET_ARN", &arn)])).await;
        assert!(matches!(r, Err(Error::Unavailable)), "{:?}", r.err());
    }
}

/// A function whose route derives no key never asks Secrets Manager (its role may not), so
/// even a secret that does not exist does not stop it; one that derives keys stops at start.
#[tokio::test]
async fn only_functions_that_derive_keys_read_the_master_secret() {
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret-AbCdEf";
    for route in latchkey::ROUTES {
        let config = config_with(&[("LATCHKEY_MASTER_SECRET_ARN", missing)]);
        let app = App::for_function(config, route.needs()).await;
        if route.keys {
            assert!(
                matches!(app, Err(Error::Unavailable)),
                "{} derives keys",
                route.function
            );
        } else {
            let app = app.unwrap_or_else(|e| panic!("{}: {e:?}", route.function));
            assert!(app.keys().is_err(), "{}", route.function);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

async fn me_status(env: &TestEnv, token: &str) -> u16 {
    env.get("/v1/me", token).await.status.as_u16()
}

async fn admin_events(env: &TestEnv, username: &str) -> Vec<(String, Option<String>)> {
    admin::show(&env.app, username)
        .await
        .unwrap()
        .recent_events
        .into_iter()
        .map(|e| (e.kind, e.detail))
        .collect()
}

/// Starts a push registration with `token` and returns (registration id, secret).
pub async fn start_push(env: &TestEnv, token: &str) -> (String, String) {
    let start = env
        .post_auth("/v1/mfa/push", token, json!({ "password": PASSWORD }))
        .await
        .expect(200);
    let reg = push_agent::uri::parse(start.body["registration_uri"].as_str().unwrap()).unwrap();
    (reg.registration_id.clone(), reg.secret.expose().to_owned())
}

/// Enrolls a push device as the agent would (moto subscribes any http endpoint at once).
pub async fn enroll_push(
    env: &TestEnv,
    registration_id: &str,
    secret: &str,
) -> crate::support::Response {
    let key = DeviceKey::generate(&system_random()).unwrap();
    let public_key = key.public_key_b64();
    let signature = key
        .sign(
            &system_random(),
            enroll_message(registration_id, &public_key).as_bytes(),
        )
        .unwrap();
    env.post(
        "/v1/push/enroll",
        json!({
            "registration_id": registration_id,
            "secret": secret,
            "public_key": public_key,
            "endpoint": "http://127.0.0.1:9/",
            "signature": signature,
        }),
    )
    .await
}

pub async fn topic_subscriptions(env: &TestEnv) -> usize {
    aws_sdk_sns::Client::new(&env.sdk)
        .list_subscriptions_by_topic()
        .topic_arn(&env.topic_arn)
        .send()
        .await
        .unwrap()
        .subscriptions()
        .len()
}

async fn lock_out(env: &TestEnv, username: &str) {
    for _ in 0..10 {
        env.login(username, "wrong password!")
            .await
            .expect_error(401, "invalid_credentials");
    }
    env.login(username, PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
}

// ---------------------------------------------------------------------------------------
// The operations

#[tokio::test]
async fn show_describes_devices_codes_lock_sessions_and_events() {
    let env = TestEnv::start().await;
    let (_token, totp) = user_with_totp(&env, "dora").await;
    env.clock.advance_secs(1);
    env.login("dora", "wrong password!")
        .await
        .expect_error(401, "invalid_credentials");

    // Case does not matter, as at login.
    let state = admin::show(&env.app, "Dora").await.unwrap();
    assert_eq!(state.username, "dora");
    assert!(state.mfa_enabled);
    assert!(!state.mfa_setup_required);
    assert_eq!(state.devices.len(), 1);
    assert_eq!(state.devices[0].kind, "totp");
    assert_eq!(state.devices[0].id, totp.device["id"].as_str().unwrap());
    assert_eq!(state.devices[0].name, "Authenticator app");
    assert_eq!(state.devices[0].last_used_at, None);
    assert_eq!(state.recovery_codes.remaining, 10);
    assert_eq!(state.failed_attempts, 1);
    assert_eq!(state.locked_until, None);
    assert_eq!(state.active_sessions, 1);
    let kinds: Vec<&str> = state
        .recent_events
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds[0], "login_failed");
    assert!(kinds.contains(&"device_added"));

    // JSON for scripts carries the same, with no secret in it.
    let text = serde_json::to_string(&state).unwrap();
    assert!(!text.contains(&totp.secret), "{text}");
    for code in totp.recovery_codes.as_deref().unwrap() {
        assert!(!text.contains(code.as_str()));
    }

    // Reading changes nothing and records nothing.
    assert_eq!(admin_events(&env, "dora").await.len(), kinds.len());

    assert!(matches!(
        admin::show(&env.app, "nobody").await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        admin::show(&env.app, "x").await,
        Err(Error::InvalidUsername)
    ));
}

#[tokio::test]
async fn reset_mfa_removes_every_factor_and_session_and_requires_setup() {
    let env = TestEnv::start().await;
    let (first, totp) = user_with_totp(&env, "eve").await;
    // A push device too (its SNS subscription must go), and a second full session.
    let (rid, secret) = start_push(&env, &first).await;
    enroll_push(&env, &rid, &secret).await.expect(201);
    assert_eq!(topic_subscriptions(&env).await, 1);
    env.clock.advance_secs(30);
    let mfa = mfa_token(&env, "eve").await;
    let second = env
        .post(
            "/v1/login/totp",
            json!({ "mfa_token": mfa, "code": code_for(&totp.secret, now_secs(&env)) }),
        )
        .await
        .expect(200);
    let second = second.body["session"]["token"].as_str().unwrap().to_owned();
    // An unfinished login from before the reset must not finish after it.
    let pending = mfa_token(&env, "eve").await;

    let outcome = admin::reset_mfa(&env.app, "eve", OPERATOR).await.unwrap();
    assert_eq!(outcome.devices_removed, 2);
    assert_eq!(outcome.push_subscriptions_removed, 1);
    assert_eq!(outcome.recovery_codes_removed, 10);
    assert_eq!(outcome.sessions_revoked, 2);

    for token in [&first, &second] {
        env.get("/v1/me", token)
            .await
            .expect_error(401, "unauthenticated");
    }
    assert_eq!(topic_subscriptions(&env).await, 0);
    env.clock.advance_secs(30);
    env.post(
        "/v1/login/totp",
        json!({ "mfa_token": pending, "code": code_for(&totp.secret, now_secs(&env)) }),
    )
    .await
    .expect_error(409, "method_not_registered");
    let code = &totp.recovery_codes.as_ref().unwrap()[0];
    env.post(
        "/v1/login/recovery-code",
        json!({ "mfa_token": pending, "code": code }),
    )
    .await
    .expect_error(401, "invalid_code");

    // The next login is a setup session, and the user starts over with a first device.
    let login = env.login("eve", PASSWORD).await.expect(200);
    assert_eq!(login.body["status"], "mfa_setup_required");
    let setup = login.body["session"]["token"].as_str().unwrap();
    let mfa = env.get("/v1/mfa", setup).await.expect(200);
    assert_eq!(mfa.body["devices"], json!([]));
    assert_eq!(mfa.body["recovery_codes"]["remaining"], 0);

    let events = admin_events(&env, "eve").await;
    assert!(
        events.contains(&(
            "admin_action".to_owned(),
            Some("reset-mfa by alice".to_owned())
        )),
        "{events:?}"
    );
}

#[tokio::test]
async fn reset_mfa_turns_mfa_back_on_for_a_user_who_opted_out() {
    let env = TestEnv::start().await;
    let (token, _) = user_with_totp(&env, "finn").await;
    let r = env
        .call(
            Method::PUT,
            "/v1/mfa/settings",
            Some(&token),
            Some(json!({"mfa_enabled": false, "password": PASSWORD})),
        )
        .await
        .expect(200);
    assert_eq!(r.body["mfa_enabled"], false);
    admin::reset_mfa(&env.app, "finn", OPERATOR).await.unwrap();
    let login = env.login("finn", PASSWORD).await.expect(200);
    assert_eq!(login.body["status"], "mfa_setup_required");
    let state = admin::show(&env.app, "finn").await.unwrap();
    assert!(state.mfa_enabled && state.mfa_setup_required);
}

#[tokio::test]
async fn a_push_enrollment_started_before_a_reset_cannot_land_after_it() {
    let env = TestEnv::start().await;
    let (token, _) = user_with_totp(&env, "gwen").await;
    let (rid, secret) = start_push(&env, &token).await;
    admin::reset_mfa(&env.app, "gwen", OPERATOR).await.unwrap();
    enroll_push(&env, &rid, &secret)
        .await
        .expect_error(410, "expired");
    let state = admin::show(&env.app, "gwen").await.unwrap();
    assert!(state.devices.is_empty());
    // The failed enrollment's subscription was dropped again.
    assert_eq!(topic_subscriptions(&env).await, 0);

    // Logging out has the same effect on a registration it started.
    let setup = env.login("gwen", PASSWORD).await.expect(200);
    let setup = setup.body["session"]["token"].as_str().unwrap().to_owned();
    let (rid, secret) = start_push(&env, &setup).await;
    let r = env
        .call(Method::POST, "/v1/logout", Some(&setup), None)
        .await;
    assert_eq!(r.status, 204);
    enroll_push(&env, &rid, &secret)
        .await
        .expect_error(410, "expired");
}

#[tokio::test]
async fn unlock_lets_a_locked_out_user_log_in_at_once() {
    let env = TestEnv::start().await;
    env.signup("hana").await;
    lock_out(&env, "hana").await;
    assert!(admin::show(&env.app, "hana")
        .await
        .unwrap()
        .locked_until
        .is_some());

    let outcome = admin::unlock(&env.app, "hana", OPERATOR).await.unwrap();
    assert!(outcome.was_locked);
    let login = env.login("hana", PASSWORD).await.expect(200);
    assert_eq!(login.body["status"], "mfa_setup_required");

    // Unlocking clears a count short of the lock too.
    env.login("hana", "wrong password!")
        .await
        .expect_error(401, "invalid_credentials");
    let outcome = admin::unlock(&env.app, "hana", "bob").await.unwrap();
    assert!(!outcome.was_locked);
    assert_eq!(outcome.failed_attempts_cleared, 1);
    let state = admin::show(&env.app, "hana").await.unwrap();
    assert_eq!((state.failed_attempts, state.locked_until), (0, None));

    let events = admin_events(&env, "hana").await;
    for who in ["alice", "bob"] {
        assert!(events.contains(&("admin_action".to_owned(), Some(format!("unlock by {who}")))));
    }
    assert!(matches!(
        admin::unlock(&env.app, "nobody", OPERATOR).await,
        Err(Error::NotFound)
    ));
}

#[tokio::test]
async fn revoke_sessions_ends_every_session_and_logout_drops_its_index() {
    let env = TestEnv::start().await;
    env.signup("ivan").await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let r = env.login("ivan", PASSWORD).await.expect(200);
        tokens.push(r.body["session"]["token"].as_str().unwrap().to_owned());
    }
    // Each session has its index item under the user; logout removes both.
    let index =
        |token: &str| records::session_index_key("ivan", &latchkey::auth::token_hash(token));
    for token in &tokens {
        assert!(
            records::load::<SessionIndex>(env.app.store.as_ref(), &index(token))
                .await
                .unwrap()
                .is_some()
        );
    }
    let r = env
        .call(Method::POST, "/v1/logout", Some(&tokens[0]), None)
        .await;
    assert_eq!(r.status, 204);
    assert!(
        records::load::<SessionIndex>(env.app.store.as_ref(), &index(&tokens[0]))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        admin::show(&env.app, "ivan").await.unwrap().active_sessions,
        2
    );

    // Another user's sessions are not touched.
    let other = env.signup_and_login("jade").await;

    let outcome = admin::revoke_sessions(&env.app, "ivan", OPERATOR)
        .await
        .unwrap();
    assert_eq!(outcome.sessions_revoked, 2);
    for token in &tokens {
        assert_eq!(me_status(&env, token).await, 401);
    }
    assert_eq!(me_status(&env, &other).await, 200);
    assert_eq!(
        admin::show(&env.app, "ivan").await.unwrap().active_sessions,
        0
    );
    // Logging in again works as before.
    env.login("ivan", PASSWORD).await.expect(200);

    let events = admin_events(&env, "ivan").await;
    assert!(events.contains(&(
        "admin_action".to_owned(),
        Some("revoke-sessions by alice".to_owned())
    )));
    // With nothing to revoke it still records who tried.
    let again = admin::revoke_sessions(&env.app, "jade", "carol")
        .await
        .unwrap();
    assert_eq!(again.sessions_revoked, 1);
    let none = admin::revoke_sessions(&env.app, "jade", "carol")
        .await
        .unwrap();
    assert_eq!(none.sessions_revoked, 0);
    let jade = admin_events(&env, "jade").await;
    assert_eq!(
        jade.iter()
            .filter(|e| e.1.as_deref() == Some("revoke-sessions by carol"))
            .count(),
        2
    );
}

#[tokio::test]
async fn revoke_sessions_pages_through_many_sessions() {
    let env = TestEnv::start().await;
    env.signup("kai").await;
    let mut tokens = Vec::new();
    // More than one transaction's worth (25 per write).
    for _ in 0..30 {
        let r = env.login("kai", PASSWORD).await.expect(200);
        tokens.push(r.body["session"]["token"].as_str().unwrap().to_owned());
    }
    let outcome = admin::revoke_sessions(&env.app, "kai", OPERATOR)
        .await
        .unwrap();
    assert_eq!(outcome.sessions_revoked, 30);
    for token in [&tokens[0], &tokens[14], &tokens[29]] {
        assert_eq!(me_status(&env, token).await, 401);
    }
}

// ---------------------------------------------------------------------------------------
// The real binary

fn admin_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/latchkey-admin");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p latchkey-functions --features admin --bin latchkey-admin` first",
        path.display()
    );
    path
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs `latchkey-admin` as an operator would: its own process, configured only by the
/// environment, against the test's table in moto.
async fn run_admin(env: &TestEnv, args: &[&str]) -> Run {
    let mut command = Command::new(admin_binary());
    command
        .env_clear()
        .env("LATCHKEY_AWS_ENDPOINT", moto_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("LATCHKEY_TABLE", &env.table)
        .env("LATCHKEY_MASTER_SECRET", &env.master_secret)
        .env("LATCHKEY_PUSH_TOPIC_ARN", &env.topic_arn)
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run latchkey-admin");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[tokio::test]
async fn the_admin_binary_unlocks_revokes_resets_and_shows() {
    // The binary reads the real clock: the server's starts there too.
    let env = TestEnv::start_at(SystemClock.now(), &[]).await;
    let (first, _) = user_with_totp(&env, "lena").await;
    lock_out(&env, "lena").await;

    let op = ["--operator", "carol"];
    let shown = run_admin(&env, &[&op[..], &["--json", "show", "LENA"]].concat()).await;
    assert_eq!(shown.code, Some(0), "{}", shown.stderr);
    let state = shown.json();
    assert_eq!(state["username"], "lena");
    assert_eq!(state["devices"][0]["type"], "totp");
    assert_eq!(state["recovery_codes"]["remaining"], 10);
    assert!(state["locked_until"].is_string(), "{state}");
    assert_eq!(state["active_sessions"], 1);

    // Text output by default.
    let text = run_admin(&env, &[&op[..], &["show", "lena"]].concat()).await;
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("locked") && l.contains("until ")),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("totp"), "{}", text.stdout);

    let unlocked = run_admin(&env, &[&op[..], &["unlock", "lena"]].concat()).await;
    assert_eq!(unlocked.code, Some(0), "{}", unlocked.stderr);
    assert!(unlocked.stdout.contains("unlocked"), "{}", unlocked.stdout);
    env.login("lena", PASSWORD).await.expect(200);

    let revoked = run_admin(
        &env,
        &[&op[..], &["--json", "revoke-sessions", "lena"]].concat(),
    )
    .await;
    assert_eq!(revoked.code, Some(0), "{}", revoked.stderr);
    assert_eq!(revoked.json()["sessions_revoked"], 1);
    assert_eq!(me_status(&env, &first).await, 401);

    // The operator may come from the environment instead.
    let mut reset = Command::new(admin_binary());
    reset
        .env_clear()
        .env("LATCHKEY_AWS_ENDPOINT", moto_endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("LATCHKEY_TABLE", &env.table)
        .env("LATCHKEY_MASTER_SECRET", &env.master_secret)
        .env("LATCHKEY_PUSH_TOPIC_ARN", &env.topic_arn)
        .env("LATCHKEY_OPERATOR", "dave")
        .args(["--json", "reset-mfa", "lena"]);
    let output = tokio::task::spawn_blocking(move || reset.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["devices_removed"], 1);
    assert_eq!(outcome["recovery_codes_removed"], 10);
    let login = env.login("lena", PASSWORD).await.expect(200);
    assert_eq!(login.body["status"], "mfa_setup_required");

    let events = run_admin(&env, &[&op[..], &["--json", "show", "lena"]].concat())
        .await
        .json()["recent_events"]
        .clone();
    let details: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "admin_action")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "reset-mfa by dave",
            "revoke-sessions by carol",
            "unlock by carol"
        ]
    );
    // An operator's action came through no request: no address, no user agent.
    for event in events.as_array().unwrap() {
        if event["type"] == "admin_action" {
            let fields = event.as_object().unwrap();
            assert!(
                fields["ip"].is_null() && fields["user_agent"].is_null(),
                "{event}"
            );
        }
    }

    // Refusals: unknown user (1, a JSON error), no operator or no command (2).
    let unknown = run_admin(&env, &[&op[..], &["--json", "show", "nobody"]].concat()).await;
    assert_eq!(unknown.code, Some(1));
    assert_eq!(unknown.json()["error"]["code"], "not_found");
    let anonymous = run_admin(&env, &["unlock", "lena"]).await;
    assert_eq!(anonymous.code, Some(2));
    assert!(
        anonymous.stderr.contains("--operator"),
        "{}",
        anonymous.stderr
    );
    assert_eq!(run_admin(&env, &op).await.code, Some(2));
}
