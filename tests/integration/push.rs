//! Push authentication end to end: the real `push-agent` process, enrolled through the
//! registration URI, receiving login pushes as SNS HTTP deliveries from moto, and
//! answering the in-process dev server.
//!
//! The agent binary must be built first (`cargo build -p push-agent`; scripts/test does).
//! It checks `expires_at` against its own wall clock, so these tests start the server's
//! manual clock at the real time ([`TestEnv::start_at`]).

use crate::support::{Response, TestEnv, PASSWORD};
use aws_sdk_sns::types::MessageAttributeValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use latchkey::clock::{Clock, SystemClock};
use latchkey::records::{self, MfaLogin, Profile, Push, PushStatus};
use latchkey::store::{Expect, Item, Key, Store, StoreError, Write, MAX_GET_MANY};
use push_agent::crypto::{answer_message, enroll_message, system_random, Decision, DeviceKey};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// The agent process

fn agent_binary() -> PathBuf {
    let path = crate::support::workspace_binary("push-agent");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p push-agent` first",
        path.display()
    );
    path
}

/// How long to wait for the agent (it shares two cores with compilers in CI).
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `push-agent`, enrolled; killed (by its pid) on drop.
pub(crate) struct Agent {
    child: Child,
    state: PathBuf,
    /// The agent's state and output: private (0700), removed on drop.
    pub(crate) dir: tempfile::TempDir,
    endpoint: String,
    pub(crate) device_id: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Agent {
    /// `push-agent enroll <uri>`, running on after enrolling, as a user would start it.
    pub(crate) async fn enroll(uri: &str, name: Option<&str>) -> Agent {
        let dir = tempfile::Builder::new()
            .prefix("latchkey-push-")
            .tempdir()
            .unwrap();
        let state = dir.path().join("agent").join("state.json");
        let port = free_port();
        let endpoint = format!("http://127.0.0.1:{port}/");
        let mut command = Command::new(agent_binary());
        command
            .arg("enroll")
            .arg(uri)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--public-url", &endpoint])
            .arg("--state")
            .arg(&state)
            .args(["--control", "127.0.0.1:0"])
            .args(["--insecure-skip-sns-signature", "--no-prompt"])
            .env_remove("LATCHKEY_PUSH_STATE")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
        if let Some(name) = name {
            command.args(["--name", name]);
        }
        let child = command.spawn().expect("start push-agent");
        let mut agent = Agent {
            child,
            state,
            dir,
            endpoint,
            device_id: String::new(),
        };
        // It prints the device id once enrolled and listening.
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::time::Instant::now() < deadline {
            let out = std::fs::read_to_string(agent.dir.path().join("stdout")).unwrap_or_default();
            if let Some(line) = out.lines().next().filter(|_| out.ends_with('\n')) {
                agent.device_id = line.trim().to_owned();
                return agent;
            }
            if let Some(status) = agent.child.try_wait().unwrap() {
                panic!("push-agent enroll exited with {status}: {}", agent.log());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("push-agent did not enroll in time: {}", agent.log());
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    pub(crate) async fn cli(&self, args: &[&str]) -> Output {
        let mut command = Command::new(agent_binary());
        command
            .args(args)
            .arg("--state")
            .arg(&self.state)
            .env_remove("LATCHKEY_PUSH_STATE")
            .stdin(Stdio::null());
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    /// `push-agent pending`: one JSON object per pending push.
    async fn pending(&self) -> Vec<Value> {
        self.json_lines("pending").await
    }

    /// A listing command's output, one JSON object a line.
    pub(crate) async fn json_lines(&self, command: &str) -> Vec<Value> {
        let out = self.cli(&[command]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    async fn pending_ids(&self) -> Vec<String> {
        self.pending()
            .await
            .iter()
            .map(|p| p["push_id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits until the push shows up in `pending` (deliveries are processed after the
    /// agent has answered SNS).
    async fn wait_for(&self, push_id: &str) -> Value {
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::time::Instant::now() < deadline {
            if let Some(p) = self
                .pending()
                .await
                .into_iter()
                .find(|p| p["push_id"] == push_id)
            {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("push {push_id} never reached the agent: {}", self.log());
    }

    /// `approve` / `deny`: Ok(the server's verdict) or Err(the agent's error message).
    async fn answer(&self, args: &[&str]) -> Result<String, String> {
        let out = self.cli(args).await;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    async fn approve(&self, push_id: &str, number: &str) -> Result<String, String> {
        self.answer(&["approve", push_id, "--number", number]).await
    }

    async fn deny(&self, push_id: &str) -> Result<String, String> {
        self.answer(&["deny", push_id]).await
    }

    /// The device key, read from the agent's state file (to forge nothing but a second
    /// or concurrent answer from the same device).
    pub(crate) fn key(&self) -> DeviceKey {
        let state = push_agent::state::load(&self.state).unwrap();
        state.device_key(&self.state, &system_random()).unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// Server-side helpers

pub(crate) async fn push_env() -> TestEnv {
    TestEnv::start_at(SystemClock.now(), &[]).await
}

/// A new user with a push device (the agent), and their session (full since enrolling).
pub(crate) async fn user_with_agent(env: &TestEnv, username: &str) -> (String, Agent) {
    let token = env.signup_and_login(username).await;
    let start = env
        .post_auth("/v1/mfa/push", &token, json!({}))
        .await
        .expect(200);
    let agent = Agent::enroll(start.body["registration_uri"].as_str().unwrap(), None).await;
    (token, agent)
}

pub(crate) async fn mfa_token(env: &TestEnv, username: &str) -> String {
    let r = env.login(username, PASSWORD).await.expect(200);
    assert_eq!(r.body["status"], "mfa_required", "{}", r.body);
    r.body["mfa_token"].as_str().unwrap().to_owned()
}

struct SentPush {
    push_id: String,
    number: String,
}

async fn send_push(env: &TestEnv, mfa_token: &str) -> SentPush {
    let r = env
        .post("/v1/login/push", json!({ "mfa_token": mfa_token }))
        .await
        .expect(202);
    SentPush {
        push_id: r.body["push_id"].as_str().unwrap().to_owned(),
        number: r.body["number"].as_str().unwrap().to_owned(),
    }
}

async fn status(env: &TestEnv, mfa_token: &str, push_id: &str) -> Response {
    env.post(
        "/v1/login/push/status",
        json!({ "mfa_token": mfa_token, "push_id": push_id }),
    )
    .await
}

async fn stored_push(env: &TestEnv, push_id: &str) -> Push {
    records::load::<Push>(env.app.store.as_ref(), &records::push_key(push_id))
        .await
        .unwrap()
        .expect("push record")
        .value
}

pub(crate) async fn stored_profile(env: &TestEnv, username: &str) -> Profile {
    records::load::<Profile>(env.app.store.as_ref(), &records::profile_key(username))
        .await
        .unwrap()
        .unwrap()
        .value
}

async fn stored_login(env: &TestEnv, mfa_token: &str) -> Option<MfaLogin> {
    let hash = latchkey::domain::sha256_hex(mfa_token.as_bytes());
    records::load::<MfaLogin>(env.app.store.as_ref(), &records::mfa_key(&hash))
        .await
        .unwrap()
        .map(|s| s.value)
}

/// A device answer signed with `key`, as the agent would send it.
async fn respond(
    env: &TestEnv,
    key: &DeviceKey,
    device_id: &str,
    push: &Push,
    decision: Decision,
    number: Option<&str>,
) -> Response {
    let message = answer_message(&push.push_id, &push.challenge, decision, number);
    let signature = key.sign(&system_random(), message.as_bytes()).unwrap();
    let mut body = json!({
        "push_id": push.push_id,
        "device_id": device_id,
        "decision": decision.as_str(),
        "signature": signature,
    });
    if let Some(number) = number {
        body["number"] = json!(number);
    }
    env.post("/v1/push/respond", body).await
}

fn wrong(number: &str) -> String {
    number
        .bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
        .collect()
}

pub(crate) async fn events(env: &TestEnv, token: &str) -> Vec<Value> {
    env.get("/v1/mfa/events", token).await.expect(200).body["events"]
        .as_array()
        .unwrap()
        .clone()
}

/// A login push Message signed by `keys`, published straight to the topic for `device_id`.
async fn publish_direct(
    env: &TestEnv,
    keys: &latchkey::keys::Keys,
    device_id: &str,
    push_id: &str,
) {
    let now = SystemClock.now();
    let payload = json!({
        "v": 1, "type": "login", "push_id": push_id,
        "challenge": URL_SAFE_NO_PAD.encode([7u8; 32]), "device_id": device_id,
        "username": "mallory", "issuer": "Latchkey", "ip": "203.0.113.9",
        "user_agent": "curl", "created_at": now.rfc3339(),
        "expires_at": now.plus_secs(120).rfc3339(),
        "respond_url": format!("{}/v1/push/respond", env.base),
    })
    .to_string();
    let message = json!({
        "payload": payload,
        "signature": URL_SAFE_NO_PAD.encode(keys.push_sign(payload.as_bytes()).unwrap()),
    });
    publish_raw(env, device_id, &message.to_string()).await;
}

async fn publish_raw(env: &TestEnv, device_id: &str, message: &str) {
    aws_sdk_sns::Client::new(&env.sdk)
        .publish()
        .topic_arn(&env.topic_arn)
        .message(message)
        .message_attributes(
            "device_id",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(device_id)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("publish to moto");
}

// ---------------------------------------------------------------------------------------
// Enrollment

#[tokio::test]
async fn enrolling_through_the_registration_uri_adds_the_device_and_upgrades_the_session() {
    let env = push_env().await;
    let token = env.signup_and_login("alice").await;
    let before = env.get("/v1/mfa", &token).await.expect(200);
    assert_eq!(
        before.body["methods"][2],
        json!({"type": "push", "registered": 0, "max": 1})
    );

    let start = env
        .post_auth("/v1/mfa/push", &token, json!({ "name": "from the page" }))
        .await
        .expect(200);
    let uri = start.body["registration_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("latchkey-push://enroll?api=http%3A%2F%2F127.0.0.1%3A"),
        "{uri}"
    );
    assert!(start.body["qr_svg"].as_str().unwrap().contains("<svg"));
    assert_eq!(
        start.body["expires_at"],
        env.clock.now().plus_secs(600).rfc3339()
    );
    // The agent's own parser reads back what the server meant.
    let parsed = push_agent::uri::parse(uri).unwrap();
    assert_eq!(parsed.api.as_str(), format!("{}/", env.base));
    assert_eq!(parsed.registration_id, start.body["registration_id"]);
    assert_eq!(parsed.username, "alice");
    assert_eq!(parsed.issuer, "Latchkey");
    assert_eq!(
        parsed.server_key.to_vec(),
        env.app.keys().unwrap().push_public_key().unwrap()
    );
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(parsed.secret.expose())
            .unwrap()
            .len(),
        32
    );

    let agent = Agent::enroll(uri, Some("ci agent")).await;
    // The agent kept the topic the server named: the only one it takes messages from.
    assert_eq!(
        push_agent::state::load(&agent.state)
            .unwrap()
            .topic_arn
            .as_deref(),
        Some(env.topic_arn.as_str())
    );

    // The setup session that started it is full now.
    let me = env.get("/v1/me", &token).await.expect(200);
    assert_eq!(me.body["scope"], "full");
    let mfa = env.get("/v1/mfa", &token).await.expect(200);
    assert_eq!(mfa.body["mfa_setup_required"], false);
    let devices = mfa.body["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["id"], agent.device_id.as_str());
    assert_eq!(devices[0]["type"], "push");
    assert_eq!(devices[0]["name"], "ci agent");
    assert_eq!(devices[0]["last_used_at"], Value::Null);
    assert_eq!(
        mfa.body["methods"][2],
        json!({"type": "push", "registered": 1, "max": 1})
    );
    assert_eq!(mfa.body["recovery_codes"]["remaining"], 10);
    let added = events(&env, &token).await;
    assert!(added
        .iter()
        .any(|e| e["type"] == "device_added" && e["device_id"] == agent.device_id.as_str()));

    // One push device per account; the registration is spent.
    env.reauthenticate(&token).await;
    env.post_auth("/v1/mfa/push", &token, json!({}))
        .await
        .expect_error(409, "method_limit_reached");
    let key = DeviceKey::generate(&system_random()).unwrap();
    env.post(
        "/v1/push/enroll",
        enroll_body(
            &parsed.registration_id,
            parsed.secret.expose(),
            &key,
            "http://127.0.0.1:9/",
        ),
    )
    .await
    .expect_error(409, "registration_used");

    let login = env.login("alice", PASSWORD).await.expect(200);
    assert_eq!(login.body["methods"], json!(["push", "recovery_code"]));
}

fn enroll_body(registration_id: &str, secret: &str, key: &DeviceKey, endpoint: &str) -> Value {
    let public_key = key.public_key_b64();
    let signature = key
        .sign(
            &system_random(),
            enroll_message(registration_id, &public_key).as_bytes(),
        )
        .unwrap();
    json!({
        "registration_id": registration_id,
        "secret": secret,
        "public_key": public_key,
        "endpoint": endpoint,
        "signature": signature,
    })
}

#[tokio::test]
async fn enrollment_checks_secret_signature_endpoint_and_expiry() {
    let env = push_env().await;
    let token = env.signup_and_login("bob").await;
    let key = DeviceKey::generate(&system_random()).unwrap();

    // Expired after ten minutes.
    let old = env
        .post_auth("/v1/mfa/push", &token, json!({}))
        .await
        .expect(200);
    let old = push_agent::uri::parse(old.body["registration_uri"].as_str().unwrap()).unwrap();
    env.clock.advance_secs(600);
    env.post(
        "/v1/push/enroll",
        enroll_body(
            &old.registration_id,
            old.secret.expose(),
            &key,
            "http://127.0.0.1:9/",
        ),
    )
    .await
    .expect_error(410, "expired");

    let start = env
        .post_auth("/v1/mfa/push", &token, json!({}))
        .await
        .expect(200);
    let reg = push_agent::uri::parse(start.body["registration_uri"].as_str().unwrap()).unwrap();
    let rid = reg.registration_id.as_str();
    let secret = reg.secret.expose();
    let endpoint = "http://127.0.0.1:9/";

    env.post(
        "/v1/push/enroll",
        enroll_body("AAAAAAAAAAAAAAAAAAAAAA", secret, &key, endpoint),
    )
    .await
    .expect_error(404, "not_found");
    let wrong_secret = URL_SAFE_NO_PAD.encode([1u8; 32]);
    env.post(
        "/v1/push/enroll",
        enroll_body(rid, &wrong_secret, &key, endpoint),
    )
    .await
    .expect_error(401, "invalid_credentials");

    // A signature by another key, or over another registration, does not do.
    let other = DeviceKey::generate(&system_random()).unwrap();
    let mut body = enroll_body(rid, secret, &key, endpoint);
    body["signature"] = enroll_body(rid, secret, &other, endpoint)["signature"].clone();
    env.post("/v1/push/enroll", body)
        .await
        .expect_error(401, "invalid_signature");
    let mut body = enroll_body(rid, secret, &key, endpoint);
    body["signature"] =
        enroll_body("another-registration", secret, &key, endpoint)["signature"].clone();
    env.post("/v1/push/enroll", body)
        .await
        .expect_error(401, "invalid_signature");

    for endpoint in [
        "http://push.example.com/sns",
        "ftp://127.0.0.1/",
        "not a url",
    ] {
        env.post("/v1/push/enroll", enroll_body(rid, secret, &key, endpoint))
            .await
            .expect_error(400, "invalid_request");
    }
    let mut body = enroll_body(rid, secret, &key, endpoint);
    body["public_key"] = json!(URL_SAFE_NO_PAD.encode([4u8; 33]));
    env.post("/v1/push/enroll", body)
        .await
        .expect_error(400, "invalid_request");
    let mut body = enroll_body(rid, secret, &key, endpoint);
    body["admin"] = json!(true);
    env.post("/v1/push/enroll", body)
        .await
        .expect_error(400, "invalid_request");
    // None of that spent the registration or added a device.
    let mfa = env.get("/v1/mfa", &token).await.expect(200);
    assert_eq!(mfa.body["devices"], json!([]));

    let r = env
        .post("/v1/push/enroll", enroll_body(rid, secret, &key, endpoint))
        .await
        .expect(201);
    assert_eq!(r.body.as_object().unwrap().len(), 2, "{}", r.body);
    // The agent accepts SNS messages from this topic only.
    assert_eq!(r.body["topic_arn"], env.topic_arn.as_str());
    let device_id = r.body["device_id"].as_str().unwrap();
    let mfa = env.get("/v1/mfa", &token).await.expect(200);
    assert_eq!(mfa.body["devices"][0]["id"], device_id);
    assert_eq!(mfa.body["devices"][0]["name"], "Push device");
}

#[tokio::test]
async fn a_push_that_cannot_be_published_is_503_and_leaves_nothing_pending() {
    let env = push_env().await;
    let token = env.signup_and_login("carol").await;
    let start = env
        .post_auth("/v1/mfa/push", &token, json!({}))
        .await
        .expect(200);
    let reg = push_agent::uri::parse(start.body["registration_uri"].as_str().unwrap()).unwrap();
    let key = DeviceKey::generate(&system_random()).unwrap();
    // Nothing listens there: moto's Publish fails when it cannot deliver.
    let endpoint = format!("http://127.0.0.1:{}/", free_port());
    env.post(
        "/v1/push/enroll",
        enroll_body(&reg.registration_id, reg.secret.expose(), &key, &endpoint),
    )
    .await
    .expect(201);

    let mfa = mfa_token(&env, "carol").await;
    let r = env
        .post("/v1/login/push", json!({ "mfa_token": mfa }))
        .await
        .expect_error(503, "unavailable");
    assert!(r.headers.contains_key("retry-after"));
    // The counters were given back: nothing reached the user.
    assert_eq!(stored_login(&env, &mfa).await.unwrap().pushes_sent, 0);
    assert!(stored_profile(&env, "carol").await.recent_pushes.is_empty());
}

// ---------------------------------------------------------------------------------------
// Login

#[tokio::test]
async fn approving_with_the_number_shown_logs_in_once() {
    let env = push_env().await;
    let (token, agent) = user_with_agent(&env, "dave").await;
    let mfa = mfa_token(&env, "dave").await;

    let r = env
        .http
        .post(format!("{}/v1/login/push", env.base))
        .header("user-agent", "Mozilla/5.0 Firefox/140.0")
        .json(&json!({ "mfa_token": mfa }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let sent: Value = r.json().await.unwrap();
    let push_id = sent["push_id"].as_str().unwrap();
    let number = sent["number"].as_str().unwrap();
    assert_eq!(number.len(), 6);
    assert!(number.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(sent["expires_at"], env.clock.now().plus_secs(120).rfc3339());
    assert_eq!(
        status(&env, &mfa, push_id).await.expect(200).body["status"],
        "pending"
    );

    let shown = agent.wait_for(push_id).await;
    assert_eq!(shown["username"], "dave");
    assert_eq!(shown["issuer"], "Latchkey");
    assert_eq!(shown["ip"], "127.0.0.1");
    assert_eq!(shown["user_agent"], "Mozilla/5.0 Firefox/140.0");
    assert_eq!(shown["expires_at"], sent["expires_at"]);

    assert_eq!(agent.approve(push_id, number).await.unwrap(), "approved");
    assert_eq!(
        stored_push(&env, push_id).await.status,
        PushStatus::Approved
    );

    let done = status(&env, &mfa, push_id).await.expect(200);
    assert_eq!(done.body["status"], "authenticated");
    assert_eq!(done.body["session"]["scope"], "full");
    let session = done.body["session"]["token"].as_str().unwrap();
    assert_eq!(
        env.get("/v1/me", session).await.expect(200).body["scope"],
        "full"
    );
    // Handed out once: the mfa_token is spent.
    status(&env, &mfa, push_id)
        .await
        .expect_error(401, "invalid_mfa_token");

    let mfa_view = env.get("/v1/mfa", &token).await.expect(200);
    assert_ne!(mfa_view.body["devices"][0]["last_used_at"], Value::Null);
    assert!(events(&env, &token)
        .await
        .iter()
        .any(|e| e["type"] == "login_succeeded" && e["device_id"] == agent.device_id.as_str()));
}

#[tokio::test]
async fn a_wrong_number_is_denied_and_counts_as_a_wrong_second_factor() {
    let env = push_env().await;
    let (token, agent) = user_with_agent(&env, "erin").await;
    let mfa = mfa_token(&env, "erin").await;
    let push = send_push(&env, &mfa).await;
    agent.wait_for(&push.push_id).await;

    assert_eq!(
        agent
            .approve(&push.push_id, &wrong(&push.number))
            .await
            .unwrap(),
        "denied"
    );
    assert_eq!(
        status(&env, &mfa, &push.push_id).await.expect(200).body["status"],
        "denied"
    );
    assert_eq!(stored_login(&env, &mfa).await.unwrap().failures, 1);
    assert_eq!(stored_profile(&env, "erin").await.failed_attempts, 1);
    let log = events(&env, &token).await;
    assert!(log.iter().any(|e| e["type"] == "push_denied"
        && e["detail"] == "wrong number"
        && e["device_id"] == agent.device_id.as_str()));

    // The login goes on: a new push, the right number, and the count is cleared.
    let again = send_push(&env, &mfa).await;
    agent.wait_for(&again.push_id).await;
    assert_eq!(
        agent.approve(&again.push_id, &again.number).await.unwrap(),
        "approved"
    );
    let done = status(&env, &mfa, &again.push_id).await.expect(200);
    assert_eq!(done.body["status"], "authenticated");
    assert_eq!(stored_profile(&env, "erin").await.failed_attempts, 0);
}

#[tokio::test]
async fn denying_on_the_device_is_recorded_but_not_counted() {
    let env = push_env().await;
    let (token, agent) = user_with_agent(&env, "frank").await;
    let mfa = mfa_token(&env, "frank").await;
    let push = send_push(&env, &mfa).await;
    agent.wait_for(&push.push_id).await;

    assert_eq!(agent.deny(&push.push_id).await.unwrap(), "denied");
    assert_eq!(
        status(&env, &mfa, &push.push_id).await.expect(200).body["status"],
        "denied"
    );
    assert_eq!(
        stored_push(&env, &push.push_id).await.status,
        PushStatus::Denied
    );
    assert_eq!(stored_login(&env, &mfa).await.unwrap().failures, 0);
    assert_eq!(stored_profile(&env, "frank").await.failed_attempts, 0);
    assert!(events(&env, &token)
        .await
        .iter()
        .any(|e| e["type"] == "push_denied" && e["detail"] == "denied on the device"));
    // A denied push is answered: the agent no longer lists it.
    assert!(!agent.pending_ids().await.contains(&push.push_id));
}

#[tokio::test]
async fn an_unanswered_push_expires_after_120_seconds() {
    let env = push_env().await;
    let (_token, agent) = user_with_agent(&env, "gina").await;
    let mfa = mfa_token(&env, "gina").await;
    let push = send_push(&env, &mfa).await;
    agent.wait_for(&push.push_id).await;

    env.clock.advance_secs(119);
    assert_eq!(
        status(&env, &mfa, &push.push_id).await.expect(200).body["status"],
        "pending"
    );
    env.clock.advance_secs(1);
    assert_eq!(
        status(&env, &mfa, &push.push_id).await.expect(200).body["status"],
        "expired"
    );
    // The agent's own clock has not got there; the server refuses the late answer.
    let refused = agent
        .approve(&push.push_id, &push.number)
        .await
        .unwrap_err();
    assert!(
        refused.contains("expired") && refused.contains("410"),
        "{refused}"
    );
    assert_eq!(
        status(&env, &mfa, &push.push_id).await.expect(200).body["status"],
        "expired"
    );
    assert_eq!(
        stored_push(&env, &push.push_id).await.status,
        PushStatus::Pending
    );
}

#[tokio::test]
async fn forged_and_second_answers_are_refused() {
    let env = push_env().await;
    let (_token, agent) = user_with_agent(&env, "hank").await;
    let mfa = mfa_token(&env, "hank").await;
    let sent = send_push(&env, &mfa).await;
    agent.wait_for(&sent.push_id).await;
    let push = stored_push(&env, &sent.push_id).await;

    // Signed by a key that is not the device's.
    let forger = DeviceKey::generate(&system_random()).unwrap();
    respond(
        &env,
        &forger,
        &agent.device_id,
        &push,
        Decision::Approve,
        Some(&sent.number),
    )
    .await
    .expect_error(401, "invalid_signature");
    // The device's signature over other values (another number than the one sent).
    let key = agent.key();
    let mut body = json!({
        "push_id": push.push_id, "device_id": agent.device_id, "decision": "approve",
        "number": sent.number,
        "signature": key.sign(&system_random(), answer_message(&push.push_id, &push.challenge, Decision::Approve, Some("000000")).as_bytes()).unwrap(),
    });
    env.post("/v1/push/respond", body.clone())
        .await
        .expect_error(401, "invalid_signature");
    body["signature"] = json!("not base64url!");
    env.post("/v1/push/respond", body.clone())
        .await
        .expect_error(401, "invalid_signature");
    body["decision"] = json!("maybe");
    env.post("/v1/push/respond", body)
        .await
        .expect_error(400, "invalid_request");
    // Another device id, or an unknown push: not found.
    respond(
        &env,
        &key,
        "someone-else",
        &push,
        Decision::Approve,
        Some(&sent.number),
    )
    .await
    .expect_error(404, "not_found");
    let mut unknown = push.clone();
    unknown.push_id = "AAAAAAAAAAAAAAAAAAAAAA".into();
    respond(&env, &key, &agent.device_id, &unknown, Decision::Deny, None)
        .await
        .expect_error(404, "not_found");
    assert_eq!(
        status(&env, &mfa, &sent.push_id).await.expect(200).body["status"],
        "pending"
    );

    // The real answer wins; any later one is 409.
    assert_eq!(
        agent.approve(&sent.push_id, &sent.number).await.unwrap(),
        "approved"
    );
    respond(&env, &key, &agent.device_id, &push, Decision::Deny, None)
        .await
        .expect_error(409, "already_answered");
    respond(
        &env,
        &key,
        &agent.device_id,
        &push,
        Decision::Approve,
        Some(&sent.number),
    )
    .await
    .expect_error(409, "already_answered");
    assert_eq!(
        status(&env, &mfa, &sent.push_id).await.expect(200).body["status"],
        "authenticated"
    );
}

#[tokio::test]
async fn concurrent_answers_to_one_push_count_once() {
    let env = push_env().await;
    let (_token, agent) = user_with_agent(&env, "iris").await;
    let mfa = mfa_token(&env, "iris").await;
    let sent = send_push(&env, &mfa).await;
    agent.wait_for(&sent.push_id).await;
    let push = stored_push(&env, &sent.push_id).await;
    let key = agent.key();

    let answers = (0..12).map(|i| {
        let (decision, number) = match i % 3 {
            0 => (Decision::Approve, Some(sent.number.clone())),
            1 => (Decision::Approve, Some(wrong(&sent.number))),
            _ => (Decision::Deny, None),
        };
        let (env, key, device_id, push) = (&env, &key, &agent.device_id, &push);
        async move { respond(env, key, device_id, push, decision, number.as_deref()).await }
    });
    let results = futures::future::join_all(answers).await;
    let won: Vec<&Response> = results.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        results.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for r in results.iter().filter(|r| r.status != 200) {
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (409, "already_answered"),
            "{}",
            r.body
        );
    }
    let verdict = won[0].body["status"].as_str().unwrap();
    let stored = stored_push(&env, &sent.push_id).await;
    let login = stored_login(&env, &mfa).await.unwrap();
    match verdict {
        "approved" => {
            assert_eq!(stored.status, PushStatus::Approved);
            assert_eq!(login.failures, 0);
            let done = status(&env, &mfa, &sent.push_id).await.expect(200);
            assert_eq!(done.body["status"], "authenticated");
        }
        "denied" => {
            assert_eq!(stored.status, PushStatus::Denied);
            // At most the one wrong number counted.
            assert!(login.failures <= 1);
            assert_eq!(
                status(&env, &mfa, &sent.push_id).await.expect(200).body["status"],
                "denied"
            );
        }
        other => panic!("unexpected verdict {other}"),
    }
}

#[tokio::test]
async fn pushes_are_rate_limited_per_login_and_per_account() {
    let env = push_env().await;
    let (_token, _agent) = user_with_agent(&env, "jade").await;

    // Three per mfa_token...
    let first = mfa_token(&env, "jade").await;
    for _ in 0..3 {
        send_push(&env, &first).await;
    }
    let r = env
        .post("/v1/login/push", json!({ "mfa_token": first }))
        .await
        .expect_error(429, "too_many_attempts");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "{retry}");

    // ...and ten per account in 15 minutes.
    for _ in 0..2 {
        let token = mfa_token(&env, "jade").await;
        for _ in 0..3 {
            send_push(&env, &token).await;
        }
    }
    let last = mfa_token(&env, "jade").await;
    send_push(&env, &last).await;
    let r = env
        .post("/v1/login/push", json!({ "mfa_token": last }))
        .await
        .expect_error(429, "too_many_attempts");
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((890..=900).contains(&retry), "{retry}");
    assert_eq!(stored_profile(&env, "jade").await.recent_pushes.len(), 10);

    env.clock.advance_secs(15 * 60);
    let later = mfa_token(&env, "jade").await;
    send_push(&env, &later).await;
    // Old entries were pruned.
    assert_eq!(stored_profile(&env, "jade").await.recent_pushes.len(), 1);
}

#[tokio::test]
async fn status_is_private_to_its_login_and_a_push_needs_a_push_device() {
    let env = push_env().await;
    let (_token, agent) = user_with_agent(&env, "kim").await;
    let mine = mfa_token(&env, "kim").await;
    let other = mfa_token(&env, "kim").await;
    let sent = send_push(&env, &mine).await;
    status(&env, &other, &sent.push_id)
        .await
        .expect_error(404, "not_found");
    status(&env, &mine, "no-such-push")
        .await
        .expect_error(404, "not_found");
    status(&env, "not-a-token", &sent.push_id)
        .await
        .expect_error(401, "invalid_mfa_token");
    env.post("/v1/login/push", json!({ "mfa_token": "not-a-token" }))
        .await
        .expect_error(401, "invalid_mfa_token");
    // The token is judged before anything about the push, whatever the push id.
    let too_long = "x".repeat(129);
    status(&env, "not-a-token", "no-such-push")
        .await
        .expect_error(401, "invalid_mfa_token");
    status(&env, "not-a-token", &too_long)
        .await
        .expect_error(401, "invalid_mfa_token");
    status(&env, &mine, &too_long)
        .await
        .expect_error(404, "not_found");
    // Then the account lock, before the push is told.
    let key = records::profile_key("kim");
    let stored = records::load::<Profile>(env.app.store.as_ref(), &key)
        .await
        .unwrap()
        .unwrap();
    let mut locked = stored.value.clone();
    locked.locked_until = Some(env.clock.now().plus_secs(300).millis());
    env.app
        .store
        .write(vec![stored.replace(&locked).unwrap()])
        .await
        .unwrap();
    for push_id in [sent.push_id.as_str(), "no-such-push"] {
        let r = status(&env, &mine, push_id)
            .await
            .expect_error(429, "too_many_attempts");
        assert_eq!(r.headers["retry-after"], "300");
    }
    status(&env, "not-a-token", &sent.push_id)
        .await
        .expect_error(401, "invalid_mfa_token");
    drop(agent);

    // A user whose only device is an authenticator app.
    let token = env.signup_and_login("lou").await;
    env.add_totp(&token, json!({})).await;
    let mfa = mfa_token(&env, "lou").await;
    env.post("/v1/login/push", json!({ "mfa_token": mfa }))
        .await
        .expect_error(409, "method_not_registered");
}

/// The status poll reads its login and its push with one `get_many`: on DynamoDB that is
/// TransactGetItems, which must answer in the order asked, `None` where nothing is stored.
#[tokio::test]
async fn get_many_on_dynamodb_answers_in_key_order_with_none_for_missing_items() {
    let env = TestEnv::start().await;
    let store = latchkey::store::dynamo::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&env.sdk),
        env.table.clone(),
    );
    let item = |pk: &str, version: u64, ttl: Option<i64>| Item {
        key: Key::new(pk, "ITEM"),
        version,
        ttl,
        body: format!("{{\"pk\":\"{pk}\"}}"),
    };
    let (a, c) = (item("A", 1, None), item("C", 7, Some(1_900_000_000)));
    store
        .write(vec![
            Write::Put {
                item: a.clone(),
                expect: Expect::Absent,
            },
            Write::Put {
                item: c.clone(),
                expect: Expect::Absent,
            },
        ])
        .await
        .unwrap();

    let missing = Key::new("B", "ITEM");
    let got = store
        .get_many(&[c.key.clone(), missing.clone(), a.key.clone(), c.key.clone()])
        .await
        .unwrap();
    assert_eq!(
        got,
        [Some(c.clone()), None, Some(a.clone()), Some(c.clone())]
    );
    assert_eq!(
        store
            .get_many(std::slice::from_ref(&missing))
            .await
            .unwrap(),
        [None]
    );
    assert!(store.get_many(&[]).await.unwrap().is_empty());

    // DynamoDB takes 100 items per transaction, moto 5.2.5 still only the former 25: the
    // largest batch asked of moto is 25.
    let mut keys: Vec<Key> = (0..24).map(|n| Key::new(format!("N{n}"), "ITEM")).collect();
    keys.insert(12, a.key.clone());
    let got = store.get_many(&keys).await.unwrap();
    assert_eq!(got.len(), 25);
    assert_eq!(got[12], Some(a.clone()));
    assert_eq!(got.iter().filter(|i| i.is_some()).count(), 1);
    // More than 100 are refused before any request, not split.
    let mut too_many: Vec<Key> = (0..MAX_GET_MANY)
        .map(|n| Key::new(format!("N{n}"), "ITEM"))
        .collect();
    too_many.push(a.key.clone());
    assert_eq!(
        store.get_many(&too_many).await,
        Err(StoreError::TooManyKeys(MAX_GET_MANY + 1))
    );
}

// ---------------------------------------------------------------------------------------
// What reaches the agent

#[tokio::test]
async fn the_agent_drops_pushes_without_the_servers_signature() {
    let env = push_env().await;
    let (_token, agent) = user_with_agent(&env, "max").await;

    // Anyone who can publish to the topic: a bad signature, and another server's key.
    let payload = json!({"v": 1, "type": "login", "push_id": "forged-1"}).to_string();
    let forged = json!({ "payload": payload, "signature": URL_SAFE_NO_PAD.encode([0u8; 64]) });
    publish_raw(&env, &agent.device_id, &forged.to_string()).await;
    let impostor = latchkey::keys::Keys::derive(&[9u8; 32]).unwrap();
    publish_direct(&env, &impostor, &agent.device_id, "forged-2").await;
    // The control: the same message signed with the server's key gets through.
    publish_direct(&env, env.app.keys().unwrap(), &agent.device_id, "genuine").await;

    agent.wait_for("genuine").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(agent.pending_ids().await, vec!["genuine".to_owned()]);
    assert!(
        agent.log().contains("server signature does not verify"),
        "{}",
        agent.log()
    );
}

#[tokio::test]
async fn after_removing_the_device_nothing_reaches_the_agent() {
    let env = push_env().await;
    let (token, agent) = user_with_agent(&env, "ned").await;
    publish_direct(
        &env,
        env.app.keys().unwrap(),
        &agent.device_id,
        "before-removal",
    )
    .await;
    agent.wait_for("before-removal").await;

    let r = env
        .call(
            Method::DELETE,
            &format!("/v1/mfa/devices/{}", agent.device_id),
            Some(&token),
            Some(json!({ "password": PASSWORD })),
        )
        .await
        .expect(200);
    assert_eq!(r.body["mfa_setup_required"], true);

    let subscriptions = aws_sdk_sns::Client::new(&env.sdk)
        .list_subscriptions_by_topic()
        .topic_arn(&env.topic_arn)
        .send()
        .await
        .unwrap();
    assert!(
        subscriptions
            .subscriptions()
            .iter()
            .all(|s| s.endpoint() != Some(agent.endpoint.as_str())),
        "{subscriptions:?}"
    );
    publish_direct(
        &env,
        env.app.keys().unwrap(),
        &agent.device_id,
        "after-removal",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(agent.pending_ids().await, vec!["before-removal".to_owned()]);
    let login = env.login("ned", PASSWORD).await.expect(200);
    assert_eq!(login.body["status"], "mfa_setup_required");
}
