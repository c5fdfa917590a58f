//! The agent's core: what it does with each SNS delivery, the pending pushes, and
//! signed answers.
//!
//! A delivery moves through these states; any failed check drops it with a warning
//! and no answer to the server (an answer would tell an attacker which check failed,
//! and a denial would let a forged message cancel a real login):
//!
//! 1. received: the HTTP listener has answered 200 already (moto publishes
//!    synchronously, subscriber after subscriber);
//! 2. SNS-authentic: SignatureVersion is 2 (SHA256withRSA; always checked), the SNS
//!    RSA signature verifies (skipped only with `--insecure-skip-sns-signature`), and
//!    `TopicArn` is the topic the server named in its enrollment answer (always
//!    checked; a state file without one, from an older agent, refuses everything
//!    until the device is enrolled again). A delivery that arrives while enrollment
//!    is still waiting for that answer (SNS confirms the subscription during the
//!    server's Subscribe call) waits for it;
//! 3. server-authentic: the server's Ed25519 signature over the payload bytes verifies,
//!    `v` is 1, the push is for our device_id and not expired (always checked);
//! 4. pending: not seen before (SNS may deliver twice), queued for the prompt and the
//!    control channel;
//! 5. answered: taken out of the queue while the signed answer is in flight, and put
//!    back only if the server could not decide (no answer, 429, 5xx), so the user can
//!    try again.
//!
//! A push leaves the queue when answered or when it expires.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use reqwest::Url;
use ring::rand::SystemRandom;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::clock::Clock;
use crate::crypto::{answer_message, notice_report_message, Decision, DeviceKey};
use crate::error::{Error, Result};
use crate::payload::{self, LoginPush, Message, Notice};
use crate::sns::{self, CertSource, Envelope};
use crate::state::{self, State};
use crate::uri::is_loopback_url;

/// How long a delivery that arrives during enrollment waits for the server's answer
/// (which names the topic) before it is dropped. Longer than the enrollment request's
/// own timeouts.
const ENROLLMENT_WAIT: Duration = Duration::from_secs(30);

/// Why every delivery is refused when the state file names no topic.
const NO_TOPIC: &str = "the state file names no SNS topic (enrolled by an older push-agent \
     or against an older server), so no delivery can be checked: remove the push device from \
     the account, then enroll this device again (push-agent enroll --force)";

/// How the agent treats SNS message signatures.
#[derive(Clone)]
pub enum SnsSignatures {
    /// Verify, fetching certificates over HTTPS from SNS hosts.
    Verify,
    /// Verify, with certificates from this source (tests).
    VerifyWith(Arc<dyn CertSource>),
    /// Do not verify: only for a local emulator such as moto.
    InsecureSkip,
}

/// A pending push as shown to people and scripts: never the challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingView {
    pub push_id: String,
    pub username: String,
    pub issuer: String,
    pub ip: String,
    pub user_agent: String,
    pub expires_at: String,
}

/// A pending push with its times, for the terminal prompt.
#[derive(Debug, Clone)]
pub struct PromptView {
    pub view: PendingView,
    pub created_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
}

/// A security notice as shown to people and scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeView {
    pub notice_id: String,
    /// What happened: the event type (`device_added`, `password_changed`, ...).
    pub event: String,
    pub username: String,
    pub issuer: String,
    pub device_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Option<String>,
    /// Until when it may be reported.
    pub expires_at: String,
    /// Whether this agent reported it.
    pub reported: bool,
}

/// The server's answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportStatus {
    pub status: String,
    pub revoked_sessions: u64,
}

/// What happened to one SNS delivery (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Queued(String),
    NoticeShown(String),
    Duplicate(String),
    Dropped(String),
    SubscriptionConfirmed(String),
    Unsubscribed(String),
}

/// The server's verdict on an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerStatus {
    pub status: String,
}

struct Identity {
    state: State,
    key: Arc<DeviceKey>,
    server_key: [u8; 32],
}

#[derive(Default)]
struct Queue {
    /// In arrival order; the newest is last.
    pending: Vec<LoginPush>,
    /// Push ids already queued or answered, kept until they expire, so a redelivery
    /// cannot bring an answered push back.
    seen: HashMap<String, OffsetDateTime>,
    /// Notices received, oldest first, until they expire; a notice delivered again (the
    /// server sends each at least once) is known by its id and shown once.
    notices: Vec<(Notice, bool)>,
}

impl Queue {
    fn prune(&mut self, now: OffsetDateTime) -> bool {
        let before = self.pending.len() + self.notices.len();
        self.pending.retain(|p| p.expires_at > now);
        self.seen.retain(|_, expires| *expires > now);
        self.notices.retain(|(n, _)| n.expires_at > now);
        before != self.pending.len() + self.notices.len()
    }
}

struct Inner {
    rng: SystemRandom,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    sns: Option<sns::Verifier>,
    state_path: PathBuf,
    identity: RwLock<Identity>,
    queue: Mutex<Queue>,
    changes: watch::Sender<u64>,
    /// False while enrollment waits for the server's answer, then true.
    settled: watch::Sender<bool>,
}

/// Cheap to clone; all clones share one queue.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("state_path", &self.inner.state_path)
            .finish_non_exhaustive()
    }
}

pub(crate) fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        // A redirect would resend the secret or the answer somewhere we did not vet.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .user_agent(concat!("latchkey-push-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::network("building the HTTP client", &e))
}

/// Strips what could fool a terminal or a log reader: control characters (escape
/// sequences) and bidirectional overrides. `user_agent` comes from the attacker's
/// browser, so this matters.
pub fn printable(text: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = text
        .chars()
        .map(|c| {
            let bidi = matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || bidi {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .take(MAX)
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The descriptive fields are cleaned here once, so neither the prompt nor a person
/// reading `push-agent pending` on a terminal sees raw escape sequences. The push_id is
/// left alone: scripts pass it back.
fn view(p: &LoginPush) -> PendingView {
    PendingView {
        push_id: p.push_id.clone(),
        username: printable(&p.username),
        issuer: printable(&p.issuer),
        ip: printable(&p.ip),
        user_agent: printable(&p.user_agent),
        expires_at: rfc3339(p.expires_at),
    }
}

fn notice_view(n: &Notice, reported: bool) -> NoticeView {
    let clean = |text: &Option<String>| text.as_deref().map(printable);
    let signed = &n.signed;
    NoticeView {
        notice_id: signed.notice_id.clone(),
        event: printable(&signed.event),
        username: printable(&signed.username),
        issuer: printable(&signed.issuer),
        device_name: clean(&signed.device_name),
        ip: clean(&signed.ip),
        user_agent: clean(&signed.user_agent),
        created_at: n.created_at.map(rfc3339),
        expires_at: rfc3339(n.expires_at),
        reported,
    }
}

/// A notice in words, for the terminal (its fields already cleaned).
pub fn describe_notice(n: &NoticeView) -> String {
    let what = match n.event.as_str() {
        "device_added" => "a device was added",
        "device_removed" => "a device was removed",
        "recovery_codes_generated" => "new recovery codes were generated",
        "recovery_code_used" => "a recovery code was used to sign in",
        "mfa_disabled" => "two-step verification was turned off",
        "password_changed" => "the password was changed",
        other => other,
    };
    let device = n
        .device_name
        .as_deref()
        .map(|name| format!(" ({name})"))
        .unwrap_or_default();
    let unknown = || "unknown".to_owned();
    format!(
        "\nSecurity notice for {} at {}: {what}{device}\n  from:    {}\n  browser: {}\n  when:    {}\n  Not you? push-agent report {} (or type r at the prompt)",
        n.username,
        n.issuer,
        n.ip.clone().unwrap_or_else(unknown),
        n.user_agent.clone().unwrap_or_else(unknown),
        n.created_at.clone().unwrap_or_else(unknown),
        n.notice_id,
    )
}

/// `{"error": {"code", "message"}}`
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Turns a non-2xx answer from the server into `Error::Server`.
pub(crate) async fn server_error(response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(b) => Error::Server {
            status,
            code: printable(&b.error.code),
            message: printable(&b.error.message),
        },
        Err(_) => Error::Server {
            status,
            code: "unexpected_response".to_owned(),
            message: "the server answered without a Latchkey error body".to_owned(),
        },
    }
}

impl Agent {
    pub fn new(
        state_path: &Path,
        state: State,
        signatures: SnsSignatures,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let rng = crate::crypto::system_random();
        let key = Arc::new(state.device_key(state_path, &rng)?);
        let server_key = state.server_key(state_path)?;
        state.api(state_path)?;
        let sns = match signatures {
            SnsSignatures::Verify => {
                Some(sns::Verifier::new(Arc::new(sns::HttpCertSource::new()?)))
            }
            SnsSignatures::VerifyWith(source) => Some(sns::Verifier::new(source)),
            SnsSignatures::InsecureSkip => None,
        };
        let (changes, _) = watch::channel(0);
        let (settled, _) = watch::channel(state.device_id.is_some());
        if state.device_id.is_some() && state.topic_arn.is_none() {
            warn!(state = %state_path.display(), "every SNS delivery will be refused: {NO_TOPIC}");
        }
        Ok(Agent {
            inner: Arc::new(Inner {
                rng,
                clock,
                http: http_client()?,
                sns,
                state_path: state_path.to_path_buf(),
                identity: RwLock::new(Identity {
                    state,
                    key,
                    server_key,
                }),
                queue: Mutex::new(Queue::default()),
                changes,
                settled,
            }),
        })
    }

    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    pub fn state_path(&self) -> &Path {
        &self.inner.state_path
    }

    pub fn device_id(&self) -> Option<String> {
        self.identity().ok()?.state.device_id.clone()
    }

    fn identity(&self) -> Result<std::sync::RwLockReadGuard<'_, Identity>> {
        self.inner
            .identity
            .read()
            .map_err(|_| Error::Crypto("identity lock poisoned"))
    }

    fn queue(&self) -> Result<MutexGuard<'_, Queue>> {
        self.inner
            .queue
            .lock()
            .map_err(|_| Error::Crypto("queue lock poisoned"))
    }

    /// Changes to the state (under a write lock) and saves it.
    fn update_state(&self, change: impl FnOnce(&mut State)) -> Result<()> {
        let mut identity = self
            .inner
            .identity
            .write()
            .map_err(|_| Error::Crypto("identity lock poisoned"))?;
        let mut next = identity.state.clone();
        change(&mut next);
        state::save(&self.inner.state_path, &next)?;
        identity.state = next;
        Ok(())
    }

    /// Records the server's enrollment answer, and lets deliveries that arrived
    /// meanwhile go on. `topic_arn` `None` (a server that names no topic) leaves an
    /// agent that refuses every delivery.
    pub fn set_enrolled(&self, device_id: &str, topic_arn: Option<&str>) -> Result<()> {
        let saved = self.update_state(|s| {
            s.device_id = Some(device_id.to_owned());
            s.topic_arn = topic_arn.map(str::to_owned);
        });
        self.inner.settled.send_replace(true);
        saved
    }

    /// The topic deliveries must come from; waits while enrollment is under way.
    async fn expected_topic(&self) -> std::result::Result<String, String> {
        let mut settled = self.inner.settled.subscribe();
        match tokio::time::timeout(ENROLLMENT_WAIT, settled.wait_for(|done| *done)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return Err("not enrolled yet".to_owned()),
        }
        let id = self.identity().map_err(|e| e.to_string())?;
        match (&id.state.device_id, &id.state.topic_arn) {
            (None, _) => Err("not enrolled yet".to_owned()),
            (Some(_), None) => Err(NO_TOPIC.to_owned()),
            (Some(_), Some(topic)) => Ok(topic.clone()),
        }
    }

    /// Notified on every change to the pending queue.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    fn changed(&self) {
        self.inner.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Pending pushes, oldest first; expired ones are removed on the way.
    pub fn pending(&self) -> Vec<PendingView> {
        let now = self.now();
        let Ok(mut queue) = self.queue() else {
            return Vec::new();
        };
        let pruned = queue.prune(now);
        let views = queue.pending.iter().map(view).collect();
        drop(queue);
        if pruned {
            self.changed();
        }
        views
    }

    /// The newest pending push, for the terminal prompt.
    pub fn newest_pending(&self) -> Option<PromptView> {
        let now = self.now();
        let mut queue = self.queue().ok()?;
        queue.prune(now);
        queue.pending.last().map(|p| PromptView {
            view: view(p),
            created_at: p.created_at,
            expires_at: p.expires_at,
        })
    }

    /// Handles one SNS delivery to the end.
    pub async fn process(&self, env: Envelope) -> Outcome {
        let outcome = self.process_inner(&env).await;
        match &outcome {
            Outcome::Dropped(reason) => warn!(
                message_id = %printable(&env.message_id),
                kind = %printable(&env.kind),
                "dropped SNS delivery: {reason}"
            ),
            Outcome::Duplicate(push_id) => {
                debug!(push_id = %printable(push_id), "duplicate delivery ignored")
            }
            Outcome::Queued(_)
            | Outcome::NoticeShown(_)
            | Outcome::SubscriptionConfirmed(_)
            | Outcome::Unsubscribed(_) => {}
        }
        outcome
    }

    async fn process_inner(&self, env: &Envelope) -> Outcome {
        // Checked with or without --insecure-skip-sns-signature.
        if let Err(e) = sns::check_signature_version(env) {
            return Outcome::Dropped(format!("SNS signature: {e}"));
        }
        if let Some(verifier) = &self.inner.sns {
            if let Err(e) = verifier.verify(env, SystemTime::from(self.now())).await {
                return Outcome::Dropped(format!("SNS signature: {e}"));
            }
        }
        let topic = match self.expected_topic().await {
            Ok(topic) => topic,
            Err(reason) => return Outcome::Dropped(reason),
        };
        if env.topic_arn != topic {
            return Outcome::Dropped(format!(
                "topic {} is not this device's push topic",
                printable(&env.topic_arn)
            ));
        }
        match env.kind.as_str() {
            sns::NOTIFICATION => self.notification(env),
            sns::SUBSCRIPTION_CONFIRMATION => self.confirm_subscription(env).await,
            sns::UNSUBSCRIBE_CONFIRMATION => {
                info!(topic = %printable(&env.topic_arn), "SNS unsubscribed this endpoint");
                Outcome::Unsubscribed(env.topic_arn.clone())
            }
            other => Outcome::Dropped(format!("unknown SNS message type {}", printable(other))),
        }
    }

    fn notification(&self, env: &Envelope) -> Outcome {
        let (server_key, device_id) = match self.identity() {
            Ok(id) => (id.server_key, id.state.device_id.clone()),
            Err(e) => return Outcome::Dropped(e.to_string()),
        };
        let Some(device_id) = device_id else {
            return Outcome::Dropped("not enrolled yet".to_owned());
        };
        let now = self.now();
        let push = match payload::verify(&env.message, &server_key, &device_id, now) {
            Ok(Message::Login(push)) => push,
            Ok(Message::Notice(notice)) => return self.notice(notice, now),
            Err(reason) => return Outcome::Dropped(reason.to_string()),
        };
        let push_id = push.push_id.clone();
        {
            let Ok(mut queue) = self.queue() else {
                return Outcome::Dropped("queue unavailable".to_owned());
            };
            queue.prune(now);
            if queue.seen.contains_key(&push_id) {
                return Outcome::Duplicate(push_id);
            }
            info!(
                push_id = %printable(&push.push_id),
                username = %printable(&push.username),
                ip = %printable(&push.ip),
                expires_at = %rfc3339(push.expires_at),
                "login push received"
            );
            queue.seen.insert(push_id.clone(), push.expires_at);
            queue.pending.push(push);
        }
        self.changed();
        Outcome::Queued(push_id)
    }

    fn notice(&self, notice: Notice, now: OffsetDateTime) -> Outcome {
        let notice_id = notice.signed.notice_id.clone();
        let view = {
            let Ok(mut queue) = self.queue() else {
                return Outcome::Dropped("queue unavailable".to_owned());
            };
            queue.prune(now);
            if queue
                .notices
                .iter()
                .any(|(n, _)| n.signed.notice_id == notice_id)
            {
                info!(notice_id = %printable(&notice_id), "security notice delivered again; shown once");
                return Outcome::Duplicate(notice_id);
            }
            let view = notice_view(&notice, false);
            queue.notices.push((notice, false));
            view
        };
        info!(
            notice_id = %printable(&notice_id),
            event = %view.event,
            ip = %view.ip.as_deref().unwrap_or("unknown"),
            "security notice received"
        );
        let mut out = std::io::stdout().lock();
        let _ =
            std::io::Write::write_all(&mut out, format!("{}\n", describe_notice(&view)).as_bytes());
        let _ = std::io::Write::flush(&mut out);
        drop(out);
        self.changed();
        Outcome::NoticeShown(notice_id)
    }

    /// Notices received and not yet expired, oldest first.
    pub fn notices(&self) -> Vec<NoticeView> {
        let now = self.now();
        let Ok(mut queue) = self.queue() else {
            return Vec::new();
        };
        queue.prune(now);
        queue
            .notices
            .iter()
            .map(|(n, reported)| notice_view(n, *reported))
            .collect()
    }

    /// "This wasn't me": reports `notice_id` (or the newest notice not reported yet) with
    /// the device's signature; the server ends every session of the account.
    pub async fn report(&self, notice_id: Option<&str>) -> Result<ReportStatus> {
        let (key, device_id) = {
            let id = self.identity()?;
            (
                Arc::clone(&id.key),
                id.state.device_id.clone().ok_or(Error::NotEnrolled)?,
            )
        };
        let notice = {
            let mut queue = self.queue()?;
            queue.prune(self.now());
            match notice_id {
                Some(id) => queue.notices.iter().find(|(n, _)| n.signed.notice_id == id),
                None => queue.notices.iter().rev().find(|(_, reported)| !reported),
            }
            .map(|(n, _)| n.clone())
            .ok_or_else(|| Error::NoNotice(notice_id.map(printable)))?
        };
        let message = notice_report_message(&notice.signed.notice_id, &device_id);
        let signature = key.sign(&self.inner.rng, message.as_bytes())?;
        let body = latchkey_wire::NoticeReportRequest {
            notice_id: notice.signed.notice_id.clone(),
            device_id,
            signature,
        };
        let response = self
            .inner
            .http
            .post(notice.report_url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| Error::network("sending the report", &e))?;
        if !response.status().is_success() {
            return Err(server_error(response).await);
        }
        let answer: ReportStatus = response
            .json()
            .await
            .map_err(|e| Error::network("reading the server's answer", &e))?;
        if let Ok(mut queue) = self.queue() {
            for (n, reported) in queue.notices.iter_mut() {
                if n.signed.notice_id == notice.signed.notice_id {
                    *reported = true;
                }
            }
        }
        self.changed();
        info!(notice_id = %printable(&notice.signed.notice_id), revoked_sessions = answer.revoked_sessions, "notice reported");
        Ok(ReportStatus {
            status: printable(&answer.status),
            revoked_sessions: answer.revoked_sessions,
        })
    }

    async fn confirm_subscription(&self, env: &Envelope) -> Outcome {
        let Some(text) = env.subscribe_url.as_deref() else {
            return Outcome::Dropped("SubscribeURL is missing".to_owned());
        };
        // With signatures verified, AWS vouches for the URL, and we still insist it is
        // an SNS one. Without them (an emulator), anyone can post here, so do not let
        // them point us at arbitrary hosts: only SNS hosts or loopback.
        let url = match sns::check_sns_url(text) {
            Ok(url) => url,
            Err(e) if self.inner.sns.is_some() => {
                return Outcome::Dropped(format!("SubscribeURL refused: {e}"))
            }
            Err(e) => match Url::parse(text) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && is_loopback_url(&url) => url,
                _ => return Outcome::Dropped(format!("SubscribeURL refused: {e}")),
            },
        };
        match self.inner.http.get(url).send().await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                return Outcome::Dropped(format!(
                    "confirming the subscription answered {}",
                    response.status()
                ))
            }
            Err(e) => {
                return Outcome::Dropped(
                    Error::network("confirming the subscription", &e).to_string(),
                )
            }
        }
        info!(topic = %printable(&env.topic_arn), "SNS subscription confirmed");
        Outcome::SubscriptionConfirmed(env.topic_arn.clone())
    }

    /// Signs and sends an answer to `push_id` (or the newest pending push).
    pub async fn answer(
        &self,
        push_id: Option<&str>,
        decision: Decision,
        number: Option<&str>,
    ) -> Result<AnswerStatus> {
        let number = match decision {
            Decision::Approve => Some(check_number(number)?),
            // A denial needs no number; sending one would only leak what was typed.
            Decision::Deny => None,
        };
        let (key, device_id) = {
            let id = self.identity()?;
            (
                Arc::clone(&id.key),
                id.state.device_id.clone().ok_or(Error::NotEnrolled)?,
            )
        };
        let push = self.take(push_id)?;
        let message = answer_message(&push.push_id, &push.challenge, decision, number.as_deref());
        let signature = key.sign(&self.inner.rng, message.as_bytes())?;
        let mut body = serde_json::json!({
            "push_id": push.push_id,
            "device_id": device_id,
            "decision": decision.as_str(),
            "signature": signature,
        });
        if let Some(n) = &number {
            body["number"] = n.clone().into();
        }

        let result = self
            .inner
            .http
            .post(push.respond_url.clone())
            .json(&body)
            .send()
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                self.put_back(push);
                return Err(Error::network("sending the answer", &e));
            }
        };
        let status = response.status();
        if status.is_success() {
            let answer: AnswerStatus = response
                .json()
                .await
                .map_err(|e| Error::network("reading the server's answer", &e))?;
            info!(push_id = %printable(&push.push_id), status = %printable(&answer.status), "answer sent");
            return Ok(AnswerStatus {
                status: printable(&answer.status),
            });
        }
        let err = server_error(response).await;
        if status.as_u16() == 429 || status.is_server_error() {
            // The server decided nothing: keep the push so the user can retry.
            self.put_back(push);
        }
        Err(err)
    }

    fn take(&self, push_id: Option<&str>) -> Result<LoginPush> {
        let now = self.now();
        let mut queue = self.queue()?;
        queue.prune(now);
        let index = match push_id {
            Some(id) => queue.pending.iter().position(|p| p.push_id == id),
            None => queue.pending.len().checked_sub(1),
        }
        .ok_or_else(|| Error::NoPending(push_id.map(printable)))?;
        let push = queue.pending.remove(index);
        drop(queue);
        self.changed();
        Ok(push)
    }

    fn put_back(&self, push: LoginPush) {
        if let Ok(mut queue) = self.queue() {
            let position = queue
                .pending
                .iter()
                .position(|p| p.expires_at > push.expires_at)
                .unwrap_or(queue.pending.len());
            queue.pending.insert(position, push);
        }
        self.changed();
    }

    /// For tests and the prompt: re-reads nothing, just prunes expired pushes.
    pub fn prune(&self) {
        let pruned = self
            .queue()
            .map(|mut q| q.prune(self.now()))
            .unwrap_or(false);
        if pruned {
            self.changed();
        }
    }
}

/// The number typed on the device: digits only (spaces and hyphens people type
/// between groups are dropped).
pub fn check_number(number: Option<&str>) -> Result<String> {
    let raw = number.ok_or_else(|| {
        Error::InvalidArgument("approving needs the number shown in the browser".to_owned())
    })?;
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::InvalidArgument(
            "the number must be the digits shown in the browser".to_owned(),
        ));
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_neutralises_terminal_tricks() {
        assert_eq!(printable("Firefox\x1b[2J"), "Firefox\u{FFFD}[2J");
        assert_eq!(printable("a\u{202E}b"), "a\u{FFFD}b");
        assert_eq!(printable(&"x".repeat(300)).chars().count(), 201);
    }

    #[test]
    fn numbers() {
        assert_eq!(check_number(Some("123 456")).unwrap(), "123456");
        assert_eq!(check_number(Some("12-34")).unwrap(), "1234");
        assert!(check_number(Some("12a4")).is_err());
        assert!(check_number(Some("")).is_err());
        assert!(check_number(None).is_err());
    }
}
