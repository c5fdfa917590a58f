//! The agent in-process against a fake Latchkey server: enrollment, SNS deliveries,
//! the control channel and signed answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use push_agent::agent::{Outcome, SnsSignatures};
use push_agent::clock::{self, Clock, ManualClock, SystemClock};
use push_agent::control::{self, Client};
use push_agent::crypto::Decision;
use push_agent::enroll::{self, EnrollOptions};
use push_agent::server::RunningAgent;
use push_agent::{sns, state, Error};
use serde_json::{json, Value};

const LOOPBACK_ANY: &str = "127.0.0.1:0";

fn options(fake: &FakeServer, state_path: &Path, signatures: SnsSignatures) -> EnrollOptions {
    options_with_clock(fake, state_path, signatures, clock::system())
}

fn options_with_clock(
    fake: &FakeServer,
    state_path: &Path,
    signatures: SnsSignatures,
    clock: Arc<dyn Clock>,
) -> EnrollOptions {
    EnrollOptions {
        uri: registration_uri(&fake.api()),
        listen: LOOPBACK_ANY.to_owned(),
        public_url: "http://127.0.0.1:9/sns".to_owned(),
        name: Some("  test laptop ".to_owned()),
        state_path: state_path.to_path_buf(),
        force: false,
        signatures,
        control: Some(LOOPBACK_ANY.parse().unwrap()),
        clock,
    }
}

struct Setup {
    _tmp: TempDir,
    fake: FakeServer,
    state_path: PathBuf,
    running: RunningAgent,
    client: Client,
    http: reqwest::Client,
}

async fn setup(signatures: SnsSignatures) -> Setup {
    setup_with_clock(signatures, clock::system()).await
}

async fn setup_with_clock(signatures: SnsSignatures, clock: Arc<dyn Clock>) -> Setup {
    let tmp = TempDir::new();
    let fake = FakeServer::start().await;
    let state_path = tmp.path().join("agent").join("state.json");
    let enrolled = enroll::enroll(options_with_clock(&fake, &state_path, signatures, clock))
        .await
        .unwrap();
    assert_eq!(enrolled.device_id, DEVICE_ID);
    let client = Client::new(&state_path, None).unwrap();
    Setup {
        _tmp: tmp,
        fake,
        state_path,
        running: enrolled.running,
        client,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    async fn deliver(&self, envelope: &Value) -> reqwest::StatusCode {
        self.http
            .post(format!("http://{}/sns", self.running.sns_addr))
            .header("content-type", "text/plain; charset=UTF-8")
            .body(envelope.to_string())
            .send()
            .await
            .unwrap()
            .status()
    }

    fn push(&self, push_id: &str, number: &str) -> (PushSpec, Value) {
        let spec = PushSpec {
            push_id: push_id.to_owned(),
            challenge: b64(push_id.repeat(8).as_bytes()),
            number: number.to_owned(),
        };
        self.fake.expect_push(spec.clone());
        let payload = login_payload(push_id, &spec.challenge, &self.fake.respond_url(), 120);
        let envelope = sns_notification(&push_message(&server_key(), &payload));
        (spec, envelope)
    }

    async fn wait_pending(&self, count: usize) -> Vec<push_agent::agent::PendingView> {
        for _ in 0..100 {
            let pending = self.client.pending().await.unwrap();
            if pending.len() >= count {
                return pending;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{count} pending pushes never arrived");
    }
}

#[tokio::test]
async fn enrolls_with_a_signed_request_and_a_private_state_file() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    let request = s.fake.state.lock().unwrap().enroll_requests[0].clone();
    assert_eq!(request["registration_id"], RID);
    assert_eq!(request["secret"], SECRET);
    assert_eq!(request["endpoint"], "http://127.0.0.1:9/sns");
    assert_eq!(request["name"], "test laptop");
    let keys: Vec<&String> = request.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "endpoint",
            "name",
            "public_key",
            "registration_id",
            "secret",
            "signature"
        ]
    );
    assert_eq!(unb64(request["public_key"].as_str().unwrap()).len(), 65);

    let saved = state::load(&s.state_path).unwrap();
    assert_eq!(saved.device_id.as_deref(), Some(DEVICE_ID));
    assert_eq!(saved.username, "alice");
    assert_eq!(saved.issuer, "Latchkey Test");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for path in [s.state_path.clone(), state::control_path(&s.state_path)] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
    let text = std::fs::read_to_string(&s.state_path).unwrap();
    assert!(!text.contains(SECRET), "the one-time secret is not kept");
    s.running.shutdown().await;
    assert!(
        !state::control_path(&s.state_path).exists(),
        "control file removed on shutdown"
    );
}

#[tokio::test]
async fn approves_over_the_control_channel_with_a_verifiable_signature() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    let (spec, envelope) = s.push("push_a", "482913");
    assert_eq!(s.deliver(&envelope).await, 200);

    let pending = s.wait_pending(1).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].push_id, "push_a");
    assert_eq!(pending[0].username, "alice");
    assert_eq!(pending[0].ip, "203.0.113.7");
    let listed = serde_json::to_string(&pending[0]).unwrap();
    assert!(
        !listed.contains(&spec.challenge),
        "never list the challenge"
    );

    let answer = s
        .client
        .answer(None, Decision::Approve, Some("482913"))
        .await
        .unwrap();
    assert_eq!(answer.status, "approved");
    let request = s.fake.state.lock().unwrap().respond_requests[0].clone();
    assert_eq!(request["push_id"], "push_a");
    assert_eq!(request["device_id"], DEVICE_ID);
    assert_eq!(request["decision"], "approve");
    assert_eq!(request["number"], "482913");
    assert!(s.client.pending().await.unwrap().is_empty());

    // The same delivery again (SNS is at-least-once) does not bring it back.
    assert_eq!(
        s.running
            .agent
            .process(serde_json::from_value(envelope).unwrap())
            .await,
        Outcome::Duplicate("push_a".to_owned())
    );
    match s.client.answer(Some("push_a"), Decision::Deny, None).await {
        Err(Error::Server {
            status: 404, code, ..
        }) => assert_eq!(code, "no_pending_push"),
        other => panic!("expected no pending push, got {other:?}"),
    }
    s.running.shutdown().await;
}

#[tokio::test]
async fn wrong_numbers_and_denials_are_denied() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    let (_, first) = s.push("push_b", "111111");
    let (_, second) = s.push("push_c", "222222");
    s.deliver(&first).await;
    s.wait_pending(1).await;
    s.deliver(&second).await;
    s.wait_pending(2).await;

    // Named push, wrong number: the server records a denial.
    let answer = s
        .client
        .answer(Some("push_b"), Decision::Approve, Some("999999"))
        .await
        .unwrap();
    assert_eq!(answer.status, "denied");

    // Deny without an id answers the newest; no number is sent.
    let answer = s.client.answer(None, Decision::Deny, None).await.unwrap();
    assert_eq!(answer.status, "denied");
    let requests = s.fake.state.lock().unwrap().respond_requests.clone();
    assert_eq!(requests[1]["push_id"], "push_c");
    assert_eq!(requests[1]["decision"], "deny");
    assert!(requests[1].get("number").is_none());

    // Approving needs digits.
    let (_, third) = s.push("push_d", "333333");
    s.deliver(&third).await;
    s.wait_pending(1).await;
    match s.client.answer(None, Decision::Approve, Some("12ab")).await {
        Err(Error::Server { status: 400, .. }) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(s.client.pending().await.unwrap().len(), 1, "still pending");
    s.running.shutdown().await;
}

#[tokio::test]
async fn relays_server_errors() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    let (_, envelope) = s.push("push_e", "123456");
    s.fake
        .state
        .lock()
        .unwrap()
        .answered
        .insert("push_e".to_owned());
    s.deliver(&envelope).await;
    s.wait_pending(1).await;
    match s
        .client
        .answer(None, Decision::Approve, Some("123456"))
        .await
    {
        Err(Error::Server {
            status: 409, code, ..
        }) => assert_eq!(code, "already_answered"),
        other => panic!("expected already_answered, got {other:?}"),
    }
    s.running.shutdown().await;
}

#[tokio::test]
async fn drops_pushes_that_fail_the_server_signature_device_or_expiry() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    let agent = &s.running.agent;
    let respond = s.fake.respond_url();
    let key = server_key();
    let good = login_payload("push_f", "Y2hhbA", &respond, 120);

    let process = |message: String| {
        let env: sns::Envelope = serde_json::from_value(sns_notification(&message)).unwrap();
        async move { agent.process(env).await }
    };
    let dropped = |o: Outcome| matches!(o, Outcome::Dropped(_));

    // Tampered after signing.
    let mut tampered: Value = serde_json::from_str(&push_message(&key, &good)).unwrap();
    tampered["payload"] = tampered["payload"]
        .as_str()
        .unwrap()
        .replace("alice", "mallory")
        .into();
    assert!(dropped(process(tampered.to_string()).await));
    // Signed by another key.
    let other = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[1u8; 32]).unwrap();
    assert!(dropped(process(push_message(&other, &good)).await));
    // Expired.
    let expired = login_payload("push_g", "Y2hhbA", &respond, -1);
    assert!(dropped(process(push_message(&key, &expired)).await));
    // Another device.
    let mut foreign = good.clone();
    foreign["device_id"] = "dev_other".into();
    assert!(dropped(process(push_message(&key, &foreign)).await));
    // Another version.
    let mut v2 = good.clone();
    v2["v"] = 2.into();
    assert!(dropped(process(push_message(&key, &v2)).await));

    assert!(s.client.pending().await.unwrap().is_empty());
    assert_eq!(
        process(push_message(&key, &good)).await,
        Outcome::Queued("push_f".to_owned())
    );
    assert!(
        s.fake.state.lock().unwrap().respond_requests.is_empty(),
        "drops answer nothing"
    );
    s.running.shutdown().await;
}

#[tokio::test]
async fn with_sns_signatures_on_only_sns_signed_deliveries_count() {
    let s = setup(SnsSignatures::VerifyWith(Arc::new(FixtureCert))).await;
    let (_, mut envelope) = s.push("push_h", "123456");

    // Valid server signature, but no valid SNS signature (as moto sends it).
    let unsigned: sns::Envelope = serde_json::from_value(envelope.clone()).unwrap();
    assert!(matches!(
        s.running.agent.process(unsigned).await,
        Outcome::Dropped(reason) if reason.contains("SNS signature")
    ));

    sns_sign(&mut envelope);
    let signed: sns::Envelope = serde_json::from_value(envelope).unwrap();
    assert_eq!(
        s.running.agent.process(signed).await,
        Outcome::Queued("push_h".to_owned())
    );
    s.running.shutdown().await;
}

fn envelope(value: Value) -> sns::Envelope {
    serde_json::from_value(value).unwrap()
}

#[tokio::test]
async fn enrollment_saves_the_topic_named_by_the_server() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    assert_eq!(
        state::load(&s.state_path).unwrap().topic_arn.as_deref(),
        Some(TOPIC_ARN)
    );
    s.running.shutdown().await;
}

#[tokio::test]
async fn confirms_subscriptions_of_the_enrolled_topic_only() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    let agent = &s.running.agent;
    let url = format!("{}/confirm", s.fake.api());

    // Another topic first: nothing was pinned before, and it is still refused.
    let outcome = agent
        .process(envelope(sns_confirmation(OTHER_TOPIC_ARN, &url)))
        .await;
    assert!(
        matches!(&outcome, Outcome::Dropped(reason) if reason.contains("topic")),
        "{outcome:?}"
    );
    assert_eq!(s.fake.state.lock().unwrap().confirmations, 0, "not fetched");

    // Without SNS signatures, a SubscribeURL may only point at SNS or loopback.
    let outcome = agent
        .process(envelope(sns_confirmation(
            TOPIC_ARN,
            "http://192.0.2.1/confirm",
        )))
        .await;
    assert!(matches!(outcome, Outcome::Dropped(_)));

    assert_eq!(
        agent
            .process(envelope(sns_confirmation(TOPIC_ARN, &url)))
            .await,
        Outcome::SubscriptionConfirmed(TOPIC_ARN.to_owned())
    );
    assert_eq!(s.fake.state.lock().unwrap().confirmations, 1);
    // The topic came from the enrollment answer; confirming does not change it.
    assert_eq!(
        state::load(&s.state_path).unwrap().topic_arn.as_deref(),
        Some(TOPIC_ARN)
    );
    s.running.shutdown().await;
}

#[tokio::test]
async fn drops_pushes_from_another_topic() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    let (_, mut foreign) = s.push("push_k", "123456");
    foreign["TopicArn"] = OTHER_TOPIC_ARN.into();
    let outcome = s.running.agent.process(envelope(foreign.clone())).await;
    assert!(
        matches!(&outcome, Outcome::Dropped(reason) if reason.contains("topic")),
        "{outcome:?}"
    );
    // Over HTTP the refusal is answered like any other drop: 200, and nothing queued.
    assert_eq!(s.deliver(&foreign).await, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(s.client.pending().await.unwrap().is_empty());

    let (_, right) = s.push("push_l", "123456");
    assert_eq!(s.deliver(&right).await, 200);
    assert_eq!(s.wait_pending(1).await[0].push_id, "push_l");
    s.running.shutdown().await;
}

#[tokio::test]
async fn drops_sns_signed_pushes_from_another_topic() {
    let s = setup(SnsSignatures::VerifyWith(Arc::new(FixtureCert))).await;
    let (_, mut foreign) = s.push("push_m", "123456");
    foreign["TopicArn"] = OTHER_TOPIC_ARN.into();
    sns_sign(&mut foreign);
    let outcome = s.running.agent.process(envelope(foreign)).await;
    assert!(
        matches!(&outcome, Outcome::Dropped(reason) if reason.contains("topic")),
        "{outcome:?}"
    );

    let (_, mut right) = s.push("push_n", "123456");
    sns_sign(&mut right);
    assert_eq!(
        s.running.agent.process(envelope(right)).await,
        Outcome::Queued("push_n".to_owned())
    );
    s.running.shutdown().await;
}

#[tokio::test]
async fn refuses_signature_version_1_even_without_signature_checks() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    for (push_id, version) in [
        ("push_o", Some("1")),
        ("push_p", None),
        ("push_q", Some("3")),
    ] {
        let (_, mut env) = s.push(push_id, "123456");
        match version {
            Some(v) => env["SignatureVersion"] = v.into(),
            None => {
                env.as_object_mut().unwrap().remove("SignatureVersion");
            }
        }
        let outcome = s.running.agent.process(envelope(env)).await;
        assert!(
            matches!(&outcome, Outcome::Dropped(reason) if reason.contains("SignatureVersion")),
            "{version:?}: {outcome:?}"
        );
    }
    let mut confirmation = sns_confirmation(TOPIC_ARN, &format!("{}/confirm", s.fake.api()));
    confirmation["SignatureVersion"] = "1".into();
    assert!(matches!(
        s.running.agent.process(envelope(confirmation)).await,
        Outcome::Dropped(_)
    ));
    assert_eq!(s.fake.state.lock().unwrap().confirmations, 0);
    assert!(s.client.pending().await.unwrap().is_empty());

    let (_, v2) = s.push("push_r", "123456");
    assert_eq!(
        s.running.agent.process(envelope(v2)).await,
        Outcome::Queued("push_r".to_owned())
    );
    s.running.shutdown().await;
}

#[tokio::test]
async fn refuses_a_validly_signed_signature_version_1_push() {
    // fixtures/sns-login-push-v1.json: a good push for DEVICE_ID, valid 10:00 to 10:02,
    // SHA1withRSA-signed by openssl with the test SNS key.
    const LOGIN_PUSH_V1: &str = include_str!("fixtures/sns-login-push-v1.json");
    let at = time::OffsetDateTime::parse(
        "2026-11-28T10:00:30Z",
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let s = setup_with_clock(
        SnsSignatures::VerifyWith(Arc::new(FixtureCert)),
        Arc::new(ManualClock::new(at)),
    )
    .await;
    let v1: Value = serde_json::from_str(LOGIN_PUSH_V1).unwrap();
    let outcome = s.running.agent.process(envelope(v1.clone())).await;
    assert!(
        matches!(&outcome, Outcome::Dropped(reason) if reason.contains("SignatureVersion 1")),
        "{outcome:?}"
    );

    // The same delivery signed with SHA256withRSA is accepted.
    let mut v2 = v1;
    sns_sign(&mut v2);
    assert_eq!(
        s.running.agent.process(envelope(v2)).await,
        Outcome::Queued("push_v1".to_owned())
    );
    s.running.shutdown().await;
}

#[tokio::test]
async fn a_state_file_without_a_topic_refuses_every_delivery() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    let (_, push) = s.push("push_s", "123456");
    let url = format!("{}/confirm", s.fake.api());
    s.running.shutdown().await;

    // A state file written by an agent that did not record the topic.
    let mut old: Value =
        serde_json::from_str(&std::fs::read_to_string(&s.state_path).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("topic_arn");
    state::write_private(&s.state_path, old.to_string().as_bytes()).unwrap();
    let loaded = state::load(&s.state_path).unwrap();
    assert_eq!(loaded.device_id.as_deref(), Some(DEVICE_ID));
    let agent = push_agent::agent::Agent::new(
        &s.state_path,
        loaded,
        SnsSignatures::InsecureSkip,
        clock::system(),
    )
    .unwrap();

    for env in [push, sns_confirmation(TOPIC_ARN, &url)] {
        let outcome = agent.process(envelope(env)).await;
        assert!(
            matches!(&outcome, Outcome::Dropped(reason) if reason.contains("enroll this device again")),
            "{outcome:?}"
        );
    }
    assert_eq!(s.fake.state.lock().unwrap().confirmations, 0);
    assert!(agent.pending().is_empty());
}

#[tokio::test]
async fn an_enrollment_answer_without_a_topic_fails_and_keeps_the_device() {
    let tmp = TempDir::new();
    let fake = FakeServer::start().await;
    fake.state.lock().unwrap().omit_topic_arn = true;
    let path = tmp.path().join("state.json");
    match enroll::enroll(options(&fake, &path, SnsSignatures::InsecureSkip)).await {
        Err(e) => assert!(e.to_string().contains("topic_arn"), "{e}"),
        Ok(_) => panic!("expected an error for an answer without topic_arn"),
    }
    // The server knows the key now: the state stays, and names no topic.
    let saved = state::load(&path).unwrap();
    assert_eq!(saved.device_id.as_deref(), Some(DEVICE_ID));
    assert_eq!(saved.topic_arn, None);
}

#[tokio::test]
async fn confirmations_during_enrollment_wait_for_the_topic() {
    let tmp = TempDir::new();
    let fake = FakeServer::start().await;
    let port = std::net::TcpListener::bind(LOOPBACK_ANY)
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}/sns");
    let confirm = |which: &str| format!("{}/confirm?{which}", fake.api());
    fake.state.lock().unwrap().deliver_before_enroll_answer = vec![
        (
            endpoint.clone(),
            sns_confirmation(OTHER_TOPIC_ARN, &confirm("other")),
        ),
        (
            endpoint.clone(),
            sns_confirmation(TOPIC_ARN, &confirm("ours")),
        ),
    ];
    let enrolled = enroll::enroll(EnrollOptions {
        listen: format!("127.0.0.1:{port}"),
        public_url: endpoint,
        ..options(
            &fake,
            &tmp.path().join("state.json"),
            SnsSignatures::InsecureSkip,
        )
    })
    .await
    .unwrap();
    for _ in 0..100 {
        if fake.state.lock().unwrap().confirmations > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.state.lock().unwrap().confirmed, ["ours"]);
    enrolled.running.shutdown().await;
}

#[tokio::test]
async fn control_channel_refuses_a_bad_token() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    let addr = s.running.control_addr.unwrap();
    let url = format!("http://{addr}/v1/pending");
    let http = &s.http;

    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong = http
        .get(&url)
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let answer = http
        .post(format!("http://{addr}/v1/answer"))
        .bearer_auth("not-the-token")
        .json(&json!({"decision": "deny"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);

    let good = control::read_control_file(&s.state_path).unwrap();
    let ok = http
        .get(&url)
        .bearer_auth(&good.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // A client holding a stale token (an agent restart draws a new one) is refused too.
    let stale = control::ControlFile {
        addr,
        token: "c3RhbGU".to_owned(),
    };
    state::write_private(
        &state::control_path(&s.state_path),
        serde_json::to_string(&stale).unwrap().as_bytes(),
    )
    .unwrap();
    match Client::new(&s.state_path, None).unwrap().pending().await {
        Err(Error::Server { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    s.running.shutdown().await;
}

#[tokio::test]
async fn a_refused_enrollment_prints_the_server_error_and_leaves_no_state() {
    let tmp = TempDir::new();
    let fake = FakeServer::start().await;
    fake.state.lock().unwrap().reject_enroll = true;
    let path = tmp.path().join("state.json");
    match enroll::enroll(options(&fake, &path, SnsSignatures::InsecureSkip)).await {
        Err(e @ Error::Server { status: 409, .. }) => {
            assert!(e.to_string().contains("registration_used"), "{e}");
            assert!(e.to_string().contains("fake server says"), "{e}");
        }
        Err(e) => panic!("expected the server's error, got {e}"),
        Ok(_) => panic!("expected the server's error, got success"),
    }
    assert!(!path.exists());
}

#[tokio::test]
async fn enroll_does_not_replace_an_enrolled_device_unless_forced() {
    let s = setup(SnsSignatures::InsecureSkip).await;
    let before = std::fs::read_to_string(&s.state_path).unwrap();
    let mut again = options(&s.fake, &s.state_path, SnsSignatures::InsecureSkip);
    again.control = None;
    assert!(matches!(
        enroll::enroll(again).await,
        Err(Error::AlreadyEnrolled { .. })
    ));
    assert_eq!(std::fs::read_to_string(&s.state_path).unwrap(), before);
    s.running.shutdown().await;
}

#[tokio::test]
async fn refuses_a_non_loopback_control_listener() {
    let tmp = TempDir::new();
    let fake = FakeServer::start().await;
    let path = tmp.path().join("state.json");
    let enrolled = enroll::enroll(EnrollOptions {
        control: None,
        ..options(&fake, &path, SnsSignatures::InsecureSkip)
    })
    .await
    .unwrap();
    let mut running = enrolled.running;
    let wildcard = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    assert!(running.start_control(wildcard).is_err());
    assert!(running.control_addr.is_none());
    assert!(!state::control_path(&path).exists(), "no token written");
    running.shutdown().await;
}

#[tokio::test]
async fn pushes_leave_the_queue_when_they_expire() {
    let manual = Arc::new(ManualClock::new(SystemClock.now()));
    let s = setup_with_clock(SnsSignatures::InsecureSkip, manual.clone()).await;
    let (_, envelope) = s.push("push_j", "123456");
    assert_eq!(
        s.running
            .agent
            .process(serde_json::from_value(envelope.clone()).unwrap())
            .await,
        Outcome::Queued("push_j".to_owned())
    );
    assert_eq!(s.client.pending().await.unwrap().len(), 1);

    manual.advance(time::Duration::seconds(121));
    assert!(s.client.pending().await.unwrap().is_empty());
    match s
        .client
        .answer(Some("push_j"), Decision::Approve, Some("123456"))
        .await
    {
        Err(Error::Server { status: 404, .. }) => {}
        other => panic!("expected no pending push, got {other:?}"),
    }
    // Redelivered after expiry: dropped as expired, not queued again.
    assert!(matches!(
        s.running.agent.process(serde_json::from_value(envelope).unwrap()).await,
        Outcome::Dropped(reason) if reason.contains("expired")
    ));
    assert!(s.fake.state.lock().unwrap().respond_requests.is_empty());
    s.running.shutdown().await;
}
