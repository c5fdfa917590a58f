//! Test helpers: a temporary directory, a fake Latchkey server that checks the
//! agent's signatures as the real one must, and builders for signed pushes.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use latchkey_wire::{
    answer_message, enroll_message, Decision, LoginPush, RegistrationUri, Secret, SignedEnvelope,
};
use ring::signature::{self, Ed25519KeyPair, KeyPair as _};
use serde_json::{json, Value};

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let mut bytes = [0u8; 8];
        ring::rand::SecureRandom::fill(&push_agent::crypto::system_random(), &mut bytes).unwrap();
        let dir = std::env::temp_dir().join(format!("push-agent-it-{}", hex(&bytes)));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

pub fn server_key() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&[42u8; 32]).unwrap()
}

pub const RID: &str = "reg_test_1";
pub const SECRET: &str = "b25lLXRpbWUtc2VjcmV0LWZvci10ZXN0cw";
pub const DEVICE_ID: &str = "dev_test_1";
/// The push topic the fake server names in its enrollment answer.
pub const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:latchkey-push";
/// Someone else's topic.
pub const OTHER_TOPIC_ARN: &str = "arn:aws:sns:us-east-1:999999999999:attacker";

/// The registration URI as the server builds it.
pub fn registration_uri(api: &str) -> String {
    RegistrationUri {
        api: api.to_owned(),
        registration_id: RID.to_owned(),
        secret: Secret::new(SECRET),
        username: "alice".to_owned(),
        issuer: "Latchkey Test".to_owned(),
        server_key: server_key().public_key().as_ref().try_into().unwrap(),
    }
    .to_uri()
}

#[derive(Clone)]
pub struct PushSpec {
    pub push_id: String,
    pub challenge: String,
    pub number: String,
}

#[derive(Default)]
pub struct FakeState {
    pub reject_enroll: bool,
    pub device_public_key: Option<Vec<u8>>,
    pub enroll_requests: Vec<Value>,
    pub respond_requests: Vec<Value>,
    pub pushes: HashMap<String, PushSpec>,
    pub answered: HashSet<String>,
    pub confirmations: usize,
    /// The query string of each confirmation fetched, in order.
    pub confirmed: Vec<String>,
    /// Answer enrollments as a server older than `topic_arn` did.
    pub omit_topic_arn: bool,
    /// Posted (URL, SNS envelope) before the enrollment is answered, as SNS may post a
    /// SubscriptionConfirmation while the server is still in its Subscribe call.
    pub deliver_before_enroll_answer: Vec<(String, Value)>,
}

/// A stand-in for the Latchkey API's two push routes.
#[derive(Clone)]
pub struct FakeServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<FakeState>>,
}

impl FakeServer {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new()
            .route("/v1/push/enroll", post(enroll))
            .route("/v1/push/respond", post(respond))
            .route("/confirm", get(confirm))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeServer { addr, state }
    }

    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    pub fn respond_url(&self) -> String {
        format!("{}/v1/push/respond", self.api())
    }

    pub fn expect_push(&self, spec: PushSpec) {
        self.state
            .lock()
            .unwrap()
            .pushes
            .insert(spec.push_id.clone(), spec);
    }
}

fn error(status: StatusCode, code: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({"error": {"code": code, "message": format!("fake server says {code}")}})),
    )
}

async fn enroll(
    State(state): State<Arc<Mutex<FakeState>>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let deliveries = std::mem::take(&mut state.lock().unwrap().deliver_before_enroll_answer);
    if !deliveries.is_empty() {
        let http = reqwest::Client::new();
        for (url, envelope) in deliveries {
            let status = http
                .post(url)
                .body(envelope.to_string())
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 200);
        }
        // The agent answers first and works afterwards: let it get to work.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let mut s = state.lock().unwrap();
    s.enroll_requests.push(body.clone());
    if s.reject_enroll {
        return error(StatusCode::CONFLICT, "registration_used");
    }
    if body["registration_id"] != RID || body["secret"] != SECRET {
        return error(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let pk_text = body["public_key"].as_str().unwrap();
    let pk = unb64(pk_text);
    let message = enroll_message(RID, pk_text);
    let sig = unb64(body["signature"].as_str().unwrap());
    if signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &pk)
        .verify(message.as_bytes(), &sig)
        .is_err()
    {
        return error(StatusCode::UNAUTHORIZED, "invalid_signature");
    }
    s.device_public_key = Some(pk);
    let answer = if s.omit_topic_arn {
        json!({"device_id": DEVICE_ID})
    } else {
        json!({"device_id": DEVICE_ID, "topic_arn": TOPIC_ARN})
    };
    (StatusCode::CREATED, Json(answer))
}

async fn confirm(State(state): State<Arc<Mutex<FakeState>>>, uri: axum::http::Uri) -> StatusCode {
    let mut s = state.lock().unwrap();
    s.confirmations += 1;
    s.confirmed.push(uri.query().unwrap_or_default().to_owned());
    StatusCode::OK
}

async fn respond(
    State(state): State<Arc<Mutex<FakeState>>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut s = state.lock().unwrap();
    s.respond_requests.push(body.clone());
    let push_id = body["push_id"].as_str().unwrap().to_owned();
    let Some(spec) = s.pushes.get(&push_id).cloned() else {
        return error(StatusCode::NOT_FOUND, "not_found");
    };
    if body["device_id"] != DEVICE_ID {
        return error(StatusCode::UNAUTHORIZED, "invalid_signature");
    }
    let decision: Decision = serde_json::from_value(body["decision"].clone()).unwrap();
    let number = body.get("number").and_then(Value::as_str);
    let message = answer_message(&push_id, &spec.challenge, decision, number);
    let sig = unb64(body["signature"].as_str().unwrap());
    let Some(pk) = s.device_public_key.clone() else {
        return error(StatusCode::UNAUTHORIZED, "invalid_signature");
    };
    if signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &pk)
        .verify(message.as_bytes(), &sig)
        .is_err()
    {
        return error(StatusCode::UNAUTHORIZED, "invalid_signature");
    }
    if !s.answered.insert(push_id) {
        return error(StatusCode::CONFLICT, "already_answered");
    }
    let status = if decision == Decision::Approve && number == Some(spec.number.as_str()) {
        "approved"
    } else {
        "denied"
    };
    (StatusCode::OK, Json(json!({"status": status})))
}

/// The SNS `Message` of a login push signed by `key`.
pub fn push_message(key: &Ed25519KeyPair, payload: &Value) -> String {
    let payload = payload.to_string();
    let signature = key.sign(payload.as_bytes());
    SignedEnvelope::new(payload, signature.as_ref())
        .to_json()
        .unwrap()
}

pub fn rfc3339_in(seconds: i64) -> String {
    let t = push_agent::clock::Clock::now(&push_agent::clock::SystemClock)
        + time::Duration::seconds(seconds);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A login push payload as the server builds it, as JSON for tests to tamper with.
pub fn login_payload(push_id: &str, challenge: &str, respond_url: &str, expires_in: i64) -> Value {
    let push = LoginPush {
        push_id: push_id.to_owned(),
        challenge: challenge.to_owned(),
        device_id: DEVICE_ID.to_owned(),
        username: "alice".to_owned(),
        issuer: "Latchkey Test".to_owned(),
        ip: "203.0.113.7".to_owned(),
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".to_owned(),
        created_at: rfc3339_in(0),
        expires_at: rfc3339_in(expires_in),
        respond_url: respond_url.to_owned(),
    };
    serde_json::from_str(&push.to_json().unwrap()).unwrap()
}

/// An SNS Notification envelope from [`TOPIC_ARN`] with a signature that does not
/// verify (moto's cannot be checked either), claiming SignatureVersion 2 as moto does.
pub fn sns_notification(message: &str) -> Value {
    json!({
        "Type": "Notification",
        "MessageId": "c0ffee00-0000-4000-8000-000000000001",
        "TopicArn": TOPIC_ARN,
        "Message": message,
        "Timestamp": "2026-11-28T10:00:00.000Z",
        "SignatureVersion": "2",
        "Signature": "bW90bw==",
        "SigningCertURL": "http://127.0.0.1:5055/moto-sns-cert.pem",
        "UnsubscribeURL": "http://127.0.0.1:5055/?Action=Unsubscribe"
    })
}

/// An unsigned SubscriptionConfirmation from `topic` whose SubscribeURL is `subscribe_url`.
pub fn sns_confirmation(topic: &str, subscribe_url: &str) -> Value {
    json!({
        "Type": "SubscriptionConfirmation", "MessageId": "m1", "Token": "t",
        "TopicArn": topic, "Message": "confirm", "SubscribeURL": subscribe_url,
        "Timestamp": "2026-11-28T10:00:00.000Z", "SignatureVersion": "2",
        "Signature": "bW90bw==",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"
    })
}

pub const SNS_CERT: &[u8] = include_bytes!("../fixtures/sns-test-cert.pem");
const SNS_KEY_PEM: &str = include_str!("../fixtures/sns-test-key.pem");

/// Serves the test SNS certificate for any URL.
pub struct FixtureCert;

impl push_agent::sns::CertSource for FixtureCert {
    fn fetch<'a>(
        &'a self,
        _url: &'a reqwest::Url,
    ) -> push_agent::sns::BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async { Ok(SNS_CERT.to_vec()) })
    }
}

/// Signs `envelope` as SNS would (SignatureVersion 2) with the test key.
pub fn sns_sign(envelope: &mut Value) {
    use base64::engine::general_purpose::STANDARD;
    envelope["SignatureVersion"] = "2".into();
    envelope["SigningCertURL"] =
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem".into();
    let parsed: push_agent::sns::Envelope = serde_json::from_value(envelope.clone()).unwrap();
    let signed = push_agent::sns::string_to_sign(&parsed).unwrap();
    let body: String = SNS_KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let key = signature::RsaKeyPair::from_pkcs8(&STANDARD.decode(body).unwrap()).unwrap();
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &push_agent::crypto::system_random(),
        signed.as_bytes(),
        &mut sig,
    )
    .unwrap();
    envelope["Signature"] = STANDARD.encode(&sig).into();
}
