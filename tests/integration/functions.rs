//! The function binaries as Lambda runs them: exec'd with the variables Lambda sets, against
//! a stand-in for the Runtime API that hands out API Gateway (HTTP API, payload 2.0) events
//! and collects the answers. The store is the test's moto table, shared with a dev server.
//!
//! The binaries must be built first (`cargo build -p latchkey-functions --bin get-mfa --bin
//! security-events`; scripts/test does).

use crate::support::{workspace_binary, TestEnv};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use latchkey::clock::{Clock, SystemClock};
use latchkey::notify::NotifyError;
use latchkey::{App, Config, Operation};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

struct RuntimeApi {
    events: Mutex<VecDeque<Value>>,
    more: Notify,
    answers: mpsc::UnboundedSender<(String, String, Value)>,
}

async fn next_event(State(api): State<Arc<RuntimeApi>>) -> (HeaderMap, String) {
    loop {
        // Registered before the check, so an event pushed in between is not missed.
        let more = api.more.notified();
        let event = api.events.lock().unwrap().pop_front();
        if let Some(event) = event {
            // An API Gateway event's request id, or a stream batch's first record's.
            let id = event["requestContext"]["requestId"]
                .as_str()
                .or(event["Records"][0]["eventID"].as_str())
                .unwrap()
                .to_owned();
            let mut headers = HeaderMap::new();
            headers.insert(
                "lambda-runtime-aws-request-id",
                HeaderValue::from_str(&id).unwrap(),
            );
            let deadline = SystemClock.now().0 + 30_000;
            headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline));
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:test"),
            );
            return (headers, event.to_string());
        }
        more.await;
    }
}

async fn answer(
    State(api): State<Arc<RuntimeApi>>,
    Path((id, kind)): Path<(String, String)>,
    body: String,
) -> axum::http::StatusCode {
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = api.answers.send((id, kind, body));
    axum::http::StatusCode::ACCEPTED
}

fn http_api_event(id: &str, method: &str, path: &str, token: Option<&str>) -> Value {
    let mut headers = json!({ "accept": "application/json" });
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "test",
            "domainName": "test.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "test",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "latchkey-tests"
            },
            "requestId": id,
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "28/Nov/2026:08:00:00 +0000",
            "timeEpoch": 1_795_852_800_000u64
        },
        "isBase64Encoded": false
    })
}

/// A Runtime API stand-in serving `events`, and the function binary `name` started against
/// it with the test environment's table and secret; `extra` adds variables.
async fn start_function(
    env: &TestEnv,
    name: &str,
    events: Vec<Value>,
    extra: &[(&str, &str)],
) -> (
    tokio::process::Child,
    mpsc::UnboundedReceiver<(String, String, Value)>,
) {
    let (answers, answered) = mpsc::unbounded_channel();
    let api = Arc::new(RuntimeApi {
        events: Mutex::new(VecDeque::from(events)),
        more: Notify::new(),
        answers,
    });
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_event))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let config = &env.app.config;
    let function = tokio::process::Command::new(workspace_binary(name))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env(
            "LATCHKEY_AWS_ENDPOINT",
            config.aws_endpoint.as_deref().unwrap(),
        )
        .env("LATCHKEY_TABLE", &env.table)
        .env("LATCHKEY_MASTER_SECRET", &env.master_secret)
        .env("LATCHKEY_PUBLIC_URL", &config.public_url)
        .env("LATCHKEY_WEBAUTHN_ORIGIN", &config.webauthn_origin)
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("build the function first (cargo build -p latchkey-functions --bin {name}): {e}")
        });
    (function, answered)
}

/// The next `count` answers, by request id.
async fn answers(
    answered: &mut mpsc::UnboundedReceiver<(String, String, Value)>,
    count: usize,
) -> HashMap<String, Value> {
    let mut responses = HashMap::new();
    while responses.len() < count {
        let (id, kind, body) = tokio::time::timeout(Duration::from_secs(30), answered.recv())
            .await
            .expect("the function answers within 30 s")
            .unwrap();
        assert_eq!(kind, "response", "{id}: {body}");
        responses.insert(id, body);
    }
    responses
}

fn status_and_body(answer: &Value) -> (u64, Value) {
    let body = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    (answer["statusCode"].as_u64().unwrap(), body)
}

#[tokio::test]
async fn a_function_binary_serves_api_gateway_events_from_the_runtime_api() {
    let env = TestEnv::start_at(SystemClock.now(), &[]).await;
    let token = env.signup_and_login("fn-alice").await;
    let expected = env.get("/v1/mfa", &token).await.expect(200).body;

    let events = vec![
        http_api_event("with-session", "GET", "/v1/mfa", Some(&token)),
        http_api_event("without-session", "GET", "/v1/mfa", None),
    ];
    let (mut function, mut answered) = start_function(&env, "get-mfa", events, &[]).await;
    let responses = answers(&mut answered, 2).await;
    function.kill().await.unwrap();

    assert_eq!(status_and_body(&responses["with-session"]), (200, expected));
    let (status, body) = status_and_body(&responses["without-session"]);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
}

/// A TLS front for moto on loopback, with a fresh self-signed certificate for `localhost`;
/// returns its port and the certificate as PEM.
async fn tls_front_for_moto() -> (u16, String) {
    let moto = crate::support::moto_endpoint();
    let upstream = moto.trim_start_matches("http://").to_owned();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                // A refused handshake (the client does not trust us) just ends here.
                let Ok(mut client) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (port, certified.cert.pem())
}

/// The functions' HTTPS client (rustls on ring, the AWS roots compiled in): it reaches a
/// TLS endpoint whose certificate it is told to trust (`SSL_CERT_FILE`, as behind a
/// TLS-inspecting proxy), and refuses the same endpoint when it is not.
#[tokio::test]
async fn the_functions_speak_tls_and_trust_only_their_roots() {
    let env = TestEnv::start_at(SystemClock.now(), &[]).await;
    let token = env.signup_and_login("fn-tls").await;
    let expected = env.get("/v1/mfa", &token).await.expect(200).body;
    let (port, pem) = tls_front_for_moto().await;
    let cert_file = std::env::temp_dir().join(format!("latchkey-test-{port}.pem"));
    std::fs::write(&cert_file, pem).unwrap();
    let endpoint = format!("https://localhost:{port}");

    let trusting = [
        ("LATCHKEY_AWS_ENDPOINT", endpoint.as_str()),
        ("SSL_CERT_FILE", cert_file.to_str().unwrap()),
    ];
    let event = || vec![http_api_event("tls", "GET", "/v1/mfa", Some(&token))];
    let (mut function, mut answered) = start_function(&env, "get-mfa", event(), &trusting).await;
    let trusted = answers(&mut answered, 1).await;
    function.kill().await.unwrap();
    assert_eq!(status_and_body(&trusted["tls"]), (200, expected));

    let (mut function, mut answered) =
        start_function(&env, "get-mfa", event(), &trusting[..1]).await;
    let refused = answers(&mut answered, 1).await;
    function.kill().await.unwrap();
    let _ = std::fs::remove_file(&cert_file);
    let (status, body) = status_and_body(&refused["tls"]);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
}

/// The security-events binary as Lambda's event source mapping runs it: a batch of stream
/// records in, the record to resume from out (`ReportBatchItemFailures`), the events on the
/// bus.
#[tokio::test]
async fn the_security_events_binary_answers_stream_batches_with_the_failed_record() {
    let env = TestEnv::start().await;
    env.signup_and_login("fn-stream").await;
    let items = env
        .app
        .store
        .query_desc(
            &latchkey::records::events_partition("fn-stream"),
            latchkey::records::EVENT_PREFIX,
            10,
        )
        .await
        .unwrap();
    let mut corrupt = items[0].clone();
    corrupt.key.sk.push_str("-corrupt");
    corrupt.body = "{".to_owned();
    let mut batch = crate::machines::notices::batch(&[items[0].clone(), corrupt]);
    batch.records[0].event_id = Some("stream-batch".to_owned());
    let bus = format!("{}-bus", env.table);
    aws_sdk_eventbridge::Client::new(&env.sdk)
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();

    let extra = [
        ("LATCHKEY_EVENT_BUS", bus.as_str()),
        ("LATCHKEY_PUSH_TOPIC_ARN", env.topic_arn.as_str()),
    ];
    let event = serde_json::to_value(&batch).unwrap();
    let (mut function, mut answered) =
        start_function(&env, "security-events", vec![event], &extra).await;
    let answer = answers(&mut answered, 1).await;
    function.kill().await.unwrap();
    assert_eq!(
        answer["stream-batch"],
        json!({ "batchItemFailures": [
            { "itemIdentifier": batch.records[1].dynamodb.sequence_number }
        ] })
    );
}

/// A function builds the SNS client only when its route table entry grants SNS actions
/// (the same entry gives it its IAM policy); any other function's notifier refuses.
#[tokio::test]
async fn only_functions_whose_route_grants_sns_get_an_sns_client() {
    let env = TestEnv::start().await;
    let config = || -> Config { env.app.config.clone() };
    let without = App::for_function(config(), Operation::Login.route().needs())
        .await
        .unwrap();
    assert_eq!(
        without.notifier.publish("device", "message").await,
        Err(NotifyError::Unavailable)
    );
    let with = App::for_function(config(), Operation::LoginPush.route().needs())
        .await
        .unwrap();
    assert_eq!(with.notifier.publish("device", "message").await, Ok(()));
}
