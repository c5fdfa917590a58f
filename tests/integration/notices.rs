//! Security notices end to end: an event item written with its change, read from the
//! table's stream on moto (as the security-events function's event source mapping reads
//! it), a signed notice published through SNS to the real `push-agent`, shown there once
//! however often it is delivered, and reported back ("this wasn't me"). Also the event on
//! the operators' EventBridge bus, observed on moto through a rule to an SQS queue.
//!
//! Needs the agent binary (`cargo build -p push-agent`), like push.rs.

use crate::push::{push_env, stored_profile, user_with_agent, Agent, PATIENCE};
use crate::support::{TestEnv, PASSWORD};
use latchkey::notice::NoticeRef;
use latchkey::notify::bus::{EventBridgeBus, RecordingBus};
use push_agent::crypto::{notice_report_message, system_random};
use serde_json::{json, Value};
use std::time::Duration;

impl Agent {
    /// `push-agent notices`: one JSON object per notice.
    async fn notices(&self) -> Vec<Value> {
        self.json_lines("notices").await
    }

    /// Waits until `done` holds of the agent's notices and log.
    async fn wait_until(&self, what: &str, done: impl Fn(&[Value], &str) -> bool) -> Vec<Value> {
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::time::Instant::now() < deadline {
            let notices = self.notices().await;
            if done(&notices, &self.log()) {
                return notices;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{what} never happened: {}", self.log());
    }

    /// `push-agent report <notice_id>`: Ok(its line) or Err(the agent's error).
    async fn report(&self, notice_id: &str) -> Result<String, String> {
        let out = self.cli(&["report", notice_id]).await;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A report signed with this device's key over `signed_id`, sent for `notice_id`.
    fn report_body(&self, notice_id: &str, signed_id: &str) -> Value {
        let message = notice_report_message(signed_id, &self.device_id);
        let signature = self
            .key()
            .sign(&system_random(), message.as_bytes())
            .unwrap();
        json!({ "notice_id": notice_id, "device_id": self.device_id, "signature": signature })
    }
}

async fn notice_id_of(env: &TestEnv, username: &str, kind: &str) -> String {
    let events = env.stored_events(username).await;
    let event = events.iter().find(|e| e.kind == kind).unwrap();
    NoticeRef::of(event).notice_id()
}

#[tokio::test]
async fn a_notice_reaches_the_agent_once_and_its_report_signs_out_everything_and_removes_the_added_device(
) {
    let env = push_env().await;
    let (token, agent) = user_with_agent(&env, "nora").await;
    // The enrollment's own event tells the device nothing.
    let bus = RecordingBus::default();
    let first = env.deliver_stream(&bus, false).await;
    assert!(first
        .batches
        .iter()
        .all(|(_, answer)| answer.batch_item_failures.is_empty()));

    env.clock.advance_secs(1);
    let added = env.add_totp(&token, json!({ "password": PASSWORD })).await;
    let poll = env.deliver_stream(&bus, false).await;
    assert_eq!(poll.batches.len(), 1);
    assert!(poll.batches[0].1.batch_item_failures.is_empty());
    let notice_id = notice_id_of(&env, "nora", "device_added").await;
    let notices = agent
        .wait_until("the notice", |n, _| {
            n.iter().any(|n| n["notice_id"] == notice_id.as_str())
        })
        .await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    let shown = &notices[0];
    assert_eq!(shown["event"], "device_added");
    assert_eq!(shown["username"], "nora");
    assert_eq!(shown["device_name"], "Authenticator app");
    assert_eq!(shown["reported"], false);
    let stdout = std::fs::read_to_string(agent.dir.path().join("stdout")).unwrap();
    assert!(stdout.contains("a device was added"), "{stdout}");
    // Every event went to the operators' bus too, the enrollment's included.
    let put = bus.events.lock().unwrap().clone();
    assert!(put
        .iter()
        .any(|(_, d)| d.contains("\"type\":\"device_added\"") && d.contains(&notice_id)));

    // Delivered again (a retried batch): the same notice id, shown once.
    let again = env.deliver_stream(&bus, true).await;
    assert!(!again.batches.is_empty());
    agent
        .wait_until("the duplicate", |_, log| log.contains("delivered again"))
        .await;
    let notices = agent.notices().await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    let stdout = std::fs::read_to_string(agent.dir.path().join("stdout")).unwrap();
    assert_eq!(stdout.matches(&notice_id).count(), 1, "{stdout}");

    // "This wasn't me", from the agent's command line.
    let line = agent.report(&notice_id).await.unwrap();
    assert_eq!(line, "reported: 1 sessions signed out");
    env.get("/v1/me", &token)
        .await
        .expect_error(401, "unauthenticated");
    let profile = stored_profile(&env, "nora").await;
    assert!(
        profile.devices.iter().all(|d| d.id != added),
        "the added device is gone"
    );
    assert!(profile.devices.iter().any(|d| d.id == agent.device_id));
    let reported = env.stored_events("nora").await;
    let reported = reported
        .iter()
        .find(|e| e.kind == "notice_reported")
        .unwrap();
    assert_eq!(reported.device_id.as_deref(), Some(added.as_str()));
    assert_eq!(
        agent.notices().await[0]["reported"],
        true,
        "the agent marks it reported"
    );

    // A second report of the same notice is refused, and changes nothing.
    let second = agent.report(&notice_id).await.unwrap_err();
    assert!(second.contains("already_answered"), "{second}");
}

#[tokio::test]
async fn reports_need_the_devices_signature_a_live_notice_and_the_right_account() {
    let env = push_env().await;
    let (token, agent) = user_with_agent(&env, "otto").await;
    env.clock.advance_secs(1);
    env.post_auth(
        "/v1/mfa/recovery-codes",
        &token,
        json!({ "password": PASSWORD }),
    )
    .await
    .expect(200);
    let notice_id = notice_id_of(&env, "otto", "recovery_codes_generated").await;
    let (_, other) = user_with_agent(&env, "pia").await;

    // Signed over another notice id: 401, nothing spent.
    let forged = agent.report_body(&notice_id, "x.1.y");
    env.post("/v1/push/report", forged)
        .await
        .expect_error(401, "invalid_signature");
    // Unknown notice, or the other account's device: 404.
    for unknown in ["bm9ib2R5.1.abc", "not a notice id"] {
        env.post("/v1/push/report", agent.report_body(unknown, unknown))
            .await
            .expect_error(404, "not_found");
    }
    env.post("/v1/push/report", other.report_body(&notice_id, &notice_id))
        .await
        .expect_error(404, "not_found");
    // An event no notice is sent for cannot be reported either.
    let login = notice_id_of(&env, "otto", "login_succeeded").await;
    env.post("/v1/push/report", agent.report_body(&login, &login))
        .await
        .expect_error(404, "not_found");
    // A missing field is named.
    let r = env
        .post("/v1/push/report", json!({ "notice_id": notice_id }))
        .await;
    r.expect_error(400, "invalid_request");

    // Seven days on, it has expired.
    env.clock
        .advance_secs(latchkey::notice::NOTICE_LIFETIME_SECS);
    env.post("/v1/push/report", agent.report_body(&notice_id, &notice_id))
        .await
        .expect_error(410, "expired");
    assert!(env
        .stored_events("otto")
        .await
        .iter()
        .all(|e| e.kind != "notice_reported"));
}

/// The EventBridge PutEvents of the security-events handler, on moto: a rule on the bus
/// forwards Latchkey's events to an SQS queue, which the test reads.
#[tokio::test]
async fn every_event_goes_to_the_operators_event_bus() {
    let env = TestEnv::start().await;
    let sqs = Sqs::new(&env);
    let queue_url = sqs
        .call(
            "CreateQueue",
            json!({ "QueueName": format!("{}-ops", env.table) }),
        )
        .await["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let queue_arn = sqs
        .call(
            "GetQueueAttributes",
            json!({ "QueueUrl": queue_url, "AttributeNames": ["QueueArn"] }),
        )
        .await["Attributes"]["QueueArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let events = aws_sdk_eventbridge::Client::new(&env.sdk);
    let bus_name = format!("{}-bus", env.table);
    events
        .create_event_bus()
        .name(&bus_name)
        .send()
        .await
        .unwrap();
    events
        .put_rule()
        .event_bus_name(&bus_name)
        .name("to-siem")
        .event_pattern(json!({ "source": [latchkey::notify::bus::SOURCE] }).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .event_bus_name(&bus_name)
        .rule("to-siem")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let bus = EventBridgeBus::new(
        latchkey::app::eventbridge_client(&env.sdk),
        Some(bus_name.clone()),
    );

    env.signup("sven").await;
    env.login("sven", "wrong password!")
        .await
        .expect_error(401, "invalid_credentials");
    let poll = env.deliver_stream(&bus, false).await;
    assert!(poll
        .batches
        .iter()
        .all(|(_, a)| a.batch_item_failures.is_empty()));

    let received = sqs
        .call(
            "ReceiveMessage",
            json!({ "QueueUrl": queue_url, "MaxNumberOfMessages": 10 }),
        )
        .await;
    let messages = received["Messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 1, "{received}");
    let event: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(event["source"], "latchkey");
    assert_eq!(event["detail-type"], latchkey::notify::bus::SECURITY_EVENT);
    assert_eq!(event["detail"]["username"], "sven");
    assert_eq!(event["detail"]["type"], "login_failed");
    let stored = env.stored_events("sven").await;
    assert_eq!(
        event["detail"]["event_id"],
        NoticeRef::of(&stored[0]).notice_id()
    );

    // A bus that does not exist fails the record, which is reported for a retry.
    env.login("sven", "wrong password!").await.expect(401);
    let missing = EventBridgeBus::new(
        latchkey::app::eventbridge_client(&env.sdk),
        Some(format!("{bus_name}-gone")),
    );
    let poll = env.deliver_stream(&missing, false).await;
    let (batch, answer) = &poll.batches[0];
    assert_eq!(answer.batch_item_failures.len(), 1);
    let failed = batch.records[0].dynamodb.sequence_number.clone();
    assert_eq!(answer.batch_item_failures[0].item_identifier, failed);
    // The next poll resumes at the failed record, as the event source mapping does.
    let retried = env.deliver_stream(&bus, false).await;
    assert_eq!(
        retried.batches[0].0.records[0].dynamodb.sequence_number,
        failed
    );
    assert!(retried.batches[0].1.batch_item_failures.is_empty());

    // One that keeps failing is given up after the last attempt (in AWS: the dead-letter
    // queue), and what follows it goes on.
    env.login("sven", "wrong password!").await.expect(401);
    for _ in 0..latchkey_functions::stream_poller::MAX_ATTEMPTS {
        let poll = env.deliver_stream(&missing, false).await;
        assert_eq!(poll.batches[0].1.batch_item_failures.len(), 1);
    }
    assert!(env.deliver_stream(&bus, false).await.batches.is_empty());
}

/// moto's SQS through its JSON protocol: the tests need three calls, not a client crate.
struct Sqs {
    http: reqwest::Client,
    endpoint: String,
}

impl Sqs {
    fn new(_env: &TestEnv) -> Sqs {
        Sqs {
            http: reqwest::Client::new(),
            endpoint: crate::support::moto_endpoint(),
        }
    }

    async fn call(&self, action: &str, body: Value) -> Value {
        let response = self
            .http
            .post(&self.endpoint)
            .header("x-amz-target", format!("AmazonSQS.{action}"))
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{action}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }
}
