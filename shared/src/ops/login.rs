//! The login state machine.
//!
//! ```text
//!             POST /v1/login (password)
//!                     │
//!       ┌─────────────┼──────────────────────┐
//!  MFA off      MFA on, no device       MFA on, devices
//!       │             │                      │
//!  session(full)  session(setup)        mfa_token (5 min, 5 wrong factors)
//!                     │                      │ totp │ recovery │ webauthn │ push+number
//!           register first device            ▼
//!                     │                 session(full), mfa_token spent
//!             same token → full
//! ```
//!
//! Every failure of either step counts toward the account lock ([`crate::domain::lockout`]);
//! only a complete login clears it. Each second-factor attempt runs whole inside
//! [`super::retrying`]: read the mfa_token and profile, check the factor, then commit
//! success (spend the token, update the device, create the session) or failure (count it)
//! with every record's version as the condition. A concurrent attempt that changed
//! anything forces a re-read, so a one-time factor can never be accepted twice.

use super::events::{self, EventType};
use super::session::NewSession;
use crate::app::App;
use crate::clock::Instant;
use crate::domain::{self, recovery, sha256_hex, validate, MFA_TOKEN_MAX_FAILURES, MFA_TOKEN_SECS};
use crate::error::{Error, Result};
use crate::http::{self, Response};
use crate::records::{
    self, load, mfa_key, profile_key, DeviceSecret, DeviceType, MfaLogin, Profile, Scope, Stored,
};
use crate::store::{Item, Key, Write};
use lambda_http::Body;
use serde::Deserialize;
use serde_json::{json, Value};

pub use super::accounts::Credentials;

pub async fn password(app: &App, request: Credentials) -> Result<Response<Body>> {
    let now = app.clock.now();
    // An impossible username cannot exist, but it still pays for a hash: timing must not
    // tell which usernames are taken.
    let stored = match validate::username(&request.username) {
        Ok(username) => load::<Profile>(app.store.as_ref(), &profile_key(&username)).await?,
        Err(_) => None,
    };
    if let Some(stored) = &stored {
        super::refuse_if_locked(&stored.value, now)?;
    }
    let matched = app
        .passwords
        .verify(
            &request.password,
            stored.as_ref().map(|s| s.value.password_hash.as_str()),
        )
        .await?;
    let Some(stored) = stored else {
        return Err(Error::InvalidCredentials);
    };
    if !matched {
        return Err(super::password_failed(app, stored, now, None).await);
    }
    // Decided at the write, under the profile's version: if the account was locked or
    // gained its first device since it was read, the outcome is decided again.
    let answer = super::decide_unless_locked(
        app,
        stored,
        now,
        |profile| begin(app, profile, now),
        super::contention,
    )
    .await?;
    http::json(200, &answer)
}

/// What a right password leads to on `stored`, and the writes that make it so (the
/// profile's own first). Only a complete login clears the failure count: with MFA on, the
/// profile is only checked, not written.
fn begin(app: &App, stored: &Stored<Profile>, now: Instant) -> Result<(Value, Vec<Write>)> {
    let profile = &stored.value;
    let username = profile.username.clone();
    if profile.mfa_enabled && !profile.devices.is_empty() {
        let token = crate::random::token::<32>(app.rng.as_ref())?;
        let login = MfaLogin {
            token_hash: sha256_hex(token.as_bytes()),
            username,
            created_at: now.millis(),
            expires_at: now.plus_secs(MFA_TOKEN_SECS).millis(),
            failures: 0,
            pushes_sent: 0,
            webauthn_state: None,
        };
        let answer = json!({
            "status": "mfa_required",
            "mfa_token": token,
            "expires_at": Instant(login.expires_at).rfc3339(),
            "methods": methods(profile),
        });
        return Ok((
            answer,
            vec![super::unchanged(stored), records::create(&login)?],
        ));
    }
    let (scope, status) = if profile.setup_required() {
        (Scope::Setup, "mfa_setup_required")
    } else {
        (Scope::Full, "authenticated")
    };
    let session = NewSession::create(app, &username, scope, now)?;
    let detail = (scope == Scope::Setup).then_some("setup required");
    let mut cleared = profile.clone();
    let profile_write = if cleared.record_success() {
        stored.replace(&cleared)?
    } else {
        super::unchanged(stored)
    };
    let [session_write, index_write] = session.writes()?;
    let event = events::record(app, &username, now, EventType::LoginSucceeded, None, detail)?;
    let answer = json!({ "status": status, "session": session.view() });
    Ok((
        answer,
        vec![profile_write, session_write, index_write, event],
    ))
}

/// The second factors this profile can use now, in the contract's order.
pub fn methods(profile: &Profile) -> Vec<&'static str> {
    let has = |kind: DeviceType| {
        profile
            .devices
            .iter()
            .any(|d| d.secret.device_type() == kind)
    };
    let mut out = Vec::new();
    for kind in DeviceType::ALL {
        if has(kind) {
            out.push(kind.as_str());
        }
    }
    if profile
        .recovery_codes
        .as_ref()
        .is_some_and(|codes| !codes.hashes.is_empty())
    {
        out.push("recovery_code");
    }
    out
}

/// A login waiting for its second factor, as read at the start of one attempt.
pub struct Pending {
    pub mfa: Stored<MfaLogin>,
    pub profile: Stored<Profile>,
    pub now: Instant,
}

impl Pending {
    pub fn username(&self) -> &str {
        &self.profile.value.username
    }
}

pub async fn load_pending(app: &App, mfa_token: &str) -> Result<Pending> {
    let now = app.clock.now();
    let mfa = app
        .store
        .get(&mfa_token_key(mfa_token))
        .await
        .map_err(super::store_error)?;
    pending_for(app, live_login(mfa.as_ref(), now)?, now).await
}

/// Where the login of `mfa_token` is kept: only the token's SHA-256 names it.
pub fn mfa_token_key(mfa_token: &str) -> Key {
    mfa_key(&sha256_hex(mfa_token.as_bytes()))
}

/// The login as read from `item`, if it can still take a second factor: a missing,
/// expired or exhausted mfa_token is 401 invalid_mfa_token, before anything else is told.
pub fn live_login(item: Option<&Item>, now: Instant) -> Result<Stored<MfaLogin>> {
    records::decode_found::<MfaLogin>(item)?
        .filter(|m| Instant(m.value.expires_at) > now && m.value.failures < MFA_TOKEN_MAX_FAILURES)
        .ok_or(Error::InvalidMfaToken)
}

/// Reads the profile of a live login; a locked account is 429 with its Retry-After.
pub async fn pending_for(app: &App, mfa: Stored<MfaLogin>, now: Instant) -> Result<Pending> {
    let profile = load::<Profile>(app.store.as_ref(), &profile_key(&mfa.value.username))
        .await?
        .ok_or(Error::InvalidMfaToken)?;
    if let Some(seconds) = profile.value.locked_for(now) {
        return Err(Error::TooManyAttempts {
            retry_after_secs: seconds,
        });
    }
    Ok(Pending { mfa, profile, now })
}

/// Counts a wrong second factor against the mfa_token and the account, then answers
/// `error`. The token dies at its fifth failure.
pub async fn fail(
    app: &App,
    pending: &Pending,
    device_id: Option<&str>,
    detail: Option<&str>,
    error: Error,
) -> Result<Response<Body>> {
    let mut mfa = pending.mfa.value.clone();
    mfa.failures += 1;
    let mut profile = pending.profile.value.clone();
    profile.record_failure(pending.now);
    let mfa_write = if mfa.failures >= MFA_TOKEN_MAX_FAILURES {
        pending.mfa.consume()
    } else {
        pending.mfa.replace(&mfa)?
    };
    let writes = vec![
        mfa_write,
        pending.profile.replace(&profile)?,
        events::record(
            app,
            pending.username(),
            pending.now,
            EventType::SecondFactorFailed,
            device_id,
            detail,
        )?,
    ];
    super::commit(app, writes, super::contention).await?;
    Err(error)
}

/// Finishes the login: spends the mfa_token, stores `profile` (the caller's changes, such
/// as a TOTP step or a spent recovery code), creates the full session. `extra` joins the
/// same atomic write; `answer` adds fields to the authenticated answer.
pub async fn succeed(
    app: &App,
    pending: &Pending,
    mut profile: Profile,
    device_id: Option<&str>,
    extra: Vec<Write>,
    answer: Value,
) -> Result<Response<Body>> {
    profile.record_success();
    if let Some(id) = device_id {
        if let Some(device) = profile.devices.iter_mut().find(|d| d.id == id) {
            device.last_used_at = Some(pending.now.millis());
        }
    }
    let session = NewSession::create(app, pending.username(), Scope::Full, pending.now)?;
    let [session_write, index_write] = session.writes()?;
    let mut writes = vec![
        pending.mfa.consume(),
        pending.profile.replace(&profile)?,
        session_write,
        index_write,
        events::record(
            app,
            pending.username(),
            pending.now,
            EventType::LoginSucceeded,
            device_id,
            None,
        )?,
    ];
    writes.extend(extra);
    super::commit(app, writes, super::contention).await?;
    let mut body = json!({ "status": "authenticated", "session": session.view() });
    if let (Value::Object(body), Value::Object(more)) = (&mut body, answer) {
        body.extend(more);
    }
    http::json(200, &body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub mfa_token: String,
    pub code: String,
}

pub async fn totp(app: &App, request: CodeRequest) -> Result<Response<Body>> {
    super::retrying(app, || totp_attempt(app, &request)).await
}

async fn totp_attempt(app: &App, request: &CodeRequest) -> Result<Response<Body>> {
    let pending = load_pending(app, &request.mfa_token).await?;
    let Some(device) = pending
        .profile
        .value
        .devices
        .iter()
        .find(|d| d.secret.device_type() == DeviceType::Totp)
    else {
        return Err(Error::MethodNotRegistered);
    };
    let DeviceSecret::Totp {
        sealed_seed,
        last_step,
    } = &device.secret
    else {
        return Err(Error::internal(
            "a TOTP device holds another kind of secret",
        ));
    };
    let seed = app.keys()?.open_seed(pending.username(), sealed_seed)?;
    let unix_secs = u64::try_from(pending.now.secs())
        .map_err(|_| Error::internal("the clock is before 1970"))?;
    let device_id = device.id.clone();
    match domain::totp::verify(&seed, request.code.trim(), unix_secs, *last_step)? {
        Some(step) => {
            let mut profile = pending.profile.value.clone();
            if let Some(DeviceSecret::Totp { last_step, .. }) = profile
                .devices
                .iter_mut()
                .find(|d| d.id == device_id)
                .map(|d| &mut d.secret)
            {
                *last_step = Some(step);
            }
            succeed(app, &pending, profile, Some(&device_id), vec![], json!({})).await
        }
        None => fail(app, &pending, Some(&device_id), None, Error::InvalidCode).await,
    }
}

pub async fn recovery_code(app: &App, request: CodeRequest) -> Result<Response<Body>> {
    super::retrying(app, || recovery_attempt(app, &request)).await
}

async fn recovery_attempt(app: &App, request: &CodeRequest) -> Result<Response<Body>> {
    let pending = load_pending(app, &request.mfa_token).await?;
    let hashes = pending
        .profile
        .value
        .recovery_codes
        .as_ref()
        .map(|codes| codes.hashes.clone())
        .unwrap_or_default();
    let keys = app.keys()?;
    let presented = recovery::normalise(&request.code).map(|code| keys.recovery_code_hash(&code));
    // Compare against every stored hash, in constant time, whatever matches.
    let mut found = None;
    if let Some(presented) = &presented {
        for (index, stored) in hashes.iter().enumerate() {
            if domain::secrets_equal(stored.as_bytes(), presented.as_bytes()) && found.is_none() {
                found = Some(index);
            }
        }
    }
    let Some(index) = found else {
        return fail(
            app,
            &pending,
            None,
            Some("recovery code"),
            Error::InvalidCode,
        )
        .await;
    };
    let mut profile = pending.profile.value.clone();
    let remaining = match profile.recovery_codes.as_mut() {
        Some(codes) => {
            codes.hashes.remove(index);
            codes.hashes.len()
        }
        None => return Err(Error::internal("recovery codes vanished from the profile")),
    };
    let used = events::record(
        app,
        pending.username(),
        pending.now,
        EventType::RecoveryCodeUsed,
        None,
        Some(&format!("{remaining} left")),
    )?;
    succeed(
        app,
        &pending,
        profile,
        None,
        vec![used],
        json!({ "recovery_codes_remaining": remaining }),
    )
    .await
}
