//! Push authentication: enrolling a push device (the push-agent) and logging in with
//! number matching.
//!
//! Enrollment. `POST /v1/mfa/push` starts a registration whose one-time secret (256 bits,
//! only its SHA-256 stored) travels in the registration URI together with the server's
//! Ed25519 key. The device proves possession of the secret and of its new P-256 key
//! (a signature over the registration id and the key), its endpoint is subscribed to the
//! push topic with a filter on its device id, and only then is the device written. If
//! that write fails the subscription is dropped again, unless the device turns out to
//! have been stored after all (an answer lost on the way back).
//!
//! A login push moves through these states, each change one conditional write on the
//! `PUSH#` item, so exactly one answer wins:
//!
//! ```text
//!   POST /v1/login/push ──▶ pending ──(device: approve, right number)──▶ approved
//!            │                 │  └───(device: deny, or a wrong number)──▶ denied
//!            │                 └──(120 s, no answer)──▶ expired (computed on read)
//!   Publish failed ──▶ failed (answered "expired"; the rate-limit counters are given back)
//!
//!   approved ──POST /v1/login/push/status──▶ full session; the mfa_token is spent, so
//!                                            the answer is handed out once
//! ```
//!
//! The device's answer is trusted only with a valid ECDSA P-256 signature by the device's
//! stored key over the push's challenge; the signature is checked before anything about
//! the push's state is told. An approval with the wrong number counts as a wrong second
//! factor (against the mfa_token and the account lock) as well as a denial.
//!
//! Why the number is hashed plainly (SHA-256 bound to the push id) rather than keyed: it
//! is no secret from whoever holds the browser, and knowing it is worthless without the
//! device key. It is kept out of the store in clear all the same.
//!
//! The wire format (registration URI, the strings devices sign, the signed envelope and
//! its payloads) is the `latchkey-wire` crate's, which push-agent reads with: one copy.

use crate::answers::{
    NoticeReported, PushAnswered, PushEnrolled, PushLoginStatus, PushRegistration, PushSent,
};
use crate::app::App;
use crate::audit::{self, EventType};
use crate::auth::Caller;
use crate::clock::Instant;
use crate::domain::{secrets_equal, sha256_hex, validate};
use crate::enrollment;
use crate::error::{Error, Result};
use crate::http::ClientInfo;
use crate::notice::{NoticeRef, NOTICE_LIFETIME_SECS};
use crate::records::{
    self, event_key, load, mfa_key, notice_report_key, profile_key, push_key, Device, DeviceSecret,
    DeviceType, Event, MfaLogin, NoticeReport, PendingDevice, Profile, Push, PushStatus, Stored,
};
use crate::second_factor::{self, Pending};
use crate::store::{Item, Write};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
pub use latchkey_wire::NoticeReportRequest;
use latchkey_wire::{
    answer_message, enroll_message, notice_report_message, Decision, LoginPush, RegistrationUri,
    Secret, SignedEnvelope,
};
use ring::signature;
use serde::Deserialize;

/// At most this many pushes per mfa_token (docs/openapi.yaml, `POST /v1/login/push`)...
pub const PUSHES_PER_LOGIN: u32 = 3;
/// ...and this many per account within [`PUSH_WINDOW_SECS`].
pub const PUSHES_PER_WINDOW: usize = 10;
pub const PUSH_WINDOW_SECS: i64 = 15 * 60;

const MAX_ENDPOINT_LEN: usize = 2048;

// ---------------------------------------------------------------------------------------
// Registration

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StartRegistrationRequest)]
pub struct StartRequest {
    /// The device's name; `null` or absent means a default unless confirm names it.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::DeviceName>)]
    pub name: Option<String>,
    /// For re-authentication, judged by the policy before the operation runs.
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /v1/mfa/push` → `200 {"registration_id", "registration_uri", "qr_svg", "expires_at"}`.
pub async fn start(app: &App, caller: &Caller, request: StartRequest) -> Result<PushRegistration> {
    let secret = crate::random::token::<32>(app.rng.as_ref())?;
    let secret_hash = sha256_hex(secret.as_bytes());
    let reg = enrollment::start(
        app,
        caller,
        DeviceType::Push,
        request.name.as_deref(),
        |_| Ok(PendingDevice::Push { secret_hash }),
    )
    .await?;
    let server_key = app.keys()?.push_public_key()?;
    let uri = RegistrationUri {
        api: app.config.public_url.clone(),
        registration_id: reg.id.clone(),
        secret: Secret::new(secret),
        username: caller.username.clone(),
        issuer: app.config.issuer.clone(),
        server_key: server_key
            .as_slice()
            .try_into()
            .map_err(|_| Error::internal("the push signing key is not an Ed25519 key"))?,
    }
    .to_uri();
    Ok(PushRegistration {
        registration_id: reg.id,
        qr_svg: crate::domain::totp::qr_svg(&uri)?,
        registration_uri: uri,
        expires_at: Instant(reg.expires_at).rfc3339(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PushEnrollRequest)]
pub struct EnrollRequest {
    /// `rid` of the registration URI.
    pub registration_id: String,
    /// `secret` of the registration URI (one-time, base64url); a wrong one is
    /// `401 invalid_credentials`.
    pub secret: String,
    /// The device's P-256 key, an uncompressed SEC1 point (65 bytes, `0x04 || X || Y`),
    /// base64url without padding; else `400 invalid_request`.
    #[schema(pattern = "^B[A-P][A-Za-z0-9_-]{84}[AEIMQUYcgkosw048]$")]
    pub public_key: String,
    /// The HTTP(S) URL where the device receives SNS notifications: an absolute `https`
    /// URL without credentials or fragment, at most 2048 characters; plain `http` only to
    /// a loopback host (`localhost`, 127.0.0.0/8, `::1`); else `400 invalid_request`. The
    /// pattern is a plain subset of that rule a client can rely on.
    #[schema(
        format = "uri",
        max_length = 2048,
        pattern = "^(?:https://[A-Za-z][A-Za-z0-9]{0,62}(?:[.][A-Za-z][A-Za-z0-9]{0,62}){0,3}|http://(?:localhost|127[.]0[.]0[.]1|\\[::1\\]))(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~-]*)*$"
    )]
    pub endpoint: String,
    /// The device's name; overrides the start's name.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::DeviceName>)]
    pub name: Option<String>,
    /// ECDSA P-256 SHA-256, ASN.1 DER, base64url, by the device key over
    /// `PushEnrollSignedString`. A bad one is `401 invalid_signature`.
    pub signature: String,
}

/// `POST /v1/push/enroll` (no session: the one-time secret authorises it) → `201 {"device_id"}`.
///
/// Error order: malformed fields 400; then the registration (unknown 404, used 409,
/// expired 410: its id is random and travels with the secret, so these tell nothing
/// secret); then the secret (401 invalid_credentials), then the device's signature
/// (401 invalid_signature). The recovery codes a first device brings are not in this
/// answer: it goes to the device, not to the user's browser, which makes fresh ones.
pub async fn enroll(app: &App, request: EnrollRequest) -> Result<PushEnrolled> {
    enrollment::optional_name(request.name.as_deref())?;
    let public_key = device_key(&request.public_key).ok_or_else(|| {
        Error::invalid("field `public_key` must be an uncompressed P-256 point, base64url")
    })?;
    let endpoint = check_endpoint(&request.endpoint)?;
    if !validate::plausible_id(&request.registration_id) {
        return Err(Error::NotFound);
    }

    let reg = enrollment::open(app, &request.registration_id, app.clock.now()).await?;
    let PendingDevice::Push { secret_hash } = &reg.value.pending else {
        return Err(Error::NotFound);
    };
    let presented = sha256_hex(request.secret.as_bytes());
    if !secrets_equal(presented.as_bytes(), secret_hash.as_bytes()) {
        return Err(Error::InvalidCredentials);
    }
    let message = enroll_message(&request.registration_id, &request.public_key);
    verify_device_signature(&public_key, &message, &request.signature)?;

    // Refuse before touching SNS when the account already has a push device; confirm
    // checks again under the profile's version.
    let profile = load::<Profile>(app.store.as_ref(), &profile_key(&reg.value.username))
        .await?
        .ok_or(Error::NotFound)?;
    enrollment::check_room(&profile.value, DeviceType::Push)?;

    // The filter policy names the device, so its id exists before the device does.
    let device_id = crate::random::id(app.rng.as_ref())?;
    let subscription = app.notifier.subscribe(&endpoint, &device_id).await?;
    let username = reg.value.username.clone();
    // The first attempt writes on what was read above, the registration judged again
    // after the subscribe; both writes expect the versions read, so anything that changed
    // meanwhile fails the write, and the retry reads afresh.
    let mut seed = Some((reg, profile));
    let (request, subscription_arn, id) = (&request, &subscription, &device_id);
    let confirmed = crate::txn::retrying(app, || {
        let seed = seed.take();
        async move {
            let now = app.clock.now();
            let (reg, profile) = match seed {
                Some((reg, profile)) => (enrollment::still_open(reg, now)?, Some(profile)),
                None => (
                    enrollment::open(app, &request.registration_id, now).await?,
                    None,
                ),
            };
            if !matches!(reg.value.pending, PendingDevice::Push { .. }) {
                return Err(Error::NotFound);
            }
            let secret = DeviceSecret::Push {
                public_key: request.public_key.clone(),
                subscription_arn: Some(subscription_arn.clone()),
            };
            enrollment::confirm_with_id(
                app,
                &reg,
                None,
                profile,
                request.name.as_deref(),
                id.clone(),
                secret,
            )
            .await
        }
    })
    .await;
    match confirmed {
        Ok(confirmed) => Ok(PushEnrolled {
            device_id: confirmed.device.id,
            topic_arn: app.config.push_topic_arn.clone(),
        }),
        Err(error) => match device_stored(app, &username, &device_id).await {
            Some(true) => Ok(PushEnrolled {
                device_id,
                topic_arn: app.config.push_topic_arn.clone(),
            }),
            Some(false) => {
                drop_subscription(app, &subscription).await;
                Err(error)
            }
            None => {
                tracing::warn!("push enrollment failed and the profile cannot be read; keeping its SNS subscription");
                Err(error)
            }
        },
    }
}

/// Whether the device was written after all (the write's answer may be what failed);
/// `None` when that cannot be read either. Then the subscription stays: a stray one,
/// filtered on an unknown device id, delivers nothing, while dropping a live device's
/// would silently break it.
async fn device_stored(app: &App, username: &str, device_id: &str) -> Option<bool> {
    match load::<Profile>(app.store.as_ref(), &profile_key(username)).await {
        Ok(Some(profile)) => Some(profile.value.devices.iter().any(|d| d.id == device_id)),
        Ok(None) => Some(false),
        Err(_) => None,
    }
}

async fn drop_subscription(app: &App, subscription: &str) {
    if app.notifier.unsubscribe(subscription).await.is_err() {
        tracing::warn!("push enrollment failed and its SNS subscription could not be removed");
    }
}

/// An uncompressed SEC1 P-256 point (65 bytes, `0x04 ‖ X ‖ Y`), base64url. Whether the
/// point is on the curve is checked by ring with the enrollment signature.
fn device_key(text: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    (bytes.len() == 65 && bytes[0] == 0x04).then_some(bytes)
}

/// The SNS endpoint: an absolute `https` URL without credentials or fragment; plain
/// `http` only to a loopback host (a local agent behind moto), since a push names the
/// user, their IP and browser and must not cross a network in clear text.
fn check_endpoint(text: &str) -> Result<String> {
    let refuse = |why: &str| Error::invalid(format!("field `endpoint` {why}"));
    if text.len() > MAX_ENDPOINT_LEN {
        return Err(refuse("is too long"));
    }
    let url = url::Url::parse(text).map_err(|_| refuse("must be an absolute http or https URL"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(refuse("must not carry credentials or a fragment"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(refuse("must use https unless its host is loopback")),
        _ => return Err(refuse("must be an absolute http or https URL")),
    }
    Ok(url.to_string())
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// ECDSA P-256 SHA-256 (ASN.1 DER, base64url) by `public_key` over `message`.
fn verify_device_signature(public_key: &[u8], message: &str, signature_b64: &str) -> Result<()> {
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| Error::InvalidSignature)?;
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, public_key)
        .verify(message.as_bytes(), &signature)
        .map_err(|_| Error::InvalidSignature)
}

// ---------------------------------------------------------------------------------------
// Login

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MfaTokenRequest)]
pub struct LoginPushRequest {
    /// From the `mfa_required` login answer. Any other string is `401 invalid_mfa_token`.
    pub mfa_token: String,
}

/// `POST /v1/login/push` → `202 {"push_id", "number", "expires_at"}`.
pub async fn login_push(
    app: &App,
    request: LoginPushRequest,
    client: ClientInfo,
) -> Result<PushSent> {
    let (push, number) = crate::txn::retrying(app, || create_push(app, &request.mfa_token)).await?;
    let message = signed_message(app, &push, &client)?;
    if app
        .notifier
        .publish(&push.device_id, &message)
        .await
        .is_err()
    {
        withdraw(app, &push).await;
        return Err(Error::Unavailable);
    }
    Ok(PushSent {
        expires_at: Instant(push.expires_at).rfc3339(),
        push_id: push.push_id,
        number,
    })
}

/// Checks the limits and writes the push with both counters, all at once.
async fn create_push(app: &App, mfa_token: &str) -> Result<(Push, String)> {
    let pending = second_factor::load_pending(app, mfa_token).await?;
    let now = pending.now;
    let device_id = pending
        .profile
        .value
        .devices
        .iter()
        .find(|d| d.secret.device_type() == DeviceType::Push)
        .map(|d| d.id.clone())
        .ok_or(Error::MethodNotRegistered)?;

    let mut mfa = pending.mfa.value.clone();
    if mfa.pushes_sent >= PUSHES_PER_LOGIN {
        return Err(Error::TooManyAttempts {
            retry_after_secs: now.secs_until(Instant(mfa.expires_at)),
        });
    }
    let mut profile = pending.profile.value.clone();
    let window_start = now.plus_secs(-PUSH_WINDOW_SECS);
    profile
        .recent_pushes
        .retain(|at| Instant(*at) > window_start);
    if profile.recent_pushes.len() >= PUSHES_PER_WINDOW {
        let oldest = profile.recent_pushes.iter().copied().min().unwrap_or(now.0);
        return Err(Error::TooManyAttempts {
            retry_after_secs: now.secs_until(Instant(oldest).plus_secs(PUSH_WINDOW_SECS)),
        });
    }
    mfa.pushes_sent += 1;
    profile.recent_pushes.push(now.millis());

    let push_id = crate::random::id(app.rng.as_ref())?;
    let number = crate::random::digits(app.rng.as_ref(), app.config.push_digits)?;
    let push = Push {
        number_hash: number_hash(&push_id, &number),
        push_id,
        username: pending.username().to_owned(),
        device_id,
        mfa_token_hash: mfa.token_hash.clone(),
        challenge: crate::random::token::<32>(app.rng.as_ref())?,
        status: PushStatus::Pending,
        created_at: now.millis(),
        expires_at: now.plus_secs(app.config.push_ttl_secs).millis(),
        answered_at: None,
    };
    let writes = vec![
        records::create(&push)?,
        pending.mfa.replace(&mfa)?,
        pending.profile.replace(&profile)?,
    ];
    crate::txn::commit(app, writes, crate::txn::contention).await?;
    Ok((push, number))
}

fn number_hash(push_id: &str, number: &str) -> String {
    sha256_hex(format!("{push_id}\n{number}").as_bytes())
}

/// The SNS Message: `{"payload": "<JSON>", "signature": "<Ed25519 over the payload bytes>"}`.
fn signed_message(app: &App, push: &Push, client: &ClientInfo) -> Result<String> {
    let unserialisable = |_| Error::internal("a push message does not serialise");
    let payload = LoginPush {
        push_id: push.push_id.clone(),
        challenge: push.challenge.clone(),
        device_id: push.device_id.clone(),
        username: push.username.clone(),
        issuer: app.config.issuer.clone(),
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        created_at: Instant(push.created_at).rfc3339(),
        expires_at: Instant(push.expires_at).rfc3339(),
        respond_url: format!("{}/v1/push/respond", app.config.public_url),
    }
    .to_json()
    .map_err(unserialisable)?;
    let signature = app.keys()?.push_sign(payload.as_bytes())?;
    SignedEnvelope::new(payload, &signature)
        .to_json()
        .map_err(unserialisable)
}

/// After a failed Publish: the push can never be answered (it is marked failed) and the
/// two counters get their unit back, since nothing reached the user. Best effort: if this
/// fails too, the push still expires unanswered and the counters age out.
async fn withdraw(app: &App, push: &Push) {
    let result = crate::txn::retrying(app, || async {
        let [stored, mfa, profile] = records::get_many(
            app.store.as_ref(),
            [
                push_key(&push.push_id),
                mfa_key(&push.mfa_token_hash),
                profile_key(&push.username),
            ],
        )
        .await?;
        let Some(stored) = records::decode_found::<Push>(stored.as_ref())? else {
            return Ok(());
        };
        if stored.value.status != PushStatus::Pending {
            return Ok(());
        }
        let mut failed = stored.value.clone();
        failed.status = PushStatus::Failed;
        let mut writes = vec![stored.replace(&failed)?];
        if let Some(mfa) = records::decode_found::<MfaLogin>(mfa.as_ref())? {
            let mut given_back = mfa.value.clone();
            given_back.pushes_sent = given_back.pushes_sent.saturating_sub(1);
            writes.push(mfa.replace(&given_back)?);
        }
        if let Some(profile) = records::decode_found::<Profile>(profile.as_ref())? {
            let mut given_back = profile.value.clone();
            if let Some(index) = given_back
                .recent_pushes
                .iter()
                .position(|at| *at == push.created_at)
            {
                given_back.recent_pushes.remove(index);
                writes.push(profile.replace(&given_back)?);
            }
        }
        crate::txn::commit(app, writes, crate::txn::contention).await
    })
    .await;
    if result.is_err() {
        tracing::warn!("a push whose publish failed could not be withdrawn; it will expire");
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LoginPushStatusRequest)]
pub struct StatusRequest {
    pub mfa_token: String,
    /// From `POST /v1/login/push`. Another login's push is `404 not_found`.
    pub push_id: String,
}

/// `POST /v1/login/push/status` → `{"status": "pending" | "denied" | "expired"}`, or the
/// authenticated answer once, when approved.
pub async fn status(app: &App, request: StatusRequest) -> Result<PushLoginStatus> {
    crate::txn::retrying(app, || status_attempt(app, &request)).await
}

async fn status_attempt(app: &App, request: &StatusRequest) -> Result<PushLoginStatus> {
    let now = app.clock.now();
    let mfa_key = second_factor::mfa_token_key(&request.mfa_token);
    // Both keys come with the request, so one read fetches the login and its push; an
    // id too long to exist only needs the login (its token is judged first).
    let (mfa, push) = if !validate::plausible_id(&request.push_id) {
        (app.store.get(&mfa_key).await?, None)
    } else {
        let [mfa, push] =
            records::get_many(app.store.as_ref(), [mfa_key, push_key(&request.push_id)]).await?;
        (mfa, push)
    };
    let pending =
        second_factor::pending_for(app, second_factor::live_login(mfa.as_ref(), now)?, now).await?;
    let push = own_push(&pending, push.as_ref())?;
    Ok(match push.value.status {
        PushStatus::Pending if Instant(push.value.expires_at) <= pending.now => {
            PushLoginStatus::Expired
        }
        PushStatus::Pending => PushLoginStatus::Pending,
        PushStatus::Failed => PushLoginStatus::Expired,
        PushStatus::Denied => PushLoginStatus::Denied,
        PushStatus::Approved => {
            // Approved by a device since removed: the approval no longer counts.
            if !pending
                .profile
                .value
                .devices
                .iter()
                .any(|d| d.id == push.value.device_id)
            {
                PushLoginStatus::Expired
            } else {
                let profile = pending.profile.value.clone();
                let signed_in = second_factor::succeed(
                    app,
                    &pending,
                    profile,
                    Some(&push.value.device_id),
                    vec![],
                    None,
                )
                .await?;
                PushLoginStatus::Authenticated(signed_in)
            }
        }
    })
}

/// The push read with the login, if it belongs to this login; another login's push is not
/// found.
fn own_push(pending: &Pending, item: Option<&Item>) -> Result<Stored<Push>> {
    records::decode_found::<Push>(item)?
        .filter(|p| {
            secrets_equal(
                p.value.mfa_token_hash.as_bytes(),
                pending.mfa.value.token_hash.as_bytes(),
            )
        })
        .ok_or(Error::NotFound)
}

// ---------------------------------------------------------------------------------------
// The device's answer

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PushRespondRequest)]
pub struct RespondRequest {
    pub push_id: String,
    pub device_id: String,
    #[schema(value_type = crate::schema::PushDecision)]
    pub decision: Decision,
    /// The digits typed on the device. Absent or `null` counts as the empty string; a
    /// wrong number turns an approval into a denial.
    #[serde(default)]
    pub number: Option<String>,
    /// ECDSA P-256 SHA-256, ASN.1 DER, base64url, by the device key over
    /// `PushAnswerSignedString`. A bad one is `401 invalid_signature`.
    pub signature: String,
}

/// `POST /v1/push/respond` (no session: the device key authorises it) →
/// `200 {"status": "approved" | "denied"}`.
///
/// An unknown push, or one for another (or a since removed) device, is 404. Then the
/// signature (401), and only then the state: answered 409, expired 410.
pub async fn respond(app: &App, request: RespondRequest) -> Result<PushAnswered> {
    if !validate::plausible_id(&request.push_id) {
        return Err(Error::NotFound);
    }
    let status = crate::txn::retrying(app, || respond_attempt(app, &request)).await?;
    Ok(PushAnswered { status })
}

async fn respond_attempt(app: &App, request: &RespondRequest) -> Result<&'static str> {
    let now = app.clock.now();
    let push = load::<Push>(app.store.as_ref(), &push_key(&request.push_id))
        .await?
        .ok_or(Error::NotFound)?;
    if push.value.device_id != request.device_id {
        return Err(Error::NotFound);
    }
    let profile = load::<Profile>(app.store.as_ref(), &profile_key(&push.value.username))
        .await?
        .ok_or(Error::NotFound)?;
    let public_key = push_device_key(&profile.value, &request.device_id)?;
    let message = answer_message(
        &push.value.push_id,
        &push.value.challenge,
        request.decision,
        request.number.as_deref(),
    );
    verify_device_signature(&public_key, &message, &request.signature)?;

    match push.value.status {
        PushStatus::Pending => {}
        PushStatus::Failed => return Err(Error::Expired),
        PushStatus::Approved | PushStatus::Denied => return Err(Error::AlreadyAnswered),
    }
    if Instant(push.value.expires_at) <= now {
        return Err(Error::Expired);
    }

    let number = request.number.as_deref().unwrap_or("");
    let right_number = secrets_equal(
        number_hash(&push.value.push_id, number).as_bytes(),
        push.value.number_hash.as_bytes(),
    );
    let mut answered = push.value.clone();
    answered.answered_at = Some(now.millis());
    let username = push.value.username.clone();
    let device_id = Some(push.value.device_id.as_str());
    let (status, writes) = match request.decision {
        Decision::Approve if right_number => {
            answered.status = PushStatus::Approved;
            // Counts only while the device whose key verified it is still the account's.
            // Two items also make the write a transaction, whose idempotency token keeps
            // the SDK's retry of a landed approval from meeting it as "already answered".
            (
                "approved",
                vec![push.replace(&answered)?, crate::txn::unchanged(&profile)],
            )
        }
        Decision::Deny => {
            answered.status = PushStatus::Denied;
            let event = audit::record(
                app,
                &username,
                now,
                EventType::PushDenied,
                device_id,
                Some("denied on the device"),
            )?;
            ("denied", vec![push.replace(&answered)?, event])
        }
        Decision::Approve => {
            answered.status = PushStatus::Denied;
            let mut writes = vec![push.replace(&answered)?];
            writes.extend(wrong_number(app, &push.value, profile, now).await?);
            ("denied", writes)
        }
    };
    crate::txn::commit(app, writes, crate::txn::contention).await?;
    Ok(status)
}

/// The P-256 key of the account's push device `device_id`; another device, or one not
/// (or no longer) registered, is not found.
fn push_device_key(profile: &Profile, device_id: &str) -> Result<Vec<u8>> {
    let public_key = profile
        .devices
        .iter()
        .find_map(|d| match &d.secret {
            DeviceSecret::Push { public_key, .. } if d.id == device_id => Some(public_key),
            _ => None,
        })
        .ok_or(Error::NotFound)?;
    URL_SAFE_NO_PAD
        .decode(public_key)
        .map_err(|_| Error::internal("a stored push device key is not base64url"))
}

/// A wrong number is a wrong second factor: it counts against the login's mfa_token (as
/// [`second_factor::fail`] does; the token dies at its fifth) and toward the account lock.
/// The exhausted token is kept, not deleted: `load_pending` refuses it all the same, and
/// this function's IAM policy has no DeleteItem.
async fn wrong_number(
    app: &App,
    push: &Push,
    profile: Stored<Profile>,
    now: Instant,
) -> Result<Vec<Write>> {
    let mut writes = Vec::new();
    if let Some(mfa) = load::<MfaLogin>(app.store.as_ref(), &mfa_key(&push.mfa_token_hash)).await? {
        let mut counted = mfa.value.clone();
        counted.failures = counted.failures.saturating_add(1);
        writes.push(mfa.replace(&counted)?);
    }
    let mut counted = profile.value.clone();
    counted.record_failure(now);
    writes.push(profile.replace(&counted)?);
    writes.push(audit::record(
        app,
        &push.username,
        now,
        EventType::PushDenied,
        Some(&push.device_id),
        Some("wrong number"),
    )?);
    Ok(writes)
}

// ---------------------------------------------------------------------------------------
// "This wasn't me": the report of a security notice

/// `POST /v1/push/report` (no session: the device key authorises it) →
/// `200 {"status": "reported", "revoked_sessions": n}`.
///
/// The notice id names its event (crate::notice), so the event, the profile and the
/// notice's report mark are read by key in one round trip. An unknown notice, an event no
/// notice is sent for, or a device that is not the account's push device: 404. Then the
/// signature (401), and only then the state: reported already 409, expired 410.
///
/// The mark, the `notice_reported` event, the removal of a device the notice said was
/// added, the profile's new session generation (which ends every session at once) and the
/// first sessions' items are one write, under the profile's version, so two reports
/// cannot both win and no report is half-made. Items beyond the first write's share are
/// deleted after it; the count answered is of all of them.
pub async fn report(app: &App, request: NoticeReportRequest) -> Result<NoticeReported> {
    let reference = NoticeRef::parse(&request.notice_id).ok_or(Error::NotFound)?;
    if !validate::plausible_id(&request.device_id) {
        return Err(Error::NotFound);
    }
    let (first, removed) =
        crate::txn::retrying(app, || report_attempt(app, &request, &reference)).await?;
    if let Some(DeviceSecret::Push {
        subscription_arn: Some(arn),
        ..
    }) = removed.as_ref().map(|d| &d.secret)
    {
        // The device is gone already; a subscription left behind filters on its id and
        // delivers nothing.
        if app.notifier.unsubscribe(arn).await.is_err() {
            tracing::warn!("a reported device was removed but its SNS subscription stays");
        }
    }
    // A full first share may have left more behind. They are ended already (the profile's
    // generation moved on), so deleting their items is cleanup: when it fails, the report
    // stands and is answered, the items are left for the TTL, and the count is of the
    // items deleted.
    let rest = if first == crate::auth::SESSIONS_PER_WRITE {
        match crate::auth::revoke_all(app, &reference.username, vec![]).await {
            Ok(rest) => rest,
            Err(error) => {
                tracing::warn!(
                    code = error.code(),
                    "items of ended sessions left for the TTL"
                );
                0
            }
        }
    } else {
        0
    };
    Ok(NoticeReported {
        status: "reported",
        revoked_sessions: first + rest,
    })
}

/// One decision and its write; returns the sessions it revoked and the device it removed.
async fn report_attempt(
    app: &App,
    request: &NoticeReportRequest,
    reference: &NoticeRef,
) -> Result<(usize, Option<Device>)> {
    let now = app.clock.now();
    let username = &reference.username;
    let [event, profile, mark] = records::get_many(
        app.store.as_ref(),
        [
            event_key(username, reference.at, &reference.id),
            profile_key(username),
            notice_report_key(username, reference.at, &reference.id),
        ],
    )
    .await?;
    let event = records::decode_found::<Event>(event.as_ref())?
        .filter(|e| crate::notice::noticed(&e.value.kind))
        .ok_or(Error::NotFound)?
        .value;
    let profile = records::decode_found::<Profile>(profile.as_ref())?.ok_or(Error::NotFound)?;
    let public_key = push_device_key(&profile.value, &request.device_id)?;
    let message = notice_report_message(&request.notice_id, &request.device_id);
    verify_device_signature(&public_key, &message, &request.signature)?;
    if mark.is_some() {
        return Err(Error::AlreadyAnswered);
    }
    let expires_at = Instant(event.at).plus_secs(NOTICE_LIFETIME_SECS);
    if expires_at <= now {
        return Err(Error::Expired);
    }

    // The device the notice said was added, unless it is the reporting device itself
    // (which is never told of its own enrollment).
    let removed = match (event.kind.as_str(), event.device_id.as_deref()) {
        ("device_added", Some(id)) if id != request.device_id => {
            profile.value.devices.iter().find(|d| d.id == id).cloned()
        }
        _ => None,
    };
    let mark = NoticeReport {
        username: username.clone(),
        event_at: event.at,
        event_id: event.id.clone(),
        device_id: request.device_id.clone(),
        reported_at: now.millis(),
        expires_at: expires_at.millis(),
    };
    let detail = match &removed {
        Some(_) => format!("{} notice; device removed", event.kind),
        None => format!("{} notice", event.kind),
    };
    let mut writes = vec![
        records::create(&mark)?,
        audit::record(
            app,
            username,
            now,
            EventType::NoticeReported,
            removed.as_ref().map(|d| d.id.as_str()),
            Some(&detail),
        )?,
    ];
    // Every session ends at once, however many there are and whatever login races this:
    // they carry a session generation that is no longer the profile's (authentication
    // reads the profile anyway). Deleting their items below is cleanup. The replace also
    // commits the decision only while the profile it was taken on (its push device's
    // key) still holds.
    let mut changed = profile.value.clone();
    changed.session_generation = changed.session_generation.wrapping_add(1);
    if let Some(device) = &removed {
        changed.devices.retain(|d| d.id != device.id);
    }
    writes.push(profile.replace(&changed)?);
    let hashes =
        crate::auth::session_hashes(app, username, crate::auth::SESSIONS_PER_WRITE, None).await?;
    for hash in &hashes {
        writes.extend(crate::auth::revoke_by_hash(username, hash));
    }
    crate::txn::commit(app, writes, |index| match index {
        0 => Error::AlreadyAnswered,
        _ => Error::Contention,
    })
    .await?;
    Ok((hashes.len(), removed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_need_https_unless_loopback() {
        assert!(check_endpoint("https://push.example.com/sns").is_ok());
        assert!(check_endpoint("http://127.0.0.1:8443/").is_ok());
        assert!(check_endpoint("http://localhost:1/x").is_ok());
        assert!(check_endpoint("http://[::1]:1/").is_ok());
        for bad in [
            "http://push.example.com/",
            "http://10.0.0.1/",
            "ftp://localhost/",
            "https://user:pw@push.example.com/",
            "https://push.example.com/#x",
            "/relative",
            "",
        ] {
            assert!(
                matches!(check_endpoint(bad), Err(Error::InvalidRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn device_keys_are_uncompressed_points() {
        let mut key = vec![4u8; 65];
        assert!(device_key(&URL_SAFE_NO_PAD.encode(&key)).is_some());
        key[0] = 2;
        assert!(device_key(&URL_SAFE_NO_PAD.encode(&key)).is_none());
        assert!(device_key(&URL_SAFE_NO_PAD.encode([4u8; 33])).is_none());
        assert!(device_key("not base64!").is_none());
    }
}
