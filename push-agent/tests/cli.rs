//! The real binary, driven as the workspace's end-to-end tests will drive it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_push-agent");

async fn agent(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .env_remove("LATCHKEY_PUSH_STATE")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn s(x: &str) -> String {
    x.to_owned()
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_uri_fails_with_a_message() {
    let tmp = TempDir::new();
    let out = agent(vec![
        s("enroll"),
        s("latchkey-push://enroll?api=http://localhost:1"),
        s("--listen"),
        s("127.0.0.1:0"),
        s("--public-url"),
        s("http://127.0.0.1:1/"),
        s("--state"),
        path(&tmp.path().join("state.json")),
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid registration URI"),
        "{}",
        text(&out.stderr)
    );
    assert!(!tmp.path().join("state.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enroll_run_pending_approve() {
    let tmp = TempDir::new();
    let fake = FakeServer::start().await;
    let state = path(&tmp.path().join("state.json"));
    let sns_port = free_port();

    let out = agent(vec![
        s("enroll"),
        registration_uri(&fake.api()),
        s("--listen"),
        format!("127.0.0.1:{sns_port}"),
        s("--public-url"),
        format!("http://127.0.0.1:{sns_port}/"),
        s("--name"),
        s("ci agent"),
        s("--state"),
        state.clone(),
        s("--exit-after-enroll"),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), DEVICE_ID);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains(SECRET), "the secret is never logged");

    // `run` on a control port chosen by the OS; clients find it in the control file.
    let mut run = Command::new(BIN)
        .args([
            "run",
            "--state",
            &state,
            "--control",
            "127.0.0.1:0",
            "--insecure-skip-sns-signature",
            "--no-prompt",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let control_file = tmp.path().join("state.json.control");
    for _ in 0..200 {
        if control_file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(control_file.exists(), "the agent never started");

    let spec = PushSpec {
        push_id: s("push_cli"),
        challenge: b64(&[5u8; 32]),
        number: s("204816"),
    };
    fake.expect_push(spec.clone());
    let payload = login_payload(&spec.push_id, &spec.challenge, &fake.respond_url(), 120);
    let envelope = sns_notification(&push_message(&server_key(), &payload));
    let status = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{sns_port}/"))
        .body(envelope.to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    let mut listed = String::new();
    for _ in 0..100 {
        let out = agent(vec![s("pending"), s("--state"), state.clone()]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        listed = text(&out.stdout);
        if !listed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let line: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(line["push_id"], "push_cli");
    assert_eq!(line["issuer"], "Latchkey Test");
    assert!(line.get("challenge").is_none());

    let out = agent(vec![
        s("approve"),
        s("--number"),
        s("204816"),
        s("--state"),
        state.clone(),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "approved");

    let out = agent(vec![s("deny"), s("--state"), state.clone()]).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no pending push"),
        "{}",
        text(&out.stderr)
    );

    let _ = run.kill();
    let _ = run.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_refuse_a_non_loopback_control_address() {
    let tmp = TempDir::new();
    let out = agent(vec![
        s("pending"),
        s("--control"),
        s("192.0.2.10:7071"),
        s("--state"),
        path(&tmp.path().join("state.json")),
    ])
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("loopback"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_says_why_a_state_file_without_a_topic_refuses_everything() {
    let tmp = TempDir::new();
    let fake = FakeServer::start().await;
    let state_path = tmp.path().join("state.json");
    let state = path(&state_path);
    let out = agent(vec![
        s("enroll"),
        registration_uri(&fake.api()),
        s("--listen"),
        s("127.0.0.1:0"),
        s("--public-url"),
        s("http://127.0.0.1:9/"),
        s("--state"),
        state.clone(),
        s("--exit-after-enroll"),
    ])
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    // What an older agent wrote: no topic_arn.
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    assert_eq!(old["topic_arn"], TOPIC_ARN);
    old.as_object_mut().unwrap().remove("topic_arn");
    push_agent::state::write_private(&state_path, old.to_string().as_bytes()).unwrap();

    let mut run = Command::new(BIN)
        .args([
            "run",
            "--state",
            &state,
            "--listen",
            "127.0.0.1:0",
            "--control",
            "127.0.0.1:0",
            "--insecure-skip-sns-signature",
            "--no-prompt",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let control_file = tmp.path().join("state.json.control");
    for _ in 0..200 {
        if control_file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = run.kill();
    let out = run.wait_with_output().unwrap();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("every SNS delivery will be refused")
            && stderr.contains("enroll this device again"),
        "{stderr}"
    );
}
