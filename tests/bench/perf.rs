//! Latchkey's benchmark harness, driven by `scripts/bench` (which builds it with the release
//! profile; `cargo test` does not build it). Each subcommand prints one JSON document on
//! stdout; measurements are printed, never asserted.
//!
//! ```text
//! perf cpu [--flows N]                CPU per request per route, in process
//! perf round-trips                    store and SNS requests per route on moto
//!                                     (LATCHKEY_TEST_AWS_ENDPOINT; the pinned test's walk)
//! perf argon2 [--hashes N]            our argon2id hash at the production parameters
//! perf coldstart [--runs N] [--strace DIR] [--env K=V,..] NAME=PATH...
//!                                     exec → first poll of a local Runtime API stand-in
//! perf load --url URL [--concurrency N] [--seconds S] [--password P]
//!                                     password logins per second through a running server
//! perf mixed --url URL ...            mixed traffic with a verdict (scripts/outage,
//!                                     scripts/soak; options in mixed.rs); exits 1 on a failure
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[allow(dead_code)] // the integration tests' soft authenticator; the bench uses part of it
#[path = "../integration/webauthn/authenticator.rs"]
mod authenticator;
// The pinned round-trips test's walk through every route, and the test environment it runs
// in, built here in release so that scripts/bench needs no second (debug) build.
mod mixed;
#[allow(dead_code)]
#[path = "../integration/round_trips.rs"]
mod round_trips;
#[allow(dead_code)]
#[path = "../integration/support.rs"]
mod support;

use latchkey::clock::{Clock, Instant as At, ManualClock};
use latchkey::config::Argon2Params;
use latchkey::notify::RecordingNotifier;
use latchkey::password::PasswordHasher;
use latchkey::random::SystemRandom;
use latchkey::records::{self, Push};
use latchkey::store::memory::MemoryStore;
use latchkey::{App, Config, ROUTES};
use push_agent::crypto::{answer_message, enroll_message, system_random, Decision, DeviceKey};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use totp_rs::{Algorithm, Secret, TOTP};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = args
        .split_first()
        .ok_or("usage: perf cpu|argon2|coldstart|load")?;
    let opts = Opts::parse(rest)?;
    let out = match command.as_str() {
        "cpu" => runtime()?.block_on(cpu(opts.num("flows", 200)?))?,
        "round-trips" => runtime()?.block_on(round_trips::measure()).json(),
        "argon2" => {
            runtime()?.block_on(argon2(opts.num("hashes", 10)?, opts.num("concurrency", 1)?))?
        }
        "coldstart" => coldstart(&opts)?,
        "load" => runtime()?.block_on(load(&opts))?,
        "mixed" => {
            let (report, ok) = runtime()?.block_on(mixed::run(&opts))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !ok {
                std::process::exit(1);
            }
            return Ok(());
        }
        other => return Err(format!("unknown subcommand {other}").into()),
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn runtime() -> Res<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

struct Opts {
    named: BTreeMap<String, String>,
    positional: Vec<String>,
}

impl Opts {
    fn parse(args: &[String]) -> Res<Opts> {
        let mut named = BTreeMap::new();
        let mut positional = Vec::new();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if let Some(name) = arg.strip_prefix("--") {
                let value = iter.next().ok_or(format!("--{name} needs a value"))?;
                named.insert(name.to_owned(), value.clone());
            } else {
                positional.push(arg.clone());
            }
        }
        Ok(Opts { named, positional })
    }
    fn num(&self, name: &str, default: usize) -> Res<usize> {
        match self.named.get(name) {
            Some(v) => Ok(v.parse().map_err(|_| format!("--{name}: not a number"))?),
            None => Ok(default),
        }
    }
    fn text(&self, name: &str) -> Option<&str> {
        self.named.get(name).map(String::as_str)
    }
}

fn median(values: &mut [f64]) -> f64 {
    percentile(values, 0.5)
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index]
}

// ---------------------------------------------------------------------------------------
// CPU per request: every route in process, store in memory, cheapest argon2.

const SECRET: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const PASSWORD: &str = "correct horse battery";
const ORIGIN: &str = "http://localhost:8080";
const EVENT: &str = include_str!("../fixtures/apigw-v2-event.json");

struct Bench {
    app: App,
    clock: Arc<ManualClock>,
    samples: BTreeMap<(&'static str, &'static str), Vec<f64>>,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn text(&self, pointer: &str) -> Res<String> {
        Ok(self
            .body
            .pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{pointer} missing in {}", self.body))?
            .to_owned())
    }
    fn expect(self, status: u16) -> Res<Answer> {
        if self.status == status {
            Ok(self)
        } else {
            Err(format!("expected {status}, got {}: {}", self.status, self.body).into())
        }
    }
}

fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Res<lambda_http::Request> {
    let mut event: Value = serde_json::from_str(EVENT)?;
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    if let Some(token) = token {
        event["headers"]["authorization"] = json!(format!("Bearer {token}"));
    }
    if let Some(id) = path.strip_prefix("/v1/mfa/devices/") {
        event["pathParameters"] = json!({ "id": id });
    }
    event["body"] = body.map_or(Value::Null, |b| json!(b.to_string()));
    Ok(lambda_http::request::from_str(&event.to_string())?)
}

impl Bench {
    fn new() -> Res<Bench> {
        let vars: BTreeMap<&str, &str> = BTreeMap::from([
            ("LATCHKEY_MASTER_SECRET", SECRET),
            // The cheapest argon2id there is: this figure is about our code.
            ("LATCHKEY_ARGON2_MEMORY_KIB", "8"),
            ("LATCHKEY_ARGON2_ITERATIONS", "1"),
            ("LATCHKEY_PUBLIC_URL", ORIGIN),
            (
                "LATCHKEY_PUSH_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:bench",
            ),
        ]);
        let config = Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned()))
            .map_err(|e| format!("config: {e:?}"))?;
        let clock = Arc::new(ManualClock::new(At::from_secs(1_795_860_015)));
        let app = App::new(
            config,
            Arc::new(MemoryStore::new()),
            Arc::new(RecordingNotifier::default()),
            clock.clone(),
            Arc::new(SystemRandom::new()),
        )
        .map_err(|e| format!("app: {e:?}"))?;
        Ok(Bench {
            app,
            clock,
            samples: BTreeMap::new(),
        })
    }

    /// Calls `function` through the same `handle` every entry point uses; `case` names the
    /// sample, or `None` for set-up calls that are not measured.
    /// An untimed password step: the mfa_token a second-factor route needs.
    async fn mfa_token(&mut self, login: &Value) -> Res<String> {
        self.call("login", None, None, None, Some(login.clone()))
            .await?
            .expect(200)?
            .text("/mfa_token")
    }

    async fn call(
        &mut self,
        function: &'static str,
        case: Option<&'static str>,
        token: Option<&str>,
        path_override: Option<&str>,
        body: Option<Value>,
    ) -> Res<Answer> {
        let route = ROUTES
            .iter()
            .find(|r| r.function == function)
            .ok_or_else(|| format!("no route {function}"))?;
        let path = path_override.unwrap_or(route.path);
        let request = request(route.method, path, token, body.as_ref())?;
        let started = Instant::now();
        let response = latchkey::handle(&self.app, route.operation, request).await;
        let micros = started.elapsed().as_secs_f64() * 1e6;
        if let Some(case) = case {
            self.samples
                .entry((function, case))
                .or_default()
                .push(micros);
        }
        let status = response.status().as_u16();
        let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    fn now(&self) -> i64 {
        self.clock.now().secs()
    }

    /// One user's whole life, every route at least once, in the order round_trips.rs uses.
    async fn flow(&mut self, n: usize, measure: bool) -> Res<()> {
        let m = |case: &'static str| measure.then_some(case);
        let user = format!("cpu-{n}");
        let login = json!({ "username": user, "password": PASSWORD });

        self.call(
            "create-account",
            m("new account"),
            None,
            None,
            Some(login.clone()),
        )
        .await?
        .expect(201)?;
        let r = self
            .call(
                "login",
                m("password, MFA setup pending"),
                None,
                None,
                Some(login.clone()),
            )
            .await?
            .expect(200)?;
        let token = r.text("/session/token")?;
        let t = Some(token.as_str());
        self.call(
            "login",
            m("wrong password"),
            None,
            None,
            Some(json!({ "username": user, "password": "wrong password" })),
        )
        .await?
        .expect(401)?;
        self.call("me", m("setup session"), t, None, None)
            .await?
            .expect(200)?;
        self.call("get-mfa", m("setup session"), t, None, None)
            .await?
            .expect(200)?;

        let r = self
            .call(
                "start-totp-registration",
                m("first device"),
                t,
                None,
                Some(json!({})),
            )
            .await?
            .expect(200)?;
        let secret = r.text("/secret")?;
        let code = totp_code(&secret, self.now())?;
        let r = self
            .call(
                "confirm-totp-registration",
                m("first device"),
                t,
                None,
                Some(json!({ "registration_id": r.text("/registration_id")?, "code": code })),
            )
            .await?
            .expect(201)?;
        let device_path = format!("/v1/mfa/devices/{}", r.text("/device/id")?);

        self.call("list-events", m("full session"), t, None, None)
            .await?
            .expect(200)?;
        self.call(
            "rename-device",
            m("totp"),
            t,
            Some(&device_path),
            Some(json!({ "name": "Phone" })),
        )
        .await?
        .expect(200)?;
        self.call(
            "update-mfa-settings",
            m("unchanged"),
            t,
            None,
            Some(json!({ "mfa_enabled": true, "password": PASSWORD })),
        )
        .await?
        .expect(200)?;
        let r = self
            .call(
                "regenerate-recovery-codes",
                m("full session"),
                t,
                None,
                None,
            )
            .await?
            .expect(200)?;
        let recovery_code = r.text("/codes/0")?;

        let r = self
            .call(
                "login",
                m("password, MFA required"),
                None,
                None,
                Some(login.clone()),
            )
            .await?
            .expect(200)?;
        let mfa = r.text("/mfa_token")?;
        self.clock.advance_secs(30);
        let code = totp_code(&secret, self.now())?;
        self.call(
            "login-totp",
            m("right code"),
            None,
            None,
            Some(json!({ "mfa_token": mfa, "code": code })),
        )
        .await?
        .expect(200)?;
        let mfa = self.mfa_token(&login).await?;
        let wrong = if totp_code(&secret, self.now())? == "000000" {
            "111111"
        } else {
            "000000"
        };
        self.call(
            "login-totp",
            m("wrong code"),
            None,
            None,
            Some(json!({ "mfa_token": mfa, "code": wrong })),
        )
        .await?
        .expect(401)?;
        self.call(
            "login-recovery-code",
            m("right code"),
            None,
            None,
            Some(json!({ "mfa_token": mfa, "code": recovery_code })),
        )
        .await?
        .expect(200)?;

        let r = self
            .call(
                "start-push-registration",
                m("second device"),
                t,
                None,
                Some(json!({})),
            )
            .await?
            .expect(200)?;
        let uri = push_agent::uri::parse(&r.text("/registration_uri")?)?;
        let key = DeviceKey::generate(&system_random())?;
        let public_key = key.public_key_b64();
        let signature = key.sign(
            &system_random(),
            enroll_message(&uri.registration_id, &public_key).as_bytes(),
        )?;
        let r = self
            .call(
                "push-enroll",
                m("second device"),
                None,
                None,
                Some(json!({
                    "registration_id": uri.registration_id,
                    "secret": uri.secret.expose(),
                    "public_key": public_key,
                    "endpoint": "https://push.example.com/sns",
                    "signature": signature,
                })),
            )
            .await?
            .expect(201)?;
        let push_device = r.text("/device_id")?;
        let mfa = self.mfa_token(&login).await?;
        let r = self
            .call(
                "login-push",
                m("push sent"),
                None,
                None,
                Some(json!({ "mfa_token": mfa })),
            )
            .await?
            .expect(202)?;
        let (push_id, number) = (r.text("/push_id")?, r.text("/number")?);
        let status = json!({ "mfa_token": mfa, "push_id": push_id });
        self.call(
            "login-push-status",
            m("pending"),
            None,
            None,
            Some(status.clone()),
        )
        .await?
        .expect(200)?;
        let push = records::load::<Push>(self.app.store.as_ref(), &records::push_key(&push_id))
            .await
            .map_err(|e| format!("{e:?}"))?
            .ok_or("push not stored")?
            .value;
        let answer = answer_message(&push_id, &push.challenge, Decision::Approve, Some(&number));
        self.call(
            "push-respond",
            m("approve, right number"),
            None,
            None,
            Some(json!({
                "push_id": push_id,
                "device_id": push_device,
                "decision": "approve",
                "number": number,
                "signature": key.sign(&system_random(), answer.as_bytes())?,
            })),
        )
        .await?
        .expect(200)?;
        self.call("login-push-status", m("approved"), None, None, Some(status))
            .await?
            .expect(200)?;

        let mut holder = authenticator::SoftAuthenticator::new(ORIGIN);
        let r = self
            .call(
                "start-webauthn-registration",
                m("first key"),
                t,
                None,
                Some(json!({})),
            )
            .await?
            .expect(200)?;
        let credential = holder
            .create(&r.body["publicKey"])
            .map_err(|_| "excluded")?;
        self.call(
            "confirm-webauthn-registration",
            m("first key"),
            t,
            None,
            Some(
                json!({ "registration_id": r.text("/registration_id")?, "credential": credential }),
            ),
        )
        .await?
        .expect(201)?;
        let mfa = self.mfa_token(&login).await?;
        let r = self
            .call(
                "login-webauthn-start",
                m("one key"),
                None,
                None,
                Some(json!({ "mfa_token": mfa })),
            )
            .await?
            .expect(200)?;
        let assertion = holder.get(&r.body["publicKey"]);
        self.call(
            "login-webauthn-finish",
            m("right key"),
            None,
            None,
            Some(json!({ "mfa_token": mfa, "credential": assertion })),
        )
        .await?
        .expect(200)?;

        self.call(
            "remove-device",
            m("push device"),
            t,
            Some(&format!("/v1/mfa/devices/{push_device}")),
            Some(json!({ "password": PASSWORD })),
        )
        .await?
        .expect(200)?;
        let r = self
            .call("logout", m("full session"), t, None, None)
            .await?;
        if r.status != 204 {
            return Err(format!("logout: {}", r.status).into());
        }
        Ok(())
    }
}

fn totp_code(secret_base32: &str, unix_secs: i64) -> Res<String> {
    let bytes = Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .map_err(|e| format!("{e:?}"))?;
    Ok(
        TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new())
            .generate(unix_secs as u64),
    )
}

async fn cpu(flows: usize) -> Res<Value> {
    let mut bench = Bench::new()?;
    let warmup = (flows / 10).max(3);
    for n in 0..warmup {
        bench.flow(n, false).await?;
    }
    for n in warmup..warmup + flows {
        bench.flow(n, true).await?;
    }
    // What the cheapest argon2 itself costs, to read the password routes' figures.
    let hasher = PasswordHasher::new(bench.app.config.argon2, &SystemRandom::new())
        .map_err(|e| format!("{e:?}"))?;
    let mut hash_us: Vec<f64> = time_hashes(&hasher, 200)
        .await?
        .into_iter()
        .map(|seconds| seconds * 1e6)
        .collect();
    // The QR codes inside the two registration answers, alone: the heaviest part of them.
    let push_uri = format!(
        "latchkey-push://enroll?api=https%3A%2F%2Fmfa.example.com&rid={}&secret={}&user=cpu-user&issuer=Latchkey&server_key={}",
        "A".repeat(22),
        "B".repeat(43),
        "C".repeat(43)
    );
    let totp_uri =
        "otpauth://totp/Latchkey:cpu-user?secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&issuer=Latchkey";
    let mut qr = BTreeMap::new();
    for (name, uri) in [
        ("push registration URI", push_uri.as_str()),
        ("otpauth URI", totp_uri),
    ] {
        let mut us = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            let svg = latchkey::domain::totp::qr_svg(uri).map_err(|e| format!("{e:?}"))?;
            us.push(started.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(svg);
        }
        qr.insert(name, median(&mut us));
    }
    let routes: Vec<Value> = bench
        .samples
        .iter_mut()
        .map(|((function, case), samples)| {
            json!({
                "function": function,
                "case": case,
                "n": samples.len(),
                "median_us": median(samples),
                "p90_us": percentile(samples, 0.9),
            })
        })
        .collect();
    Ok(json!({
        "flows": flows,
        "argon2": { "memory_kib": 8, "iterations": 1, "median_us": median(&mut hash_us) },
        "qr_svg_median_us": qr,
        "routes": routes,
    }))
}

// ---------------------------------------------------------------------------------------
// Argon2 at the production parameters, through our PasswordHasher.

/// `concurrency` tasks each hash `hashes` times at once (on the blocking pool, as logins
/// do): with one, the time of a hash; with one per core, the rate the machine sustains,
/// which is the ceiling for password logins (parallel hashes share the caches and the
/// memory bus, so it is below cores × the single rate).
async fn argon2(hashes: usize, concurrency: usize) -> Res<Value> {
    let params = Argon2Params::OWASP;
    let hasher =
        Arc::new(PasswordHasher::new(params, &SystemRandom::new()).map_err(|e| format!("{e:?}"))?);
    let run = |count: usize| {
        let hasher = hasher.clone();
        async move {
            let seconds = time_hashes(&hasher, count).await?;
            Ok::<_, String>(seconds.into_iter().map(|s| s * 1e3).collect::<Vec<f64>>())
        }
    };
    // One untimed round: first-touch page faults of the 19 MiB are not a steady-state cost.
    futures::future::try_join_all((0..concurrency.max(1)).map(|_| run(1))).await?;
    let started = Instant::now();
    let mut ms: Vec<f64> =
        futures::future::try_join_all((0..concurrency.max(1)).map(|_| run(hashes)))
            .await?
            .into_iter()
            .flatten()
            .collect();
    let seconds = started.elapsed().as_secs_f64();
    let min = ms.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(json!({
        "memory_kib": params.memory_kib,
        "iterations": params.iterations,
        "parallelism": params.parallelism,
        "concurrency": concurrency,
        "hashes_per_second": ms.len() as f64 / seconds,
        "samples_ms": ms.clone(),
        "median_ms": median(&mut ms),
        "min_ms": min,
    }))
}

/// The seconds each of `count` password hashes took, one after another.
async fn time_hashes(hasher: &PasswordHasher, count: usize) -> Result<Vec<f64>, String> {
    let mut seconds = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        hasher
            .hash(PASSWORD, &SystemRandom::new())
            .await
            .map_err(|e| format!("{e:?}"))?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    Ok(seconds)
}

// ---------------------------------------------------------------------------------------
// Cold start: exec → first `GET /2018-06-01/runtime/invocation/next`.

const NEXT: &str = "GET /2018-06-01/runtime/invocation/next";

/// Accepts connections on `listener` and reports when each one's request line arrives.
fn runtime_api(listener: TcpListener) -> mpsc::Receiver<(Instant, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(2).any(|w| w == b"\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let at = Instant::now();
            let line = String::from_utf8_lossy(&got)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            // The connection is held until the process is killed, as Lambda holds a poll.
            std::thread::spawn(move || {
                let mut sink = [0u8; 1024];
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            });
            if tx.send((at, line)).is_err() {
                return;
            }
        }
    });
    rx
}

/// Counts connections to where the AWS SDK is pointed: any during init is a network call.
fn counting_endpoint(listener: TcpListener, count: Arc<AtomicU64>) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            count.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
}

fn lambda_env(api: &str, name: &str, aws_endpoint: Option<&str>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("PATH", "/usr/bin:/bin"),
        ("AWS_LAMBDA_RUNTIME_API", api),
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/28/[$LATEST]bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDBENCHBENCHBENCH0"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "benchbenchbenchbenchbenchbenchbenchbench",
        ),
        ("AWS_SESSION_TOKEN", "bench"),
        ("LATCHKEY_TABLE", "latchkey"),
        (
            "LATCHKEY_PUSH_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:latchkey-push",
        ),
        ("LATCHKEY_MASTER_SECRET", SECRET),
        ("LATCHKEY_PUBLIC_URL", "https://mfa.example.com"),
        ("LATCHKEY_WEBAUTHN_RP_ID", "mfa.example.com"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    if let Some(endpoint) = aws_endpoint {
        env.push(("LATCHKEY_AWS_ENDPOINT".into(), endpoint.into()));
    }
    env
}

fn coldstart(opts: &Opts) -> Res<Value> {
    let runs = opts.num("runs", 20)?;
    let bins: Vec<(String, String)> = opts
        .positional
        .iter()
        .map(|spec| {
            spec.split_once('=')
                .map(|(n, p)| (n.to_owned(), p.to_owned()))
                .ok_or_else(|| format!("expected NAME=PATH, got {spec}"))
        })
        .collect::<Result<_, _>>()?;
    let api_listener = TcpListener::bind("127.0.0.1:0")?;
    let api = api_listener.local_addr()?.to_string();
    let polls = runtime_api(api_listener);
    let aws_listener = TcpListener::bind("127.0.0.1:0")?;
    let aws_endpoint = format!("http://{}", aws_listener.local_addr()?);
    let aws_connections = Arc::new(AtomicU64::new(0));
    counting_endpoint(aws_listener, aws_connections.clone());

    // Extra variables for every start (experiments, e.g. SSL_CERT_FILE=...).
    let extra: Vec<(String, String)> = opts
        .text("env")
        .map(|list| {
            list.split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut network: BTreeMap<String, u64> = BTreeMap::new();
    // Round robin, so load from other processes on the machine hits every binary alike.
    for run in 0..runs + 2 {
        for (name, path) in &bins {
            let before = aws_connections.load(Ordering::SeqCst);
            let mut command = Command::new(path);
            command
                .env_clear()
                .envs(lambda_env(&api, name, Some(&aws_endpoint)))
                .envs(extra.iter().cloned())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let started = Instant::now();
            let mut process = command.spawn()?;
            let deadline = started + Duration::from_secs(20);
            let polled = loop {
                match polls.recv_timeout(Duration::from_millis(50)) {
                    Ok((at, line)) if line.starts_with(NEXT) => break Some(at),
                    Ok((_, line)) => {
                        let _ = process.kill();
                        return Err(format!("{name}: unexpected first request {line:?}").into());
                    }
                    Err(_) => {
                        if let Some(status) = process.try_wait()? {
                            return Err(
                                format!("{name} exited with {status} before polling").into()
                            );
                        }
                        if Instant::now() > deadline {
                            break None;
                        }
                    }
                }
            };
            let _ = process.kill();
            let _ = process.wait();
            let polled = polled.ok_or_else(|| format!("{name} never polled the Runtime API"))?;
            // The first two rounds warm the page cache and are not counted.
            if run >= 2 {
                times
                    .entry(name.clone())
                    .or_default()
                    .push((polled - started).as_secs_f64() * 1e3);
            }
            *network.entry(name.clone()).or_default() +=
                aws_connections.load(Ordering::SeqCst) - before;
        }
    }

    let traced = match opts.text("strace") {
        Some(dir) => Some(strace_connects(&bins, &api, dir, &polls)?),
        None => None,
    };
    let results: Vec<Value> = bins
        .iter()
        .map(|(name, _)| {
            let samples = times.get_mut(name).map(std::mem::take).unwrap_or_default();
            let mut sorted = samples.clone();
            json!({
                "name": name,
                "runs": samples.len(),
                "median_ms": median(&mut sorted),
                "p90_ms": percentile(&mut sorted, 0.9),
                "min_ms": sorted.first().copied(),
                "aws_connections_during_init": network.get(name),
                "connects_outside_runtime_api": traced.as_ref().and_then(|t| t.get(name)),
            })
        })
        .collect();
    Ok(json!({ "runs": runs, "binaries": results }))
}

/// One more start of each binary under `strace -f -e trace=connect`, with the production
/// configuration (no LATCHKEY_AWS_ENDPOINT: the SDK would go to real AWS). Counts connect()
/// calls to anything but the Runtime API stand-in before the first poll.
fn strace_connects(
    bins: &[(String, String)],
    api: &str,
    dir: &str,
    polls: &mpsc::Receiver<(Instant, String)>,
) -> Res<BTreeMap<String, u64>> {
    std::fs::create_dir_all(dir)?;
    let port = api.rsplit(':').next().unwrap_or_default();
    let mut out = BTreeMap::new();
    for (name, path) in bins {
        let trace = format!("{dir}/{name}.strace");
        let mut process = Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=connect", "-o", &trace, path])
            .env_clear()
            .envs(lambda_env(api, name, None))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let polled = polls.recv_timeout(Duration::from_secs(30)).is_ok();
        let _ = process.kill();
        let _ = process.wait();
        if !polled {
            return Err(format!("{name} under strace never polled").into());
        }
        let text = std::fs::read_to_string(&trace)?;
        let others = text
            .lines()
            .filter(|l| l.contains("connect("))
            .filter(|l| !l.contains(&format!("sin_port=htons({port})")))
            .count() as u64;
        out.insert(name.clone(), others);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Load: password logins through a running dev server.

async fn load(opts: &Opts) -> Res<Value> {
    let url = opts
        .text("url")
        .ok_or("--url is required")?
        .trim_end_matches('/')
        .to_owned();
    let concurrency = opts.num("concurrency", 4)?;
    let seconds = opts.num("seconds", 20)? as u64;
    let password = opts.text("password").unwrap_or(PASSWORD).to_owned();
    let prefix = opts.text("prefix").unwrap_or("load").to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;

    // One user per client (logins of one user would queue on its profile's version), each
    // with an authenticator app, as every account has after its first login: the password
    // step then reads the profile and writes one item (the mfa_token).
    let mut users = Vec::new();
    for k in 0..concurrency {
        let user = format!("{prefix}-{k}");
        let credentials = json!({ "username": user, "password": password });
        let post = |path: &str, token: Option<&str>, body: &Value| {
            let mut request = client.post(format!("{url}{path}")).json(body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        let r = post("/v1/accounts", None, &credentials).await?;
        if r.status().as_u16() != 201 {
            return Err(format!("create {user}: {}", r.status()).into());
        }
        let r: Value = post("/v1/login", None, &credentials).await?.json().await?;
        let token = r["session"]["token"]
            .as_str()
            .ok_or("no setup session")?
            .to_owned();
        let r: Value = post("/v1/mfa/totp", Some(&token), &json!({}))
            .await?
            .json()
            .await?;
        let secret = r["secret"].as_str().ok_or("no TOTP secret")?;
        let code = totp_code(secret, latchkey::clock::SystemClock.now().secs())?;
        let confirm = json!({ "registration_id": r["registration_id"], "code": code });
        let r = post("/v1/mfa/totp/confirm", Some(&token), &confirm).await?;
        if r.status().as_u16() != 201 {
            return Err(format!("TOTP for {user}: {}", r.status()).into());
        }
        let r: Value = post("/v1/login", None, &credentials).await?.json().await?;
        if r["status"] != "mfa_required" {
            return Err(format!("{user} login: {r}").into());
        }
        users.push(user);
    }

    let cpu_before = cpu_seconds_self();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for user in users {
        let client = client.clone();
        let url = url.clone();
        let password = password.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let body = json!({ "username": user, "password": password });
            while Instant::now() < deadline {
                let t = Instant::now();
                match client
                    .post(format!("{url}/v1/login"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 200 => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = latencies.len();
    Ok(json!({
        "concurrency": concurrency,
        "seconds": elapsed,
        "logins": ok,
        "errors": errors,
        "logins_per_second": ok as f64 / elapsed,
        "p50_ms": percentile(&mut latencies, 0.5),
        "p99_ms": percentile(&mut latencies, 0.99),
        "client_cpu_seconds": cpu_seconds_self() - cpu_before,
    }))
}

/// This process's user + system CPU seconds, from /proc.
fn cpu_seconds_self() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}
