//! Store and SNS round trips per route, pinned so they cannot silently grow.
//!
//! Every call through the store port is one DynamoDB request (`get` → GetItem, `get_many`
//! → TransactGetItems, `query_desc` → Query, `write` → PutItem/DeleteItem for one item or
//! TransactWriteItems for several) and every notifier call one SNS request, so counting at
//! the ports counts the requests a function makes, on moto, through the dev server, one
//! request at a time. A read by key counts as one request whether it fetches one item or
//! several; `batched` says how many of them were TransactGetItems.
//!
//! Authentication is part of a route's cost: every route behind a session reads the
//! session and the account's profile first, together (one strongly consistent
//! TransactGetItems: the token carries the account's key, so a logout takes effect at
//! once and the operation starts from the profile), then whatever else the operation
//! needs. A session used more than 5 minutes after its `last_seen_at` also writes it;
//! the pinned run never waits that long. The table is printed (`--nocapture`) and, with
//! `LATCHKEY_ROUND_TRIPS_JSON=<file>`, written as JSON for `scripts/bench`.

use crate::support::{Response, TestEnv, PASSWORD, START};
use latchkey::clock::Instant;
use latchkey::notify::{Notifier, NotifyError};
use latchkey::records::{self, Push};
use latchkey::store::{Item, Key, Store, StoreError, Write};
use push_agent::crypto::{answer_message, enroll_message, system_random, Decision, DeviceKey};
use serde_json::{json, Value};
use std::future::Future;
use std::io::{Read, Write as _};
use std::sync::{Arc, Mutex};
use totp_rs::{Algorithm, Secret, TOTP};

// webauthn.rs's soft authenticator, included here too rather than made public there.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "webauthn/authenticator.rs"]
mod authenticator;

/// Requests one route made. `get` counts reads by key (GetItem and TransactGetItems);
/// `batched` (how many of those were TransactGetItems) and `items` (items written: a
/// transaction's size, not a round trip) are informational and not pinned.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Calls {
    get: u32,
    batched: u32,
    query: u32,
    write: u32,
    items: u32,
    sns: u32,
}

impl Calls {
    fn minus(self, before: Calls) -> Calls {
        Calls {
            get: self.get - before.get,
            batched: self.batched - before.batched,
            query: self.query - before.query,
            write: self.write - before.write,
            items: self.items - before.items,
            sns: self.sns - before.sns,
        }
    }

    fn pinned(self) -> (u32, u32, u32, u32) {
        (self.get, self.query, self.write, self.sns)
    }
}

#[derive(Default)]
struct Counter(Mutex<Calls>);

impl Counter {
    fn add(&self, f: impl FnOnce(&mut Calls)) {
        f(&mut self.0.lock().unwrap());
    }
    fn now(&self) -> Calls {
        *self.0.lock().unwrap()
    }
}

struct CountingStore {
    inner: Arc<dyn Store>,
    counter: Arc<Counter>,
}

#[async_trait::async_trait]
impl Store for CountingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.counter.add(|c| c.get += 1);
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.counter.add(|c| {
            c.get += 1;
            c.batched += 1;
        });
        self.inner.get_many(keys).await
    }
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let items = writes.len() as u32;
        self.counter.add(|c| {
            c.write += 1;
            c.items += items;
        });
        self.inner.write(writes).await
    }
    async fn query_desc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.counter.add(|c| c.query += 1);
        self.inner.query_desc(pk, sk_prefix, limit).await
    }
}

struct CountingNotifier {
    inner: Arc<dyn Notifier>,
    counter: Arc<Counter>,
}

#[async_trait::async_trait]
impl Notifier for CountingNotifier {
    async fn publish(&self, device_id: &str, message: &str) -> Result<(), NotifyError> {
        self.counter.add(|c| c.sns += 1);
        self.inner.publish(device_id, message).await
    }
    async fn subscribe(&self, endpoint: &str, device_id: &str) -> Result<String, NotifyError> {
        self.counter.add(|c| c.sns += 1);
        self.inner.subscribe(endpoint, device_id).await
    }
    async fn unsubscribe(&self, subscription: &str) -> Result<(), NotifyError> {
        self.counter.add(|c| c.sns += 1);
        self.inner.unsubscribe(subscription).await
    }
}

/// (function, case, reads by key, Query, writes, SNS): the pinned table, in requests. A
/// change that adds a round trip must change this line and say why in docs/performance.md.
const PINNED: &[(&str, &str, u32, u32, u32, u32)] = &[
    ("create-account", "new account", 0, 0, 1, 0),
    ("login", "password, MFA setup pending", 1, 0, 1, 0),
    ("login", "wrong password", 1, 0, 1, 0),
    ("me", "setup session", 1, 0, 0, 0),
    ("get-mfa", "setup session", 1, 0, 0, 0),
    ("start-totp-registration", "first device", 1, 0, 1, 0),
    ("confirm-totp-registration", "first device", 2, 1, 1, 0),
    ("reauthenticate", "right password", 1, 0, 1, 0),
    ("list-events", "full session", 1, 1, 0, 0),
    ("rename-device", "totp", 1, 0, 1, 0),
    // The password's mark only: an unchanged setting writes nothing.
    ("update-mfa-settings", "unchanged", 1, 0, 1, 0),
    ("regenerate-recovery-codes", "password in body", 1, 0, 2, 0),
    (
        "regenerate-recovery-codes",
        "re-authenticated session",
        1,
        0,
        1,
        0,
    ),
    ("login", "password, MFA required", 1, 0, 1, 0),
    ("login-totp", "right code", 2, 0, 1, 0),
    ("login-totp", "wrong code", 2, 0, 1, 0),
    ("login-recovery-code", "right code", 2, 0, 1, 0),
    ("start-push-registration", "second device", 1, 0, 1, 0),
    ("push-enroll", "second device", 3, 0, 1, 1),
    ("login-push", "push sent", 2, 0, 1, 1),
    ("login-push-status", "pending", 2, 0, 0, 0),
    ("push-respond", "approve, right number", 2, 0, 1, 0),
    ("login-push-status", "approved", 2, 0, 1, 0),
    ("start-webauthn-registration", "first key", 1, 0, 1, 0),
    ("confirm-webauthn-registration", "first key", 2, 0, 1, 0),
    ("login-webauthn-start", "one key", 2, 0, 1, 0),
    ("login-webauthn-finish", "right key", 2, 0, 1, 0),
    ("login-passkey-start", "no account known", 0, 0, 1, 0),
    ("login-passkey-finish", "right passkey", 2, 0, 1, 0),
    // The notice's event, the profile and the report's mark in one read; the sessions
    // in one query; the report, its effects and the revocations in one write.
    ("push-report", "device_added notice", 1, 1, 1, 0),
    ("remove-device", "push device", 1, 0, 2, 1),
    ("me", "full session", 1, 0, 0, 0),
    ("get-mfa", "full session", 1, 0, 0, 0),
    ("list-sessions", "several sessions", 1, 1, 0, 0),
    ("revoke-session", "another session", 1, 0, 1, 0),
    ("revoke-other-sessions", "several sessions", 1, 1, 1, 0),
    ("change-password", "other sessions revoked", 1, 1, 1, 0),
    ("logout", "full session", 1, 0, 1, 0),
];

struct Row {
    function: &'static str,
    case: &'static str,
    calls: Calls,
}

pub struct Probe {
    counter: Arc<Counter>,
    rows: Vec<Row>,
}

impl Probe {
    /// Runs one request and records the store and SNS calls made while it ran.
    async fn run(
        &mut self,
        function: &'static str,
        case: &'static str,
        request: impl Future<Output = Response>,
    ) -> Response {
        let before = self.counter.now();
        let response = request.await;
        let calls = self.counter.now().minus(before);
        self.rows.push(Row {
            function,
            case,
            calls,
        });
        response
    }

    fn table(&self) -> String {
        let mut out = format!(
            "{:<30} {:<28} {:>4} {:>7} {:>5} {:>5} {:>5} {:>3}\n",
            "function", "case", "get", "batched", "query", "write", "items", "sns"
        );
        for row in &self.rows {
            let c = row.calls;
            out += &format!(
                "{:<30} {:<28} {:>4} {:>7} {:>5} {:>5} {:>5} {:>3}\n",
                row.function, row.case, c.get, c.batched, c.query, c.write, c.items, c.sns
            );
        }
        out
    }

    pub fn json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|row| {
                    json!({
                        "function": row.function,
                        "case": row.case,
                        "get": row.calls.get,
                        "batched": row.calls.batched,
                        "query": row.calls.query,
                        "write": row.calls.write,
                        "items": row.calls.items,
                        "sns": row.calls.sns,
                    })
                })
                .collect(),
        )
    }
}

/// An independent TOTP implementation (totp-rs) from the base32 secret the server showed.
fn totp_code(secret_base32: &str, unix_secs: i64) -> String {
    let bytes = Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .unwrap();
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new())
        .generate(unix_secs as u64)
}

/// An HTTP endpoint for SNS deliveries that answers 200 to everything: moto delivers
/// inside Publish and fails the Publish when the endpoint does not answer.
fn sns_sink() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut got = Vec::new();
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    url
}

fn text(r: &Response, pointer: &str) -> String {
    r.body
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} in {}", r.body))
        .to_owned()
}

#[tokio::test]
async fn round_trips_per_route_are_pinned() {
    let p = measure().await;
    let table = p.table();
    println!("{table}");
    if let Ok(path) = std::env::var("LATCHKEY_ROUND_TRIPS_JSON") {
        std::fs::write(&path, serde_json::to_string_pretty(&p.json()).unwrap()).unwrap();
    }

    for route in latchkey::ROUTES {
        assert!(
            p.rows.iter().any(|row| row.function == route.function),
            "{} has no pinned round trips: add it to round_trips.rs",
            route.function
        );
    }
    let measured: Vec<_> = p
        .rows
        .iter()
        .map(|row| (row.function, row.case, row.calls.pinned()))
        .collect();
    let pinned: Vec<_> = PINNED
        .iter()
        .map(|&(f, case, get, query, write, sns)| (f, case, (get, query, write, sns)))
        .collect();
    assert_eq!(
        measured, pinned,
        "round trips changed (get, query, write, sns):\n{table}"
    );
}

/// One user through every route on moto, counting each request's store and SNS calls. The
/// test above pins the result; `perf round-trips` (scripts/bench) prints it.
pub async fn measure() -> Probe {
    let counter = Arc::new(Counter::default());
    let wrapped = counter.clone();
    let env = TestEnv::start_wrapped(Instant::from_secs(START), &[], move |app| {
        app.store = Arc::new(CountingStore {
            inner: app.store.clone(),
            counter: wrapped.clone(),
        });
        app.notifier = Arc::new(CountingNotifier {
            inner: app.notifier.clone(),
            counter: wrapped,
        });
    })
    .await;
    let sink = sns_sink();
    let mut p = Probe {
        counter,
        rows: Vec::new(),
    };
    let user = "round-trips";
    let now = |env: &TestEnv| latchkey::clock::Clock::now(env.clock.as_ref()).secs();

    // Sign-up, the password step, a setup session.
    p.run(
        "create-account",
        "new account",
        env.post(
            "/v1/accounts",
            json!({ "username": user, "password": PASSWORD }),
        ),
    )
    .await
    .expect(201);
    let r = p
        .run(
            "login",
            "password, MFA setup pending",
            env.login(user, PASSWORD),
        )
        .await
        .expect(200);
    let token = text(&r, "/session/token");
    p.run("login", "wrong password", env.login(user, "wrong password"))
        .await
        .expect_error(401, "invalid_credentials");
    p.run("me", "setup session", env.get("/v1/me", &token))
        .await
        .expect(200);
    p.run("get-mfa", "setup session", env.get("/v1/mfa", &token))
        .await
        .expect(200);

    // The first device: an authenticator app. The session becomes full.
    let r = p
        .run(
            "start-totp-registration",
            "first device",
            env.post_auth("/v1/mfa/totp", &token, json!({})),
        )
        .await
        .expect(200);
    let secret = text(&r, "/secret");
    let r = p
        .run(
            "confirm-totp-registration",
            "first device",
            env.post_auth(
                "/v1/mfa/totp/confirm",
                &token,
                json!({
                    "registration_id": text(&r, "/registration_id"),
                    "code": totp_code(&secret, now(&env)),
                }),
            ),
        )
        .await
        .expect(201);
    let totp_device = text(&r, "/device/id");

    // Re-authentication: signing in does not count, so the settings below ask for it.
    p.run(
        "reauthenticate",
        "right password",
        env.post_auth(
            "/v1/session/reauthenticate",
            &token,
            json!({ "password": PASSWORD }),
        ),
    )
    .await
    .expect(200);

    // Settings.
    p.run(
        "list-events",
        "full session",
        env.get("/v1/mfa/events", &token),
    )
    .await
    .expect(200);
    p.run(
        "rename-device",
        "totp",
        env.call(
            reqwest::Method::PATCH,
            &format!("/v1/mfa/devices/{totp_device}"),
            Some(&token),
            Some(json!({ "name": "Phone" })),
        ),
    )
    .await
    .expect(200);
    p.run(
        "update-mfa-settings",
        "unchanged",
        env.call(
            reqwest::Method::PUT,
            "/v1/mfa/settings",
            Some(&token),
            Some(json!({ "mfa_enabled": true, "password": PASSWORD })),
        ),
    )
    .await
    .expect(200);
    p.run(
        "regenerate-recovery-codes",
        "password in body",
        env.post_auth(
            "/v1/mfa/recovery-codes",
            &token,
            json!({ "password": PASSWORD }),
        ),
    )
    .await
    .expect(200);
    let r = p
        .run(
            "regenerate-recovery-codes",
            "re-authenticated session",
            env.call(
                reqwest::Method::POST,
                "/v1/mfa/recovery-codes",
                Some(&token),
                None,
            ),
        )
        .await
        .expect(200);
    let recovery_code = text(&r, "/codes/0");

    // Second factors: TOTP (the confirming step is spent, so the next one), a wrong
    // code, a recovery code.
    let r = p
        .run("login", "password, MFA required", env.login(user, PASSWORD))
        .await
        .expect(200);
    let mfa = text(&r, "/mfa_token");
    env.clock.advance_secs(30);
    p.run(
        "login-totp",
        "right code",
        env.post(
            "/v1/login/totp",
            json!({ "mfa_token": mfa, "code": totp_code(&secret, now(&env)) }),
        ),
    )
    .await
    .expect(200);
    let mfa = text(&env.login(user, PASSWORD).await.expect(200), "/mfa_token");
    let wrong = if totp_code(&secret, now(&env)) == "000000" {
        "111111"
    } else {
        "000000"
    };
    p.run(
        "login-totp",
        "wrong code",
        env.post("/v1/login/totp", json!({ "mfa_token": mfa, "code": wrong })),
    )
    .await
    .expect_error(401, "invalid_code");
    p.run(
        "login-recovery-code",
        "right code",
        env.post(
            "/v1/login/recovery-code",
            json!({ "mfa_token": mfa, "code": recovery_code }),
        ),
    )
    .await
    .expect(200);

    // A push device, enrolled as the agent does, and a push login approved with the number.
    let r = p
        .run(
            "start-push-registration",
            "second device",
            env.post_auth("/v1/mfa/push", &token, json!({})),
        )
        .await
        .expect(200);
    let uri = push_agent::uri::parse(&text(&r, "/registration_uri")).unwrap();
    let key = DeviceKey::generate(&system_random()).unwrap();
    let public_key = key.public_key_b64();
    let signature = key
        .sign(
            &system_random(),
            enroll_message(&uri.registration_id, &public_key).as_bytes(),
        )
        .unwrap();
    let r = p
        .run(
            "push-enroll",
            "second device",
            env.post(
                "/v1/push/enroll",
                json!({
                    "registration_id": uri.registration_id,
                    "secret": uri.secret.expose(),
                    "public_key": public_key,
                    "endpoint": sink,
                    "signature": signature,
                }),
            ),
        )
        .await
        .expect(201);
    let push_device = text(&r, "/device_id");
    let mfa = text(&env.login(user, PASSWORD).await.expect(200), "/mfa_token");
    let r = p
        .run(
            "login-push",
            "push sent",
            env.post("/v1/login/push", json!({ "mfa_token": mfa })),
        )
        .await
        .expect(202);
    let (push_id, number) = (text(&r, "/push_id"), text(&r, "/number"));
    let status = json!({ "mfa_token": mfa, "push_id": push_id });
    let r = p
        .run(
            "login-push-status",
            "pending",
            env.post("/v1/login/push/status", status.clone()),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "pending");
    let push = records::load::<Push>(env.app.store.as_ref(), &records::push_key(&push_id))
        .await
        .unwrap()
        .unwrap()
        .value;
    let answer = answer_message(&push_id, &push.challenge, Decision::Approve, Some(&number));
    p.run(
        "push-respond",
        "approve, right number",
        env.post(
            "/v1/push/respond",
            json!({
                "push_id": push_id,
                "device_id": push_device,
                "decision": "approve",
                "number": number,
                "signature": key.sign(&system_random(), answer.as_bytes()).unwrap(),
            }),
        ),
    )
    .await
    .expect(200);
    let r = p
        .run(
            "login-push-status",
            "approved",
            env.post("/v1/login/push/status", status),
        )
        .await
        .expect(200);
    assert_eq!(r.body["status"], "authenticated");

    // A security key: registration, then a login with it.
    let mut key_holder =
        authenticator::SoftAuthenticator::new(&env.base.replace("127.0.0.1", "localhost"));
    let r = p
        .run(
            "start-webauthn-registration",
            "first key",
            env.post_auth("/v1/mfa/webauthn", &token, json!({})),
        )
        .await
        .expect(200);
    let credential = key_holder.create(&r.body["publicKey"]).unwrap();
    let added = p.run(
        "confirm-webauthn-registration",
        "first key",
        env.post_auth(
            "/v1/mfa/webauthn/confirm",
            &token,
            json!({ "registration_id": text(&r, "/registration_id"), "credential": credential }),
        ),
    )
    .await
    .expect(201);
    let mfa = text(&env.login(user, PASSWORD).await.expect(200), "/mfa_token");
    let r = p
        .run(
            "login-webauthn-start",
            "one key",
            env.post("/v1/login/webauthn/start", json!({ "mfa_token": mfa })),
        )
        .await
        .expect(200);
    let assertion = key_holder.get(&r.body["publicKey"]);
    p.run(
        "login-webauthn-finish",
        "right key",
        env.post(
            "/v1/login/webauthn/finish",
            json!({ "mfa_token": mfa, "credential": assertion }),
        ),
    )
    .await
    .expect(200);

    // The security key alone (it keeps a discoverable credential) signs in too: the login
    // and the handle's lookup read together, then the profile.
    let r = p
        .run(
            "login-passkey-start",
            "no account known",
            env.post("/v1/login/passkey/start", json!({})),
        )
        .await
        .expect(200);
    let assertion = key_holder.get_with(&r.body["publicKey"], 0);
    p.run(
        "login-passkey-finish",
        "right passkey",
        env.post(
            "/v1/login/passkey/finish",
            json!({ "login_id": text(&r, "/login_id"), "credential": assertion }),
        ),
    )
    .await
    .expect(200);
    // The push device reports the key's security notice ("this wasn't me"): the key goes,
    // every session ends; a new sign-in (TOTP) for what follows.
    let key_id = text(&added, "/device/id");
    let event = env
        .stored_events(user)
        .await
        .into_iter()
        .find(|e| e.kind == "device_added" && e.device_id.as_deref() == Some(key_id.as_str()))
        .unwrap();
    let notice_id = latchkey::notice::NoticeRef::of(&event).notice_id();
    let report = push_agent::crypto::notice_report_message(&notice_id, &push_device);
    p.run(
        "push-report",
        "device_added notice",
        env.post(
            "/v1/push/report",
            json!({
                "notice_id": notice_id,
                "device_id": push_device,
                "signature": key.sign(&system_random(), report.as_bytes()).unwrap(),
            }),
        ),
    )
    .await
    .expect(200);
    let mfa = text(&env.login(user, PASSWORD).await.expect(200), "/mfa_token");
    env.clock.advance_secs(30);
    let r = env
        .post(
            "/v1/login/totp",
            json!({ "mfa_token": mfa, "code": totp_code(&secret, now(&env)) }),
        )
        .await
        .expect(200);
    let token = text(&r, "/session/token");

    // Removing the push device unsubscribes it; then logout.
    p.run(
        "remove-device",
        "push device",
        env.call(
            reqwest::Method::DELETE,
            &format!("/v1/mfa/devices/{push_device}"),
            Some(&token),
            Some(json!({ "password": PASSWORD })),
        ),
    )
    .await
    .expect(200);

    // The report above ended every session: two more sign-ins, so that the session list
    // and the revocations below have others to act on.
    for _ in 0..2 {
        let mfa = text(&env.login(user, PASSWORD).await.expect(200), "/mfa_token");
        env.clock.advance_secs(30);
        env.post(
            "/v1/login/totp",
            json!({ "mfa_token": mfa, "code": totp_code(&secret, now(&env)) }),
        )
        .await
        .expect(200);
    }

    // The account's sessions and the password: each authenticated read is one round trip
    // (session and profile together), a revocation one write.
    p.run("me", "full session", env.get("/v1/me", &token))
        .await
        .expect(200);
    p.run("get-mfa", "full session", env.get("/v1/mfa", &token))
        .await
        .expect(200);
    let r = p
        .run(
            "list-sessions",
            "several sessions",
            env.get("/v1/sessions", &token),
        )
        .await
        .expect(200);
    let sessions = r.body["sessions"].as_array().unwrap().clone();
    assert!(sessions.len() >= 3, "{}", r.body);
    let other = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = p
        .run(
            "revoke-session",
            "another session",
            env.call(
                reqwest::Method::DELETE,
                &format!("/v1/sessions/{other}"),
                Some(&token),
                None,
            ),
        )
        .await;
    assert_eq!(r.status, 204);
    p.run(
        "revoke-other-sessions",
        "several sessions",
        env.post_auth("/v1/sessions/revoke-others", &token, json!({})),
    )
    .await
    .expect(200);
    p.run(
        "change-password",
        "other sessions revoked",
        env.call(
            reqwest::Method::PUT,
            "/v1/password",
            Some(&token),
            Some(json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" })),
        ),
    )
    .await
    .expect(200);
    let r = p
        .run(
            "logout",
            "full session",
            env.call(reqwest::Method::POST, "/v1/logout", Some(&token), None),
        )
        .await;
    assert_eq!(r.status, 204);

    p
}
