//! A login between its password and its second factor, shared by every factor: the
//! mfa_token's item read and judged (unknown, expired, exhausted: 401; a locked account:
//! 429), a wrong factor counted against the token and the account, a right one spending the
//! token and creating the full session, all in one conditional write.

use crate::answers::SignedIn;
use crate::app::App;
use crate::audit::{self, EventType};
use crate::auth::NewSession;
use crate::clock::Instant;
use crate::domain::{sha256_hex, MFA_TOKEN_MAX_FAILURES};
use crate::error::{Error, Result};
use crate::records::{
    self, load, mfa_key, profile_key, DeviceType, MfaLogin, Profile, Scope, Stored,
};
use crate::store::{Item, Key, Write};

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
    let mfa = app.store.get(&mfa_token_key(mfa_token)).await?;
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
pub async fn fail<T>(
    app: &App,
    pending: &Pending,
    device_id: Option<&str>,
    detail: Option<&str>,
    error: Error,
) -> Result<T> {
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
        audit::record(
            app,
            pending.username(),
            pending.now,
            EventType::SecondFactorFailed,
            device_id,
            detail,
        )?,
    ];
    crate::txn::commit(app, writes, crate::txn::contention).await?;
    Err(error)
}

/// Finishes the login: spends the mfa_token, stores `profile` (the caller's changes, such
/// as a TOTP step or a spent recovery code), creates the full session. `extra` joins the
/// same atomic write; `recovery_codes_remaining` joins the answer after a recovery code.
pub async fn succeed(
    app: &App,
    pending: &Pending,
    mut profile: Profile,
    device_id: Option<&str>,
    extra: Vec<Write>,
    recovery_codes_remaining: Option<usize>,
) -> Result<SignedIn> {
    profile.record_success();
    if let Some(id) = device_id {
        if let Some(device) = profile.devices.iter_mut().find(|d| d.id == id) {
            device.last_used_at = Some(pending.now.millis());
        }
    }
    // A password change (or "sign out everywhere else") since the password step ends
    // this login too.
    if pending.mfa.value.generation != pending.profile.value.session_generation {
        return Err(Error::InvalidMfaToken);
    }
    let session = NewSession::create(app, &profile, Scope::Full, pending.now)?;
    let [session_write, index_write] = session.writes()?;
    let mut writes = vec![
        pending.mfa.consume(),
        pending.profile.replace(&profile)?,
        session_write,
        index_write,
        audit::record(
            app,
            pending.username(),
            pending.now,
            EventType::LoginSucceeded,
            device_id,
            None,
        )?,
    ];
    writes.extend(extra);
    crate::txn::commit(app, writes, crate::txn::contention).await?;
    Ok(SignedIn {
        session: session.view(),
        recovery_codes_remaining,
    })
}
