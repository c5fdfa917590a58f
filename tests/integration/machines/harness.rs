//! One in-process service: an [`App`] on the memory store (behind [`Interleaving`]), a
//! manual clock, a recording notifier, seeded randomness and cheap argon2, called through
//! `latchkey::handle` with requests built here. Plus the few journeys every test file
//! needs (sign up, a setup session, a first authenticator app).

use super::injection::{FaultyNotifier, FaultyStore, Injector};
use super::interleaving::Interleaving;
use crate::support::{Response, PASSWORD, START};
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, RequestExt};
use latchkey::clock::{Clock, Instant, ManualClock};
use latchkey::notify::{Notifier, NotifyError};
use latchkey::random::{Random, SeededRandom};
use latchkey::store::Item;
use latchkey::{App, Config, Operation};
use latchkey_wire::{LoginPush, Payload, SignedEnvelope};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Where the service says it lives; the WebAuthn origin and relying party follow it.
pub const ORIGIN: &str = "http://localhost:8080";
pub const RP_ID: &str = "localhost";
/// A fixed master secret (base64url of 32 bytes): every run derives the same keys.
const MASTER_SECRET: &str = "bGF0Y2hrZXkgbWFjaGluZXM6IGluLXByb2Nlc3MgMzI";
const TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:latchkey-machines";

/// The notifier port, in memory: records the publishes and subscriptions that would reach
/// SNS, and fails every call while told to (an SNS outage).
#[derive(Default)]
pub struct Recorder {
    published: Mutex<Vec<(String, String)>>,
    subscribed: Mutex<Vec<(String, String)>>,
    /// The subscriptions SNS holds now: made and not yet unsubscribed.
    live: Mutex<BTreeSet<String>>,
    failing: AtomicBool,
}

/// What the recorder has seen, to be put back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    published: Vec<(String, String)>,
    subscribed: Vec<(String, String)>,
    pub live: BTreeSet<String>,
}

impl Recorder {
    pub fn save(&self) -> Recorded {
        Recorded {
            published: self.published(),
            subscribed: self.subscribed(),
            live: self.live.lock().unwrap().clone(),
        }
    }

    pub fn restore(&self, saved: &Recorded) {
        saved
            .published
            .clone_into(&mut self.published.lock().unwrap());
        saved
            .subscribed
            .clone_into(&mut self.subscribed.lock().unwrap());
        saved.live.clone_into(&mut self.live.lock().unwrap());
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn refuse(&self) -> Result<(), NotifyError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(NotifyError::Unavailable)
        } else {
            Ok(())
        }
    }

    /// `(device_id, message)` of every publish that went through, in order.
    pub fn published(&self) -> Vec<(String, String)> {
        self.published.lock().unwrap().clone()
    }

    /// `(endpoint, device_id)` of every subscription made.
    pub fn subscribed(&self) -> Vec<(String, String)> {
        self.subscribed.lock().unwrap().clone()
    }

    /// The login push `push_id` as the device receives it: the message read as the signed
    /// envelope, its signature checked with the server's key (as the agent does), then
    /// the payload parsed.
    pub fn login_push(&self, server_key: &[u8], push_id: &str) -> (String, LoginPush) {
        let mut found = Vec::new();
        for (device_id, message) in self.published() {
            let envelope = SignedEnvelope::parse(&message).expect("an SNS message is an envelope");
            assert!(
                push_agent::crypto::verify_server_signature(
                    server_key,
                    envelope.payload.as_bytes(),
                    &envelope.signature
                ),
                "the payload is signed by the server's push key"
            );
            if let Payload::Login(push) = Payload::parse(&envelope.payload).unwrap() {
                if push.push_id == push_id {
                    found.push((device_id, push));
                }
            }
        }
        assert_eq!(found.len(), 1, "push {push_id} published exactly once");
        found.pop().unwrap()
    }
}

#[async_trait::async_trait]
impl Notifier for Recorder {
    async fn publish(&self, device_id: &str, message: &str) -> Result<(), NotifyError> {
        self.refuse()?;
        self.published
            .lock()
            .unwrap()
            .push((device_id.to_owned(), message.to_owned()));
        Ok(())
    }
    async fn subscribe(&self, endpoint: &str, device_id: &str) -> Result<String, NotifyError> {
        self.refuse()?;
        let mut subscribed = self.subscribed.lock().unwrap();
        subscribed.push((endpoint.to_owned(), device_id.to_owned()));
        let id = format!("{TOPIC}:subscription-{}", subscribed.len());
        self.live.lock().unwrap().insert(id.clone());
        Ok(id)
    }
    async fn unsubscribe(&self, subscription: &str) -> Result<(), NotifyError> {
        self.refuse()?;
        self.live.lock().unwrap().remove(subscription);
        Ok(())
    }
}

/// The seeded random source, rewindable, and able to skip ahead once at a chosen position:
/// a fault test makes a fault-free run draw what a retried one drew (faults.rs).
pub struct Tape {
    seeded: SeededRandom,
    /// `(at, by)`: when a draw starts at position `at`, it starts at `at + by` instead.
    skip: Mutex<Option<(u64, u64)>>,
    /// Where each draw started since the last [`Tape::clear`].
    starts: Mutex<Vec<u64>>,
}

impl Tape {
    fn new(seed: u64) -> Tape {
        Tape {
            seeded: SeededRandom::new(seed),
            skip: Mutex::default(),
            starts: Mutex::default(),
        }
    }

    pub fn position(&self) -> u64 {
        self.seeded.position()
    }

    pub fn rewind(&self, position: u64) {
        self.seeded.rewind(position);
    }

    /// The next draw that starts at `at` starts at `at + by`.
    pub fn skip(&self, at: u64, by: u64) {
        *self.skip.lock().unwrap() = Some((at, by));
    }

    /// Where the draws since the last clear started; forgets them and any skip.
    pub fn clear(&self) -> Vec<u64> {
        *self.skip.lock().unwrap() = None;
        std::mem::take(&mut self.starts.lock().unwrap())
    }
}

impl Random for Tape {
    fn fill(&self, dest: &mut [u8]) -> latchkey::error::Result<()> {
        let at = self.seeded.position();
        let mut skip = self.skip.lock().unwrap();
        if let Some((from, by)) = *skip {
            if from == at {
                self.seeded.rewind(at + by);
                *skip = None;
            }
        }
        self.starts.lock().unwrap().push(self.seeded.position());
        self.seeded.fill(dest)
    }
}

pub struct Machine {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub store: Arc<Interleaving>,
    pub notifier: Arc<Recorder>,
    pub rng: Arc<Tape>,
    /// Between the app and both ports: passes every call through until armed.
    pub faults: Arc<Injector>,
}

/// Everything a request can change in a machine: the table, what SNS holds and has been
/// sent, and where the random source stands. The clock moves only when a test moves it.
#[derive(Clone, Debug)]
pub struct Saved {
    pub items: Vec<Item>,
    pub sns: Recorded,
    pub rng: u64,
}

impl Machine {
    pub fn new() -> Machine {
        Machine::with_env(&[])
    }

    /// A machine whose configuration also has `extra` (name, value) pairs.
    pub fn with_env(extra: &[(&'static str, &'static str)]) -> Machine {
        let mut vars = HashMap::from([
            ("LATCHKEY_MASTER_SECRET", MASTER_SECRET),
            // Cheap hashing: the production parameters are pinned by a unit test.
            ("LATCHKEY_ARGON2_MEMORY_KIB", "64"),
            ("LATCHKEY_ARGON2_ITERATIONS", "1"),
            ("LATCHKEY_PUBLIC_URL", ORIGIN),
            ("LATCHKEY_WEBAUTHN_ORIGIN", ORIGIN),
            ("LATCHKEY_WEBAUTHN_RP_ID", RP_ID),
            ("LATCHKEY_PUSH_TOPIC_ARN", TOPIC),
        ]);
        vars.extend(extra.iter().copied());
        let config = Config::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned())).unwrap();
        let clock = Arc::new(ManualClock::new(Instant::from_secs(START)));
        let store = Arc::new(Interleaving::default());
        let notifier = Arc::new(Recorder::default());
        let rng = Arc::new(Tape::new(7));
        let faults = Arc::new(Injector::default());
        let app = App::new(
            config,
            Arc::new(FaultyStore {
                inner: store.clone(),
                injector: faults.clone(),
            }),
            Arc::new(FaultyNotifier {
                inner: notifier.clone(),
                injector: faults.clone(),
            }),
            clock.clone(),
            rng.clone(),
        )
        .unwrap();
        Machine {
            app,
            clock,
            store,
            notifier,
            rng,
            faults,
        }
    }

    pub fn save(&self) -> Saved {
        Saved {
            items: self.store.contents(),
            sns: self.notifier.save(),
            rng: self.rng.position(),
        }
    }

    /// Puts the machine back as it was when `saved` was taken.
    pub fn restore(&self, saved: &Saved) {
        self.store.restore(saved.items.clone());
        self.notifier.restore(&saved.sns);
        self.rng.rewind(saved.rng);
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance_secs(secs);
    }

    /// One request to `operation`'s route: `token` as the bearer, `device` as the `{id}`
    /// path parameter, `body` as JSON (none when `Value::Null`).
    pub async fn send(
        &self,
        operation: Operation,
        token: Option<&str>,
        device: Option<&str>,
        body: Value,
    ) -> Response {
        self.serve(operation, Self::request(operation, token, device, body))
            .await
    }

    /// The request [`Machine::send`] sends, for a test that changes it before [`Machine::serve`].
    pub fn request(
        operation: Operation,
        token: Option<&str>,
        device: Option<&str>,
        body: Value,
    ) -> lambda_http::Request {
        let route = operation.route();
        let mut request = lambda_http::http::Request::builder()
            .method(route.method)
            .uri(route.path.replace("{id}", device.unwrap_or_default()))
            .header(header::USER_AGENT, "machines");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = if body.is_null() {
            Body::Empty
        } else {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::Text(body.to_string())
        };
        let mut request = request.body(body).unwrap();
        if let Some(device) = device {
            request =
                request.with_path_parameters(HashMap::from([("id".to_owned(), device.to_owned())]));
        }
        request
    }

    pub async fn serve(&self, operation: Operation, request: lambda_http::Request) -> Response {
        let response = latchkey::handle(&self.app, operation, request).await;
        let (parts, body) = response.into_parts();
        let bytes: &[u8] = body.as_ref();
        Response {
            status: StatusCode::from_u16(parts.status.as_u16()).unwrap(),
            headers: parts.headers,
            body: serde_json::from_slice(bytes).unwrap_or(Value::Null),
        }
    }

    /// A route that needs no session.
    pub async fn call(&self, operation: Operation, body: Value) -> Response {
        self.send(operation, None, None, body).await
    }

    /// A route called with the session `token`.
    pub async fn call_as(&self, operation: Operation, token: &str, body: Value) -> Response {
        self.send(operation, Some(token), None, body).await
    }

    pub async fn signup(&self, username: &str) {
        self.call(
            Operation::CreateAccount,
            json!({ "username": username, "password": PASSWORD }),
        )
        .await
        .expect(201);
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.call(
            Operation::Login,
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// A right password's answer, which must be `status`.
    pub async fn login_as(&self, username: &str, status: &str) -> Value {
        let r = self.login(username, PASSWORD).await.expect(200);
        assert_eq!(r.body["status"], status, "{}", r.body);
        r.body
    }

    /// A fresh setup session of an account that has no device yet.
    pub async fn setup_session(&self, username: &str) -> String {
        let body = self.login_as(username, "mfa_setup_required").await;
        assert_eq!(body["session"]["scope"], "setup");
        token(&body)
    }

    /// A right password on an account with devices: the mfa_token.
    pub async fn mfa_token(&self, username: &str) -> String {
        let body = self.login_as(username, "mfa_required").await;
        body["mfa_token"].as_str().unwrap().to_owned()
    }

    /// Starts an authenticator app's registration: `(registration_id, base32 secret)`.
    pub async fn start_totp(&self, token: &str, body: Value) -> (String, String) {
        let r = self
            .call_as(Operation::StartTotpRegistration, token, body)
            .await
            .expect(200);
        (text(&r.body["registration_id"]), text(&r.body["secret"]))
    }

    pub async fn confirm_totp(&self, token: &str, registration_id: &str, code: &str) -> Response {
        self.call_as(
            Operation::ConfirmTotpRegistration,
            token,
            json!({ "registration_id": registration_id, "code": code }),
        )
        .await
    }

    /// The code of `secret` now.
    pub fn code(&self, secret: &str) -> String {
        crate::settings::code_for(secret, self.now().secs())
    }

    /// A code no step within the accepted window of now has.
    pub fn wrong_code(&self, secret: &str) -> String {
        let now = self.now().secs();
        let valid: Vec<String> = [-30, 0, 30]
            .iter()
            .map(|d| crate::settings::code_for(secret, now + d))
            .collect();
        (0..)
            .map(|n: u32| format!("{:06}", (n * 104_729) % 1_000_000))
            .find(|c| !valid.contains(c))
            .unwrap()
    }

    /// A new user whose first device is an authenticator app: the session that registered
    /// it (full now), the base32 secret and the ten recovery codes. The clock moves on to
    /// the next TOTP step, so the confirming code is not the one a login would replay.
    pub async fn user_with_totp(&self, username: &str) -> (String, String, Vec<String>) {
        self.signup(username).await;
        let token = self.setup_session(username).await;
        let (id, secret) = self.start_totp(&token, json!({})).await;
        let r = self
            .confirm_totp(&token, &id, &self.code(&secret))
            .await
            .expect(201);
        let codes = r.body["recovery_codes"]
            .as_array()
            .expect("a first device brings recovery codes")
            .iter()
            .map(text)
            .collect();
        self.advance(30);
        (token, secret, codes)
    }

    pub async fn totp_login(&self, mfa_token: &str, code: &str) -> Response {
        self.call(
            Operation::LoginTotp,
            json!({ "mfa_token": mfa_token, "code": code }),
        )
        .await
    }

    pub async fn recovery_login(&self, mfa_token: &str, code: &str) -> Response {
        self.call(
            Operation::LoginRecoveryCode,
            json!({ "mfa_token": mfa_token, "code": code }),
        )
        .await
    }

    /// The scope of the session `token`, or the error code that refuses it.
    pub async fn scope(&self, token: &str) -> String {
        let r = self
            .send(Operation::Me, Some(token), None, Value::Null)
            .await;
        match r.status.as_u16() {
            200 => text(&r.body["scope"]),
            _ => r.code().to_owned(),
        }
    }

    pub async fn devices(&self, token: &str) -> Vec<Value> {
        let r = self
            .send(Operation::GetMfa, Some(token), None, Value::Null)
            .await
            .expect(200);
        r.body["devices"].as_array().unwrap().clone()
    }
}

pub fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string: {value}"))
        .to_owned()
}

/// The session token of an authenticated (or setup) answer.
pub fn token(body: &Value) -> String {
    text(&body["session"]["token"])
}

/// The statuses of a burst's answers, sorted.
pub fn statuses(answers: &[Response]) -> Vec<u16> {
    let mut all: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    all.sort_unstable();
    all
}
