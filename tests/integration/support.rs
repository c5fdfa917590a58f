use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use latchkey::clock::{Clock, Instant, ManualClock};
use latchkey::notify::bus::EventBus;
use latchkey::notify::sns::SnsNotifier;
use latchkey::random::SystemRandom;
use latchkey::store::dynamo::DynamoStore;
use latchkey::store::{Item, Key, Store, StoreError, Write};
use latchkey::{App, Config};
use latchkey_functions::stream_poller::{Poll, StreamPoller};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

/// 2026-11-28T10:00:00Z, mid-way through a TOTP step.
pub const START: i64 = 1_795_860_015;
pub const PASSWORD: &str = "correct horse battery";

/// A binary of another workspace package, built beside this test binary (whatever the
/// target directory): `target/<profile>/deps/integration-… → target/<profile>/<name>`.
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in target/<profile>/deps");
    profile_dir.join(name)
}

pub fn moto_endpoint() -> String {
    std::env::var("LATCHKEY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!("LATCHKEY_TEST_AWS_ENDPOINT is not set: run ./scripts/test, or start moto with scripts/local-stack and export it")
    })
}

fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let random = latchkey::random::token::<6>(&SystemRandom::new()).unwrap();
    format!(
        "{prefix}-{}-{n}-{}",
        std::process::id(),
        random.replace(['-', '_'], "x")
    )
}

/// moto applies TransactWriteItems by snapshotting whole tables and restoring the snapshot
/// when a condition fails, which silently undoes writes that concurrent calls made in
/// between (moto 5.2.5, `transact_write_items`). DynamoDB has no such effect, so tests hand
/// moto one store call at a time. Requests still interleave between their calls, and that
/// is where this service's races live: read, check, conditional write.
pub struct OneCallAtATime {
    inner: DynamoStore,
    gate: tokio::sync::Mutex<()>,
}

/// moto accepts keys of any length, but DynamoDB refuses a partition key over 2048 bytes or
/// a sort key over 1024 bytes (UTF-8) with a ValidationException, which the adapter maps to
/// `StoreError::Unavailable` (a 503). The wrapper refuses such keys itself, as DynamoDB
/// would, without calling moto: input that reaches the store unchecked fails here as it
/// would in production.
fn beyond_dynamodb_key_limits(pk: &str, sk: &str) -> bool {
    pk.len() > 2048 || sk.len() > 1024
}

#[async_trait::async_trait]
impl Store for OneCallAtATime {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        if beyond_dynamodb_key_limits(&key.pk, &key.sk) {
            return Err(StoreError::Unavailable);
        }
        let _turn = self.gate.lock().await;
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys
            .iter()
            .any(|k| beyond_dynamodb_key_limits(&k.pk, &k.sk))
        {
            return Err(StoreError::Unavailable);
        }
        let _turn = self.gate.lock().await;
        self.inner.get_many(keys).await
    }
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes
            .iter()
            .any(|w| beyond_dynamodb_key_limits(&w.key().pk, &w.key().sk))
        {
            return Err(StoreError::Unavailable);
        }
        let _turn = self.gate.lock().await;
        self.inner.write(writes).await
    }
    async fn query_desc(
        &self,
        pk: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        if beyond_dynamodb_key_limits(pk, prefix) {
            return Err(StoreError::Unavailable);
        }
        let _turn = self.gate.lock().await;
        self.inner.query_desc(pk, prefix, limit).await
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Response {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self
    }
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "body: {}",
            self.body
        );
        let error = self.body["error"].as_object().expect("error object");
        assert_eq!(
            error.len(),
            2,
            "error has exactly code and message: {}",
            self.body
        );
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error message: {}",
            self.body
        );
        assert_eq!(self.body.as_object().map(|o| o.len()), Some(1));
        self
    }
}

pub struct TestEnv {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub app: Arc<App>,
    #[allow(dead_code)] // for tests that inspect SNS directly
    pub topic_arn: String,
    #[allow(dead_code)] // for tests that inspect moto directly
    pub sdk: latchkey::app::SdkConfig,
    /// The table and master secret (base64url), for processes pointed at the same store.
    pub table: String,
    pub master_secret: String,
    /// The table's stream as the security-events function reads it ([`TestEnv::deliver_stream`]).
    stream: tokio::sync::Mutex<Option<StreamPoller>>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn create_table(sdk: &latchkey::app::SdkConfig, name: &str) {
    // The definition scripts/local-stack and infra/template.yaml use too (a test compares).
    let definition: Value = serde_json::from_str(include_str!("../../infra/table.json")).unwrap();
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for attribute in definition["AttributeDefinitions"].as_array().unwrap() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(
                    attribute["AttributeType"].as_str().unwrap(),
                ))
                .build()
                .unwrap(),
        );
    }
    for key in definition["KeySchema"].as_array().unwrap() {
        request = request.key_schema(
            KeySchemaElement::builder()
                .attribute_name(key["AttributeName"].as_str().unwrap())
                .key_type(KeyType::from(key["KeyType"].as_str().unwrap()))
                .build()
                .unwrap(),
        );
    }
    let stream = &definition["StreamSpecification"];
    request = request.stream_specification(
        StreamSpecification::builder()
            .stream_enabled(stream["StreamEnabled"].as_bool().unwrap())
            .stream_view_type(StreamViewType::from(
                stream["StreamViewType"].as_str().unwrap(),
            ))
            .build()
            .unwrap(),
    );
    request.send().await.expect("create table in moto");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(definition["TimeToLiveAttribute"].as_str().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable TTL in moto");
}

impl TestEnv {
    pub async fn start() -> TestEnv {
        Self::start_with(&[]).await
    }

    pub async fn start_with(overrides: &[(&str, &str)]) -> TestEnv {
        Self::start_at(Instant::from_secs(START), overrides).await
    }

    /// [`TestEnv::start_with`] with the manual clock starting at `at`. Tests that involve a
    /// process reading its own wall clock (the push-agent drops expired pushes) start it
    /// at the real time.
    pub async fn start_at(at: Instant, overrides: &[(&str, &str)]) -> TestEnv {
        Self::start_wrapped(at, overrides, |_| {}).await
    }

    /// [`TestEnv::start_at`], letting `wrap` swap the app's ports before the server starts
    /// (round_trips.rs counts the store and SNS calls through wrappers).
    pub async fn start_wrapped(
        at: Instant,
        overrides: &[(&str, &str)],
        wrap: impl FnOnce(&mut App),
    ) -> TestEnv {
        let endpoint = moto_endpoint();
        let table = unique("latchkey");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let secret = latchkey::random::token::<32>(&SystemRandom::new()).unwrap();
        let mut vars: HashMap<String, String> = HashMap::from([
            ("LATCHKEY_TABLE".into(), table.clone()),
            ("LATCHKEY_AWS_ENDPOINT".into(), endpoint.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("LATCHKEY_MASTER_SECRET".into(), secret.clone()),
            // Cheap hashing for tests; the production default is pinned by a unit test.
            ("LATCHKEY_ARGON2_MEMORY_KIB".into(), "256".into()),
            ("LATCHKEY_ARGON2_ITERATIONS".into(), "1".into()),
            ("LATCHKEY_PUBLIC_URL".into(), base.clone()),
            // WebAuthn needs a host name (an IP is never a valid RP id); the soft
            // authenticator in webauthn.rs claims this origin.
            (
                "LATCHKEY_WEBAUTHN_ORIGIN".into(),
                format!("http://localhost:{port}"),
            ),
        ]);
        let probe = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
        let sdk = latchkey::app::aws_sdk_config(&probe).await.unwrap();
        create_table(&sdk, &table).await;
        let topic = aws_sdk_sns::Client::new(&sdk)
            .create_topic()
            .name(unique("push"))
            .attributes("SignatureVersion", "2")
            .send()
            .await
            .expect("create topic in moto");
        let topic_arn = topic.topic_arn().unwrap().to_owned();
        vars.insert("LATCHKEY_PUSH_TOPIC_ARN".into(), topic_arn.clone());
        for (k, v) in overrides {
            vars.insert((*k).into(), (*v).into());
        }
        let config = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
        let clock = Arc::new(ManualClock::new(at));
        let app = Arc::new(
            App::new(
                config.clone(),
                Arc::new(OneCallAtATime {
                    inner: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone()),
                    gate: tokio::sync::Mutex::new(()),
                }),
                Arc::new(SnsNotifier::new(
                    aws_sdk_sns::Client::new(&sdk),
                    Some(topic_arn.clone()),
                )),
                clock.clone(),
                Arc::new(SystemRandom::new()),
            )
            .unwrap(),
        );
        let mut app = app;
        wrap(Arc::get_mut(&mut app).expect("the app is not shared yet"));
        let router = latchkey_functions::dev_server::router(app.clone(), "../web".into());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(latchkey_functions::dev_server::serve_on(
            listener,
            router,
            async {
                let _ = rx.await;
            },
        ));
        TestEnv {
            base,
            http: reqwest::Client::new(),
            clock,
            app,
            topic_arn,
            sdk,
            table,
            master_secret: secret,
            stream: tokio::sync::Mutex::new(None),
            shutdown: Some(tx),
        }
    }

    /// Hands the table's stream records not yet delivered to the security-events handler,
    /// as Lambda's event source mapping does in AWS (and the dev server's poller locally);
    /// returns the batches and the handler's answers. With `again`, everything from the
    /// stream's start is delivered once more, as a retried batch would be.
    pub async fn deliver_stream(&self, bus: &dyn EventBus, again: bool) -> Poll {
        let mut poller = self.stream.lock().await;
        if poller.is_none() {
            *poller = Some(StreamPoller::new(&self.sdk, &self.table).await.unwrap());
        }
        let poller = poller.as_mut().unwrap();
        if again {
            poller.rewind();
        }
        poller.poll(&self.app, bus).await.unwrap()
    }

    /// The user's security log as stored, newest first.
    pub async fn stored_events(&self, username: &str) -> Vec<latchkey::records::Event> {
        use latchkey::records;
        self.app
            .store
            .query_desc(
                &records::events_partition(username),
                records::EVENT_PREFIX,
                50,
            )
            .await
            .unwrap()
            .iter()
            .map(|item| records::decode::<records::Event>(item).unwrap().value)
            .collect()
    }

    /// Registers an authenticator app through `POST /v1/mfa/totp` (with `start` as its
    /// body) and its confirmation; returns the new device's id.
    pub async fn add_totp(&self, token: &str, start: Value) -> String {
        let start = self
            .post_auth("/v1/mfa/totp", token, start)
            .await
            .expect(200);
        let secret = totp_rs::Secret::Encoded(start.body["secret"].as_str().unwrap().to_owned())
            .to_bytes()
            .unwrap();
        let code = totp_rs::TOTP::new_unchecked(
            totp_rs::Algorithm::SHA1,
            6,
            1,
            30,
            secret,
            None,
            String::new(),
        )
        .generate(self.clock.now().secs() as u64);
        let confirmed = self
            .post_auth(
                "/v1/mfa/totp/confirm",
                token,
                json!({ "registration_id": start.body["registration_id"], "code": code }),
            )
            .await
            .expect(201);
        confirmed.body["device"]["id"].as_str().unwrap().to_owned()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        self.call_with_headers(method, path, token, body, &[]).await
    }

    /// [`TestEnv::call`] with extra request headers (a User-Agent, an X-Forwarded-For).
    pub async fn call_with_headers(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("dev server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Response {
            status,
            headers,
            body,
        }
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Response {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        Response {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.call(Method::POST, path, None, Some(body)).await
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn signup(&self, username: &str) {
        self.post(
            "/v1/accounts",
            json!({ "username": username, "password": PASSWORD }),
        )
        .await
        .expect(201);
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post(
            "/v1/login",
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Marks `token`'s session re-authenticated (sudo) with the test password.
    pub async fn reauthenticate(&self, token: &str) {
        self.post_auth(
            "/v1/session/reauthenticate",
            token,
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
    }

    /// A new user's first login: a setup session's token.
    pub async fn signup_and_login(&self, username: &str) -> String {
        self.signup(username).await;
        let r = self.login(username, PASSWORD).await.expect(200);
        assert_eq!(r.body["status"], "mfa_setup_required");
        r.body["session"]["token"].as_str().unwrap().to_owned()
    }
}
