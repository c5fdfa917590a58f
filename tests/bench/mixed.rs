//! `perf mixed`: mixed traffic through a running server, for scripts/outage and scripts/soak.
//!
//! Accounts are made first (TOTP, WebAuthn with the tests' soft authenticator, push with the
//! real `push-agent` process), then workers run flows until the time is up: logins with each
//! second factor, recovery-code logins, settings changes and (with `--signups`) new
//! accounts. Every answer is recorded, and a ledger keeps what the server said succeeded:
//! accounts made, sessions handed out and ended, device names, MFA on or off, recovery
//! codes left. An answer that was neither yes nor no (a 5xx, a dropped connection) makes the
//! value it touched "either": such a write may land later (the store ran it after we gave up).
//! After the run the ledger is checked against the server (and each stored item against the
//! store's item format), and the verdict printed; the caller exits non-zero on a failure.
//!
//! ```text
//! perf mixed --url URL --origin ORIGIN [--seconds S] [--workers W] [--prefix P]
//!     [--totp-accounts N] [--webauthn-accounts N] [--push-accounts N --push-agent PATH]
//!     [--push-spacing S] [--signups 1] [--keep-every N]
//!     [--server-pid PID] [--table T --aws-endpoint URL] [--sweep 1 [--sweep-keep S]]
//!     [--moto-pid PID --outage-at S --outage-seconds S --grace S]
//! ```

use crate::authenticator::SoftAuthenticator;
use crate::{percentile, totp_code, Opts, Res, PASSWORD};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as the client saw it: seconds since the run's start.
#[derive(Clone)]
struct Sample {
    label: &'static str,
    sent: f64,
    answered: f64,
    /// 0: no HTTP answer (connection refused or reset, or the client's 30 s timeout).
    status: u16,
    code: Option<String>,
    retry_after: bool,
}

/// How a flow ended when it did not succeed.
enum Stop {
    /// A 5xx or no answer: whatever the request would have changed may or may not be done.
    Unsure,
    /// An answer the flow did not expect: a failure of the run.
    Wrong(String),
}

type Flow<T> = Result<T, Stop>;

struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn expect(self, status: u16, what: &str) -> Flow<Value> {
        if self.status == status {
            Ok(self.body)
        } else if self.status == 0 || self.status >= 500 {
            Err(Stop::Unsure)
        } else {
            Err(Stop::Wrong(format!(
                "{what}: expected {status}, got {} {}",
                self.status, self.body
            )))
        }
    }
}

fn text(body: &Value, pointer: &str) -> Flow<String> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Stop::Wrong(format!("{pointer} missing in {body}")))
}

/// A value the server was told to take, as far as the client can know it.
#[derive(Clone, Debug)]
struct Known<T>(Vec<T>);

impl<T: PartialEq + Clone> Known<T> {
    fn is(value: T) -> Self {
        Known(vec![value])
    }
    /// A write of `value` whose answer never came: it may or may not have landed.
    fn maybe(&mut self, value: T) {
        if !self.0.contains(&value) {
            self.0.push(value);
        }
    }
    fn allows(&self, value: &T) -> bool {
        self.0.contains(value)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Live {
    Yes,
    Ended,
    Unsure,
}

enum Factor {
    Totp {
        secret: String,
        last_step: u64,
    },
    Webauthn(SoftAuthenticator),
    Push(Box<PushAgent>),
    /// Made by a signup flow: no device, the next login is mfa_setup_required.
    None,
}

struct Account {
    username: String,
    factor: Factor,
    /// A full session made at set-up and never ended: the settings flows use it.
    keeper: Option<String>,
    device_id: String,
    device_name: Known<String>,
    mfa_enabled: Known<bool>,
    /// Unused recovery codes, when the client knows them all.
    recovery: Option<Vec<String>>,
    sessions: Vec<(String, Live)>,
    /// Not used before this (an unsure write may still be waiting in the store).
    quiet_until: Instant,
    pushes: Vec<Instant>,
}

impl Account {
    fn new(username: String, factor: Factor) -> Self {
        Account {
            username,
            factor,
            keeper: None,
            device_id: String::new(),
            device_name: Known(Vec::new()),
            mfa_enabled: Known::is(true),
            recovery: None,
            sessions: Vec::new(),
            quiet_until: Instant::now(),
            pushes: Vec::new(),
        }
    }
}

/// A running `push-agent`, enrolled; killed on drop.
struct PushAgent {
    binary: String,
    state: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

/// A flow's kind, when it started and ended (seconds since the start), and how it ended.
type FlowRecord = (&'static str, f64, f64, Result<(), String>);

struct Shared {
    http: reqwest::Client,
    url: String,
    started: Instant,
    samples: Mutex<Vec<Sample>>,
    /// Accounts not in use; a worker takes one out for a flow and puts it back.
    pool: Mutex<Vec<Account>>,
    /// Accounts the run made that have left the pool for good (signups after their flow).
    done: Mutex<Vec<Account>>,
    flows: Mutex<Vec<FlowRecord>>,
    outage: Option<Outage>,
    counter: std::sync::atomic::AtomicU64,
    keep_every: u64,
    origin: String,
    push_spacing: Duration,
}

#[derive(Clone, Copy)]
struct Outage {
    at: Duration,
    length: Duration,
    grace: Duration,
}

impl Shared {
    fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn next(&self) -> u64 {
        self.counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    async fn call(
        &self,
        label: &'static str,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("user-agent", "latchkey-mixed/1");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let sent = self.now();
        let (status, body, retry_after) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                let bytes = response.bytes().await.unwrap_or_default();
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                (status, body, retry_after)
            }
            Err(_) => (0, Value::Null, false),
        };
        let code = body
            .pointer("/error/code")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.samples.lock().unwrap().push(Sample {
            label,
            sent,
            answered: self.now(),
            status,
            code,
            retry_after,
        });
        Reply { status, body }
    }

    async fn post(
        &self,
        label: &'static str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Reply {
        self.call(label, reqwest::Method::POST, path, token, Some(&body))
            .await
    }

    /// A step of a login (no session yet) that answers 200.
    async fn login_step(&self, label: &'static str, path: &str, body: Value) -> Flow<Value> {
        self.post(label, path, None, body).await.expect(200, label)
    }

    async fn get(&self, label: &'static str, path: &str, token: &str) -> Reply {
        self.call(label, reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// When an account whose write went unanswered may be used again: after the outage
    /// and its grace, when the store has worked off what it had queued.
    fn settle_time(&self) -> Instant {
        match self.outage {
            Some(o) => (self.started + o.at + o.length + o.grace).max(Instant::now()),
            None => Instant::now(),
        }
    }
}

fn unix_now() -> u64 {
    use latchkey::clock::Clock;
    u64::try_from(latchkey::clock::SystemClock.now().secs()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Set-up: accounts with one device each, and a full keeper session.

async fn signup_session(s: &Shared, username: &str) -> Res<String> {
    let credentials = json!({ "username": username, "password": PASSWORD });
    s.post("create-account", "/v1/accounts", None, credentials.clone())
        .await
        .expect(201, "sign-up")
        .map_err(stop_text)?;
    let r = s
        .post("login", "/v1/login", None, credentials)
        .await
        .expect(200, "first login")
        .map_err(stop_text)?;
    text(&r, "/session/token").map_err(stop_text)
}

/// A new account's setup session and the start of its first device's registration.
async fn first_device(
    s: &Shared,
    username: &str,
    label: &'static str,
    path: &str,
) -> Res<(String, Value)> {
    let token = signup_session(s, username).await?;
    let r = s
        .post(label, path, Some(&token), json!({}))
        .await
        .expect(200, label)
        .map_err(stop_text)?;
    Ok((token, r))
}

fn stop_text(stop: Stop) -> Box<dyn std::error::Error + Send + Sync> {
    match stop {
        Stop::Unsure => "the server answered 5xx or not at all during set-up".into(),
        Stop::Wrong(why) => why.into(),
    }
}

async fn totp_account(s: &Shared, username: String) -> Res<Account> {
    let (token, r) = first_device(s, &username, "start-totp-registration", "/v1/mfa/totp").await?;
    let secret = text(&r, "/secret").map_err(stop_text)?;
    let now = unix_now();
    let code = totp_code(&secret, now as i64)?;
    let confirm = json!({ "registration_id": r["registration_id"], "code": code });
    let factor = Factor::Totp {
        secret,
        last_step: now / 30,
    };
    let path = "/v1/mfa/totp/confirm";
    confirmed(s, Account::new(username, factor), token, path, confirm).await
}

/// Confirms the first device's registration: the account with its device, its recovery
/// codes and its (now full) session.
async fn confirmed(
    s: &Shared,
    mut account: Account,
    token: String,
    path: &str,
    body: Value,
) -> Res<Account> {
    let r = s
        .post("confirm-registration", path, Some(&token), body)
        .await
        .expect(201, path)
        .map_err(stop_text)?;
    account.device_id = text(&r, "/device/id").map_err(stop_text)?;
    account.device_name = Known::is(text(&r, "/device/name").map_err(stop_text)?);
    account.recovery = Some(codes(&r["recovery_codes"]));
    account.keeper = Some(token);
    Ok(account)
}

fn codes(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

async fn webauthn_account(s: &Shared, username: String) -> Res<Account> {
    let (token, r) = first_device(
        s,
        &username,
        "start-webauthn-registration",
        "/v1/mfa/webauthn",
    )
    .await?;
    let mut authenticator = SoftAuthenticator::new(&s.origin);
    let credential = authenticator
        .create(&r["publicKey"])
        .map_err(|_| "the soft authenticator was excluded")?;
    let body = json!({ "registration_id": r["registration_id"], "credential": credential });
    let account = Account::new(username, Factor::Webauthn(authenticator));
    confirmed(s, account, token, "/v1/mfa/webauthn/confirm", body).await
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn push_account(s: &Shared, username: String, binary: &str) -> Res<Account> {
    let (token, r) = first_device(s, &username, "start-push-registration", "/v1/mfa/push").await?;
    let uri = text(&r, "/registration_uri").map_err(stop_text)?;
    let dir = tempfile::Builder::new()
        .prefix("latchkey-mixed-")
        .tempdir()?;
    let state = dir.path().join("state.json");
    let port = free_port()?;
    let stdout = dir.path().join("stdout");
    let child = tokio::process::Command::new(binary)
        .arg("enroll")
        .arg(&uri)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://127.0.0.1:{port}/")])
        .arg("--state")
        .arg(&state)
        .args(["--control", "127.0.0.1:0"])
        .args(["--insecure-skip-sns-signature", "--no-prompt"])
        .env_remove("LATCHKEY_PUSH_STATE")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&stdout)?)
        .stderr(std::fs::File::create(dir.path().join("stderr"))?)
        .kill_on_drop(true)
        .spawn()?;
    // It prints the device id once enrolled and listening.
    let deadline = Instant::now() + Duration::from_secs(30);
    let device_id = loop {
        let out = std::fs::read_to_string(&stdout).unwrap_or_default();
        if let Some(line) = out.lines().next().filter(|_| out.ends_with('\n')) {
            break line.trim().to_owned();
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
            return Err(format!("push-agent did not enroll {username}: {log}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let r = s
        .get("get-mfa", "/v1/mfa", &token)
        .await
        .expect(200, "GET /v1/mfa after enrolling")
        .map_err(stop_text)?;
    let name = r["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["id"] == device_id.as_str()))
        .and_then(|d| d["name"].as_str())
        .ok_or("the enrolled push device is not listed")?
        .to_owned();
    let mut account = Account::new(
        username,
        Factor::Push(Box::new(PushAgent {
            binary: binary.to_owned(),
            state,
            _dir: dir,
            _child: child,
        })),
    );
    account.device_id = device_id;
    account.device_name = Known::is(name);
    account.keeper = Some(token);
    Ok(account)
}

// ---------------------------------------------------------------------------------------
// Flows. Each takes an account out of the pool (the caller) and returns it changed.

/// The password step; `Ok(None)` when MFA was off and the session came at once.
async fn password_step(s: &Shared, a: &mut Account) -> Flow<Option<String>> {
    let body = json!({ "username": a.username, "password": PASSWORD });
    let r = s
        .post("login", "/v1/login", None, body)
        .await
        .expect(200, "password login")?;
    match r["status"].as_str() {
        Some("mfa_required") if a.mfa_enabled.allows(&true) => {
            a.mfa_enabled = Known::is(true);
            Ok(Some(text(&r, "/mfa_token")?))
        }
        Some("authenticated") if a.mfa_enabled.allows(&false) => {
            a.mfa_enabled = Known::is(false);
            a.sessions.push((text(&r, "/session/token")?, Live::Yes));
            Ok(None)
        }
        _ => Err(Stop::Wrong(format!(
            "password login of {} (MFA {:?}): {r}",
            a.username, a.mfa_enabled.0
        ))),
    }
}

/// A session from a second factor: used once, then ended (or kept, one in `keep_every`).
async fn use_session(s: &Shared, a: &mut Account, answer: &Value) -> Flow<()> {
    let token = text(answer, "/session/token")?;
    a.sessions.push((token.clone(), Live::Yes));
    let r = s
        .get("me", "/v1/me", &token)
        .await
        .expect(200, "GET /v1/me")?;
    if r["username"] != a.username.as_str() || r["scope"] != "full" {
        return Err(Stop::Wrong(format!("GET /v1/me of {}: {r}", a.username)));
    }
    end_session(s, a, &token).await
}

async fn end_session(s: &Shared, a: &mut Account, token: &str) -> Flow<()> {
    if s.keep_every > 0 && s.next().is_multiple_of(s.keep_every) {
        return Ok(());
    }
    let outcome = s
        .post("logout", "/v1/logout", Some(token), json!({}))
        .await
        .expect(204, "logout");
    let state = match outcome {
        Ok(_) => Live::Ended,
        Err(Stop::Unsure) => Live::Unsure,
        Err(wrong) => return Err(wrong),
    };
    if let Some(entry) = a.sessions.iter_mut().find(|(t, _)| t == token) {
        entry.1 = state;
    }
    outcome.map(|_| ())
}

async fn totp_flow(s: &Shared, a: &mut Account) -> Flow<()> {
    let Some(mfa) = password_step(s, a).await? else {
        return session_from_password(s, a).await;
    };
    let Factor::Totp { secret, last_step } = &mut a.factor else {
        return Err(Stop::Wrong("not a TOTP account".into()));
    };
    let now = unix_now();
    let step = now / 30;
    let code = totp_code(secret, now as i64).map_err(|e| Stop::Wrong(e.to_string()))?;
    // Whatever the answer, this step is spent for this client: a code that was accepted
    // without us hearing so cannot be used again.
    let earlier = *last_step;
    *last_step = step;
    if step <= earlier {
        return Err(Stop::Wrong("TOTP account taken twice in one step".into()));
    }
    let body = json!({ "mfa_token": mfa, "code": code });
    finish_login(s, a, "login-totp", "/v1/login/totp", body).await
}

/// The second factor's request: the session it hands out is used, then ended.
async fn finish_login(
    s: &Shared,
    a: &mut Account,
    label: &'static str,
    path: &str,
    body: Value,
) -> Flow<()> {
    let r = s.login_step(label, path, body).await?;
    use_session(s, a, &r).await
}

/// MFA was off (a settings flow's "on" answer was lost): the password gave the session.
async fn session_from_password(s: &Shared, a: &mut Account) -> Flow<()> {
    let Some((token, _)) = a.sessions.last().cloned() else {
        return Err(Stop::Wrong("no session after a password-only login".into()));
    };
    end_session(s, a, &token).await
}

async fn webauthn_flow(s: &Shared, a: &mut Account) -> Flow<()> {
    let Some(mfa) = password_step(s, a).await? else {
        return session_from_password(s, a).await;
    };
    let body = json!({ "mfa_token": mfa });
    let r = s
        .login_step("login-webauthn-start", "/v1/login/webauthn/start", body)
        .await?;
    let Factor::Webauthn(authenticator) = &mut a.factor else {
        return Err(Stop::Wrong("not a WebAuthn account".into()));
    };
    let body = json!({ "mfa_token": mfa, "credential": authenticator.get(&r["publicKey"]) });
    let path = "/v1/login/webauthn/finish";
    finish_login(s, a, "login-webauthn-finish", path, body).await
}

async fn recovery_flow(s: &Shared, a: &mut Account) -> Flow<()> {
    let Some(mut codes) = a.recovery.take().filter(|c| c.len() >= 2) else {
        return regenerate_codes(s, a).await;
    };
    let Some(mfa) = password_step(s, a).await? else {
        a.recovery = Some(codes);
        return session_from_password(s, a).await;
    };
    let code = codes.pop().unwrap_or_default();
    // Until the answer says so, the remaining count is unknown (a.recovery stays None).
    let body = json!({ "mfa_token": mfa, "code": code });
    let r = s
        .login_step("login-recovery-code", "/v1/login/recovery-code", body)
        .await?;
    if r["recovery_codes_remaining"] != json!(codes.len()) {
        return Err(Stop::Wrong(format!(
            "{} recovery codes left, the server says {}",
            codes.len(),
            r["recovery_codes_remaining"]
        )));
    }
    a.recovery = Some(codes);
    use_session(s, a, &r).await
}

async fn regenerate_codes(s: &Shared, a: &mut Account) -> Flow<()> {
    let keeper = a.keeper.clone().unwrap_or_default();
    a.recovery = None;
    let r = s
        .post(
            "regenerate-recovery-codes",
            "/v1/mfa/recovery-codes",
            Some(&keeper),
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200, "regenerate recovery codes")?;
    a.recovery = Some(codes(&r["codes"]));
    Ok(())
}

async fn push_flow(s: &Shared, a: &mut Account) -> Flow<()> {
    let Some(mfa) = password_step(s, a).await? else {
        return session_from_password(s, a).await;
    };
    a.pushes.push(Instant::now());
    let body = json!({ "mfa_token": mfa });
    let r = s
        .post("login-push", "/v1/login/push", None, body)
        .await
        .expect(202, "push")?;
    let push_id = text(&r, "/push_id")?;
    let number = text(&r, "/number")?;
    let Factor::Push(agent) = &a.factor else {
        return Err(Stop::Wrong("not a push account".into()));
    };
    // The agent has the push once SNS delivered it (inside Publish on moto), but files it
    // just after answering SNS: a first approve may find nothing pending yet.
    let started = s.now();
    let mut tries = 0;
    loop {
        let out = tokio::process::Command::new(&agent.binary)
            .args(["approve", &push_id, "--number", &number])
            .arg("--state")
            .arg(&agent.state)
            .env_remove("LATCHKEY_PUSH_STATE")
            .env("RUST_LOG", "error")
            .output()
            .await
            .map_err(|e| Stop::Wrong(format!("push-agent approve: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let answered = s.now();
        let ok = out.status.success() && stdout == "approved";
        // The agent's own request to /v1/push/respond, as its error message reports it
        // ("… (code, HTTP status)"); the agent does not pass Retry-After on.
        let status = if ok { 200 } else { agent_status(&stderr) };
        s.samples.lock().unwrap().push(Sample {
            label: "push-respond (agent)",
            sent: started,
            answered,
            status,
            code: stderr
                .rsplit_once('(')
                .and_then(|(_, rest)| rest.split(',').next())
                .map(str::to_owned),
            retry_after: status == 503,
        });
        if ok {
            break;
        }
        tries += 1;
        if stderr.contains("no pending push") && tries < 40 {
            s.samples.lock().unwrap().pop();
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        return if status == 0 || status >= 500 {
            Err(Stop::Unsure)
        } else {
            Err(Stop::Wrong(format!(
                "push-agent approve: {stdout} {stderr}"
            )))
        };
    }
    let body = json!({ "mfa_token": mfa, "push_id": push_id });
    let r = s
        .login_step("login-push-status", "/v1/login/push/status", body)
        .await?;
    if r["status"] != "authenticated" {
        return Err(Stop::Wrong(format!("push status after approval: {r}")));
    }
    use_session(s, a, &r).await
}

/// The HTTP status in a push-agent error message, 0 when it names none.
fn agent_status(stderr: &str) -> u16 {
    stderr
        .rsplit_once("HTTP ")
        .and_then(|(_, rest)| rest.get(..3))
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

async fn settings_flow(s: &Shared, a: &mut Account) -> Flow<()> {
    let keeper = a.keeper.clone().unwrap_or_default();
    s.get("get-mfa", "/v1/mfa", &keeper)
        .await
        .expect(200, "GET /v1/mfa")?;
    let name = format!("device {}", s.next());
    a.device_name.maybe(name.clone());
    let path = format!("/v1/mfa/devices/{}", a.device_id);
    let r = s
        .call(
            "rename-device",
            reqwest::Method::PATCH,
            &path,
            Some(&keeper),
            Some(&json!({ "name": name })),
        )
        .await
        .expect(200, "rename")?;
    if r["name"] != name.as_str() {
        return Err(Stop::Wrong(format!("rename answered {r}")));
    }
    a.device_name = Known::is(name);
    for enabled in [false, true] {
        a.mfa_enabled.maybe(enabled);
        let r = s
            .call(
                "update-mfa-settings",
                reqwest::Method::PUT,
                "/v1/mfa/settings",
                Some(&keeper),
                Some(&json!({ "mfa_enabled": enabled, "password": PASSWORD })),
            )
            .await
            .expect(200, "MFA settings")?;
        if r["mfa_enabled"] != enabled {
            return Err(Stop::Wrong(format!("MFA settings answered {r}")));
        }
        a.mfa_enabled = Known::is(enabled);
    }
    s.get("list-events", "/v1/mfa/events", &keeper)
        .await
        .expect(200, "GET /v1/mfa/events")?;
    s.get("list-sessions", "/v1/sessions", &keeper)
        .await
        .expect(200, "GET /v1/sessions")?;
    if matches!(a.factor, Factor::Totp { .. } | Factor::Webauthn(_))
        && a.recovery.as_ref().is_none_or(|c| c.len() < 4)
    {
        regenerate_codes(s, a).await?;
    }
    Ok(())
}

async fn signup_flow(s: &Shared, prefix: &str) -> (Option<Account>, Flow<()>) {
    let username = format!("{prefix}-s{}", s.next());
    let credentials = json!({ "username": username, "password": PASSWORD });
    if let Err(stop) = s
        .post("create-account", "/v1/accounts", None, credentials.clone())
        .await
        .expect(201, "sign-up")
    {
        return (None, Err(stop));
    }
    let mut a = Account::new(username, Factor::None);
    let r = match s
        .post("login", "/v1/login", None, credentials)
        .await
        .expect(200, "first login")
    {
        Ok(r) => r,
        Err(stop) => return (Some(a), Err(stop)),
    };
    if r["status"] != "mfa_setup_required" || r["session"]["scope"] != "setup" {
        return (
            Some(a),
            Err(Stop::Wrong(format!("first login answered {r}"))),
        );
    }
    let token = r["session"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    a.sessions.push((token.clone(), Live::Yes));
    let outcome = end_session(s, &mut a, &token).await;
    (Some(a), outcome)
}

// ---------------------------------------------------------------------------------------
// Workers.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Totp,
    Webauthn,
    Recovery,
    Push,
    Settings,
    Signup,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Totp => "login: TOTP",
            Kind::Webauthn => "login: WebAuthn",
            Kind::Recovery => "login: recovery code",
            Kind::Push => "login: push (agent approves)",
            Kind::Settings => "settings changes",
            Kind::Signup => "sign-up + first login",
        }
    }
}

/// Takes an account the flow can use now out of the pool.
fn take(s: &Shared, kind: Kind) -> Option<Account> {
    let mut pool = s.pool.lock().unwrap();
    let now = Instant::now();
    let step = unix_now() / 30;
    let fits = |a: &Account| {
        a.quiet_until <= now
            && match (kind, &a.factor) {
                (Kind::Totp, Factor::Totp { last_step, .. }) => *last_step < step,
                (Kind::Webauthn, Factor::Webauthn(_)) => true,
                (Kind::Recovery, Factor::Totp { .. } | Factor::Webauthn(_)) => true,
                (Kind::Push, Factor::Push(_)) => {
                    // The server allows 10 pushes per account per 15 minutes.
                    let recent = a
                        .pushes
                        .iter()
                        .filter(|t| now.duration_since(**t) < Duration::from_secs(900))
                        .count();
                    recent < 9
                        && a.pushes
                            .last()
                            .is_none_or(|t| now.duration_since(*t) >= s.push_spacing)
                }
                (Kind::Settings, f) => !matches!(f, Factor::None),
                _ => false,
            }
    };
    let index = pool.iter().position(fits)?;
    Some(pool.swap_remove(index))
}

async fn run_flow(s: &Shared, kind: Kind, prefix: &str) -> bool {
    let sent = s.now();
    let (account, outcome) = if kind == Kind::Signup {
        let (account, outcome) = signup_flow(s, prefix).await;
        if let Some(a) = account {
            s.done.lock().unwrap().push(a);
        }
        (None, outcome)
    } else {
        let Some(mut a) = take(s, kind) else {
            return false;
        };
        let outcome = match kind {
            Kind::Totp => totp_flow(s, &mut a).await,
            Kind::Webauthn => webauthn_flow(s, &mut a).await,
            Kind::Recovery => recovery_flow(s, &mut a).await,
            Kind::Push => push_flow(s, &mut a).await,
            _ => settings_flow(s, &mut a).await,
        };
        (Some(a), outcome)
    };
    let result = match outcome {
        Ok(()) => Ok(()),
        Err(Stop::Unsure) => Err("unsure".to_owned()),
        Err(Stop::Wrong(why)) => Err(why),
    };
    if let Some(mut a) = account {
        if result.is_err() {
            a.quiet_until = s.settle_time();
        }
        s.pool.lock().unwrap().push(a);
    }
    s.flows
        .lock()
        .unwrap()
        .push((kind.name(), sent, s.now(), result));
    true
}

async fn worker(s: Arc<Shared>, id: usize, kinds: Vec<Kind>, end: Instant, prefix: String) {
    let mut turn = id;
    while Instant::now() < end {
        let mut ran = false;
        for k in 0..kinds.len() {
            let kind = kinds[(turn + k) % kinds.len()];
            if run_flow(&s, kind, &prefix).await {
                ran = true;
                turn += k + 1;
                break;
            }
        }
        if !ran {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Around the run: RSS samples, the outage, the table sweeper, the check.

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

async fn signal(pid: u32, which: &str) -> Res<()> {
    let status = tokio::process::Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .await?;
    if !status.success() {
        return Err(format!("kill {which} {pid} failed").into());
    }
    Ok(())
}

async fn dynamo(endpoint: &str) -> Res<aws_sdk_dynamodb::Client> {
    let vars = BTreeMap::from([
        ("LATCHKEY_MASTER_SECRET", "A".repeat(43)),
        ("LATCHKEY_AWS_ENDPOINT", endpoint.to_owned()),
    ]);
    let config = latchkey::Config::from_lookup(|k| vars.get(k).cloned())
        .map_err(|e| format!("config: {e:?}"))?;
    let sdk = latchkey::app::aws_sdk_config(&config)
        .await
        .map_err(|e| format!("sdk: {e:?}"))?;
    Ok(aws_sdk_dynamodb::Client::new(&sdk))
}

type Items = Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>;

async fn scan(client: &aws_sdk_dynamodb::Client, table: &str) -> Res<Items> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("scan: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(items);
        }
    }
}

fn attr_s<'a>(
    item: &'a std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    name: &str,
) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// Stands in for DynamoDB's TTL (moto never deletes) and keeps the security log short:
/// moto copies the whole table on every transaction, so a growing table would make the
/// soak measure moto. Deletes items past their `ttl`, and events older than `keep`.
async fn sweep(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    keep: Duration,
) -> Res<(usize, usize)> {
    let items = scan(client, table).await?;
    let now_ms = unix_now() as i64 * 1000;
    let old = now_ms - keep.as_millis() as i64;
    let mut deleted = 0;
    for item in &items {
        let expired = item
            .get("ttl")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|ttl| ttl * 1000 < now_ms);
        let old_event = attr_s(item, "sk")
            .and_then(|sk| sk.strip_prefix(latchkey::records::EVENT_PREFIX))
            .and_then(|rest| rest.split('#').next())
            .and_then(|at| at.parse::<i64>().ok())
            .is_some_and(|at| at < old);
        if expired || old_event {
            let (Some(pk), Some(sk)) = (item.get("pk"), item.get("sk")) else {
                continue;
            };
            client
                .delete_item()
                .table_name(table)
                .key("pk", pk.clone())
                .key("sk", sk.clone())
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "delete: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(e)
                    )
                })?;
            deleted += 1;
        }
    }
    Ok((items.len(), deleted))
}

/// Every stored item in the format the store adapter reads: string keys, a numeric
/// version, a JSON body.
fn malformed(items: &Items) -> Vec<String> {
    items
        .iter()
        .filter(|item| {
            let version = item
                .get("version")
                .and_then(|v| v.as_n().ok())
                .is_some_and(|n| n.parse::<u64>().is_ok());
            let body =
                attr_s(item, "body").is_some_and(|b| serde_json::from_str::<Value>(b).is_ok());
            attr_s(item, "pk").is_none() || attr_s(item, "sk").is_none() || !version || !body
        })
        .map(|item| format!("{:?}/{:?}", attr_s(item, "pk"), attr_s(item, "sk")))
        .collect()
}

/// The ledger against the server: what it said was done is there.
async fn check(s: &Shared, accounts: &[Account]) -> (Value, Vec<String>) {
    let mut wrong = Vec::new();
    let (mut live, mut ended, mut unsure, mut devices) = (0, 0, 0, 0);
    for a in accounts {
        let r = s
            .post(
                "login (check)",
                "/v1/login",
                None,
                json!({ "username": a.username, "password": PASSWORD }),
            )
            .await;
        if r.status != 200 {
            wrong.push(format!(
                "{}: password login answers {} {}",
                a.username, r.status, r.body
            ));
        }
        for (token, state) in &a.sessions {
            let r = s.get("me (check)", "/v1/me", token).await;
            match (state, r.status) {
                (Live::Yes, 200) => live += 1,
                (Live::Ended, 401) => ended += 1,
                (Live::Unsure, 200 | 401) => unsure += 1,
                (state, status) => wrong.push(format!(
                    "{}: a session the client holds as {state:?} answers {status}",
                    a.username
                )),
            }
        }
        let Some(keeper) = &a.keeper else { continue };
        let r = s.get("get-mfa (check)", "/v1/mfa", keeper).await;
        if r.status != 200 {
            wrong.push(format!(
                "{}: the keeper session answers {}",
                a.username, r.status
            ));
            continue;
        }
        let device = r.body["devices"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["id"] == a.device_id.as_str()));
        match device.and_then(|d| d["name"].as_str()) {
            Some(name) if a.device_name.allows(&name.to_owned()) => devices += 1,
            other => wrong.push(format!(
                "{}: device {} named {other:?}, expected one of {:?}",
                a.username, a.device_id, a.device_name.0
            )),
        }
        let enabled = r.body["mfa_enabled"].as_bool().unwrap_or(false);
        if !a.mfa_enabled.allows(&enabled) {
            wrong.push(format!(
                "{}: mfa_enabled {enabled}, expected one of {:?}",
                a.username, a.mfa_enabled.0
            ));
        }
        if let Some(codes) = &a.recovery {
            if r.body["recovery_codes"]["remaining"] != json!(codes.len()) {
                wrong.push(format!(
                    "{}: {} recovery codes left, the client holds {}",
                    a.username,
                    r.body["recovery_codes"]["remaining"],
                    codes.len()
                ));
            }
        }
    }
    let summary = json!({
        "accounts": accounts.len(),
        "sessions_live": live,
        "sessions_ended": ended,
        "sessions_unsure": unsure,
        "devices": devices,
    });
    (summary, wrong)
}

fn stats(mut values: Vec<f64>) -> Value {
    let n = values.len();
    json!({
        "count": n,
        "p50_ms": (percentile(&mut values, 0.5) * 1e3 * 10.0).round() / 10.0,
        "p99_ms": (percentile(&mut values, 0.99) * 1e3 * 10.0).round() / 10.0,
        "max_ms": (values.iter().copied().fold(0.0, f64::max) * 1e3 * 10.0).round() / 10.0,
    })
}

fn median_of(samples: &[(f64, u64)], from: f64, to: f64) -> Option<u64> {
    let mut v: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .map(|(_, r)| *r)
        .collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

pub async fn run(opts: &Opts) -> Res<(Value, bool)> {
    let url = opts
        .text("url")
        .ok_or("--url is required")?
        .trim_end_matches('/')
        .to_owned();
    let origin = opts.text("origin").unwrap_or(&url).to_owned();
    let seconds = opts.num("seconds", 60)? as u64;
    let workers = opts.num("workers", 4)?;
    let prefix = opts.text("prefix").unwrap_or("mixed").to_owned();
    let outage = match opts.text("moto-pid") {
        Some(_) => Some(Outage {
            at: Duration::from_secs(opts.num("outage-at", 20)? as u64),
            length: Duration::from_secs(opts.num("outage-seconds", 10)? as u64),
            grace: Duration::from_secs(opts.num("grace", 10)? as u64),
        }),
        None => None,
    };
    let moto_pid: Option<u32> = opts.text("moto-pid").map(str::parse).transpose()?;
    let server_pid: Option<u32> = opts.text("server-pid").map(str::parse).transpose()?;
    let store = match (opts.text("table"), opts.text("aws-endpoint")) {
        (Some(t), Some(e)) => Some((t.to_owned(), dynamo(e).await?)),
        _ => None,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(workers + 2)
        .build()?;
    let shared = Arc::new(Shared {
        http,
        url,
        started: Instant::now(),
        samples: Mutex::new(Vec::new()),
        pool: Mutex::new(Vec::new()),
        done: Mutex::new(Vec::new()),
        flows: Mutex::new(Vec::new()),
        outage,
        counter: Default::default(),
        keep_every: opts.num("keep-every", 0)? as u64,
        origin,
        push_spacing: Duration::from_secs(opts.num("push-spacing", 100)? as u64),
    });

    // Set-up, before the clock of the run starts.
    let set_up = Instant::now();
    let mut accounts = Vec::new();
    for i in 0..opts.num("totp-accounts", 12)? {
        accounts.push(totp_account(&shared, format!("{prefix}-t{i}")).await?);
    }
    for i in 0..opts.num("webauthn-accounts", 6)? {
        accounts.push(webauthn_account(&shared, format!("{prefix}-w{i}")).await?);
    }
    let agent = opts.text("push-agent").map(str::to_owned);
    if let Some(binary) = &agent {
        for i in 0..opts.num("push-accounts", 4)? {
            accounts.push(push_account(&shared, format!("{prefix}-p{i}"), binary).await?);
        }
    }
    let set_up_seconds = set_up.elapsed().as_secs_f64();
    shared.pool.lock().unwrap().extend(accounts);
    shared.samples.lock().unwrap().clear();

    // The run. `started` is reset through a new Shared view of time: samples from here on.
    let t0 = shared.now();
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut kinds = vec![
        Kind::Totp,
        Kind::Settings,
        Kind::Webauthn,
        Kind::Recovery,
        Kind::Totp,
        Kind::Webauthn,
    ];
    if opts.num("signups", 0)? > 0 {
        kinds.push(Kind::Signup);
    }
    let mut tasks = Vec::new();
    for id in 0..workers {
        tasks.push(tokio::spawn(worker(
            shared.clone(),
            id,
            kinds.clone(),
            end,
            prefix.clone(),
        )));
    }
    if agent.is_some() {
        tasks.push(tokio::spawn(worker(
            shared.clone(),
            0,
            vec![Kind::Push],
            end,
            prefix.clone(),
        )));
    }
    let outage_task = match (outage, moto_pid) {
        (Some(o), Some(pid)) => {
            let s = shared.clone();
            Some(tokio::spawn(async move {
                tokio::time::sleep(o.at).await;
                let stopped = s.now();
                signal(pid, "-STOP").await?;
                tokio::time::sleep(o.length).await;
                signal(pid, "-CONT").await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((stopped, s.now()))
            }))
        }
        _ => None,
    };
    let keep = Duration::from_secs(opts.num("sweep-keep", 60)? as u64);
    let sweeper = match (&store, opts.num("sweep", 0)? > 0) {
        (Some((table, client)), true) => {
            let (table, client) = (table.clone(), client.clone());
            Some(tokio::spawn(async move {
                let mut sizes = Vec::new();
                while Instant::now() < end {
                    if let Ok((size, deleted)) = sweep(&client, &table, keep).await {
                        sizes.push((size, deleted));
                    }
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                sizes
            }))
        }
        _ => None,
    };
    let mut rss: Vec<(f64, u64)> = Vec::new();
    while Instant::now() < end {
        if let Some(kib) = server_pid.and_then(rss_kib) {
            rss.push((shared.now() - t0, kib));
        }
        tokio::time::sleep(
            Duration::from_secs(5).min(end.saturating_duration_since(Instant::now())),
        )
        .await;
    }
    if let Some(kib) = server_pid.and_then(rss_kib) {
        rss.push((shared.now() - t0, kib));
    }
    for task in tasks {
        task.await?;
    }
    let elapsed = shared.now() - t0;
    let window = match outage_task {
        Some(task) => Some(task.await??),
        None => None,
    };
    let sweeps = match sweeper {
        Some(task) => Some(task.await?),
        None => None,
    };

    // The check, after the store had its grace to settle.
    let run_samples: Vec<Sample> = shared.samples.lock().unwrap().clone();
    let mut all: Vec<Account> = std::mem::take(&mut *shared.pool.lock().unwrap());
    all.append(&mut shared.done.lock().unwrap());
    let (checked, mut failures) = check(&shared, &all).await;
    let check_samples: Vec<Sample> = shared.samples.lock().unwrap()[run_samples.len()..].to_vec();
    for c in &check_samples {
        if c.status >= 500 || c.status == 0 {
            failures.push(format!("the check's {} answered {}", c.label, c.status));
        }
    }
    let mut table = Value::Null;
    if let Some((name, client)) = &store {
        let items = scan(client, name).await?;
        let bad = malformed(&items);
        table = json!({ "items_after": items.len(), "malformed": bad.len() });
        if !bad.is_empty() {
            failures.push(format!(
                "{} stored items are malformed: {:?}",
                bad.len(),
                &bad[..bad.len().min(5)]
            ));
        }
    }
    drop(all);

    // Figures.
    let mut by_label: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for sample in &run_samples {
        by_label
            .entry(sample.label)
            .or_default()
            .push(sample.answered - sample.sent);
        *statuses.entry(sample.status.to_string()).or_default() += 1;
    }
    let flows = shared.flows.lock().unwrap().clone();
    let mut by_flow: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut flow_failures: BTreeMap<&str, u64> = BTreeMap::new();
    for (kind, sent, answered, result) in &flows {
        match result {
            Ok(()) => by_flow.entry(kind).or_default().push(answered - sent),
            Err(why) => {
                *flow_failures.entry(kind).or_default() += 1;
                if why != "unsure" {
                    failures.push(format!("{kind} at {:.1}s: {why}", sent - t0));
                }
            }
        }
    }
    let server_errors: Vec<&Sample> = run_samples
        .iter()
        .filter(|x| x.status >= 500 || x.status == 0)
        .collect();

    // The outage verdict: 503 unavailable with Retry-After, answered while the store was
    // away or within the grace after; nothing else that is not a normal answer.
    let mut outage_report = Value::Null;
    if let (Some(o), Some((stopped, resumed))) = (outage, window) {
        let (stopped, resumed) = (stopped - t0, resumed - t0);
        let grace = o.grace.as_secs_f64();
        let mut in_window = 0;
        let mut latencies = Vec::new();
        for x in &server_errors {
            let (sent, answered) = (x.sent - t0, x.answered - t0);
            if x.status != 503 {
                failures.push(format!(
                    "{} sent at {sent:.1}s answered {} (only 503 may answer during an outage)",
                    x.label, x.status
                ));
            } else if x.code.as_deref() != Some("unavailable") || !x.retry_after {
                failures.push(format!(
                    "{} at {answered:.1}s: 503 with code {:?}, Retry-After {}",
                    x.label, x.code, x.retry_after
                ));
            } else if answered < stopped || answered > resumed + grace {
                failures.push(format!(
                    "{} answered 503 at {answered:.1}s, outside the outage {stopped:.1}s-{resumed:.1}s + {grace}s grace",
                    x.label
                ));
            } else {
                in_window += 1;
                latencies.push(x.answered - x.sent);
            }
        }
        if in_window == 0 {
            failures.push("no 503 during the outage: the outage did not bite".into());
        }
        let last_503 = server_errors
            .iter()
            .filter(|x| x.status == 503)
            .map(|x| x.answered - t0)
            .fold(f64::NAN, f64::max);
        // Full service after: every kind of flow succeeded again after the grace.
        let after = resumed + grace;
        let mut restored = BTreeMap::new();
        for (kind, sent, _, result) in &flows {
            if result.is_ok() && sent - t0 > after {
                *restored.entry(*kind).or_insert(0u64) += 1;
            }
        }
        let mut expected_kinds: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        if agent.is_some() {
            expected_kinds.push(Kind::Push.name());
        }
        expected_kinds.dedup();
        for kind in &expected_kinds {
            if !restored.contains_key(kind) {
                failures.push(format!("no successful {kind} after the outage"));
            }
        }
        let answered_during = run_samples
            .iter()
            .filter(|x| x.answered - t0 >= stopped && x.answered - t0 <= resumed)
            .count();
        outage_report = json!({
            "stopped_at_s": stopped,
            "resumed_at_s": resumed,
            "grace_s": grace,
            "answers_503_in_window": in_window,
            "answers_while_stopped": answered_during,
            "last_503_at_s": last_503,
            "last_503_after_resume_s": last_503 - resumed,
            "latency_of_503": stats(latencies),
            "successful_flows_after_grace": restored,
        });
    } else {
        for x in &server_errors {
            failures.push(format!(
                "{} at {:.1}s answered {}",
                x.label,
                x.sent - t0,
                x.status
            ));
        }
    }

    // Memory: flat when the end (median of the last minute) is within 5% or 4 MiB of the
    // start (median of the minute after a warm-up of the first fifth of the run, at most
    // two minutes). Short runs scale the minute down to a fifth of the run.
    let mut memory = Value::Null;
    if !rss.is_empty() {
        let run = elapsed;
        let warm = (run / 5.0).min(120.0);
        let span = (run / 5.0).min(60.0);
        let start = median_of(&rss, warm, warm + span);
        let end_rss = median_of(&rss, run - span, run);
        let first = rss.first().map(|x| x.1);
        let max = rss.iter().map(|x| x.1).max();
        let mut flat = Value::Null;
        if let (Some(start), Some(end_rss)) = (start, end_rss) {
            let margin = (start / 20).max(4096);
            let ok = end_rss <= start + margin;
            flat = json!(ok);
            if !ok && outage.is_none() {
                failures.push(format!(
                    "server RSS grew from {start} KiB to {end_rss} KiB (allowed {margin} KiB)"
                ));
            }
        }
        memory = json!({
            "rss_kib_before_load": first,
            "rss_kib_start_after_warmup": start,
            "rss_kib_end": end_rss,
            "rss_kib_max": max,
            "warmup_s": warm,
            "window_s": span,
            "flat": flat,
            "samples": rss.iter().map(|(t, r)| json!([(t * 10.0).round() / 10.0, r])).collect::<Vec<_>>(),
        });
    }

    let ok_flows: usize = by_flow.values().map(Vec::len).sum();
    let report = json!({
        "seconds": elapsed,
        "workers": workers,
        "set_up_seconds": set_up_seconds,
        "requests": run_samples.len(),
        "requests_per_second": run_samples.len() as f64 / elapsed,
        "flows_ok": ok_flows,
        "flows_per_second": ok_flows as f64 / elapsed,
        "flows_not_ok": flow_failures,
        "statuses": statuses,
        "server_errors_5xx_or_none": server_errors.len(),
        "flows": by_flow.into_iter().map(|(k, v)| (k.to_owned(), stats(v))).collect::<BTreeMap<_, _>>(),
        "routes": by_label.into_iter().map(|(k, v)| (k.to_owned(), stats(v))).collect::<BTreeMap<_, _>>(),
        "outage": outage_report,
        "memory": memory,
        "table": table,
        "sweeps": sweeps.map(|s| s.iter().map(|(n, d)| json!([n, d])).collect::<Vec<_>>()),
        "check": checked,
        "failures": failures,
    });
    let ok = report["failures"].as_array().is_some_and(Vec::is_empty);
    Ok((report, ok))
}
