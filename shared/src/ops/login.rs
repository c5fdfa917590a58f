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
//! [`crate::txn::retrying`]: read the mfa_token and profile, check the factor, then commit
//! success (spend the token, update the device, create the session) or failure (count it)
//! with every record's version as the condition. A concurrent attempt that changed
//! anything forces a re-read, so a one-time factor can never be accepted twice.

use crate::answers::{LoginAnswer, SignedIn};
use crate::app::App;
use crate::audit::{self, EventType};
use crate::auth::NewSession;
use crate::clock::Instant;
use crate::domain::{self, recovery, sha256_hex, validate, MFA_TOKEN_SECS};
use crate::error::{Error, Result};
use crate::records::{
    self, load, profile_key, DeviceSecret, DeviceType, MfaLogin, Profile, Scope, Stored,
};
use crate::second_factor::{fail, load_pending, methods, succeed};
use crate::store::Write;
use serde::Deserialize;

use crate::auth::Credentials;

pub async fn password(app: &App, request: Credentials) -> Result<LoginAnswer> {
    let now = app.clock.now();
    // An impossible username cannot exist, but it still pays for a hash: timing must not
    // tell which usernames are taken.
    let stored = match validate::username(&request.username) {
        Ok(username) => load::<Profile>(app.store.as_ref(), &profile_key(&username)).await?,
        Err(_) => None,
    };
    if let Some(stored) = &stored {
        crate::txn::refuse_if_locked(&stored.value, now)?;
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
        return Err(crate::txn::password_failed(app, stored, now, None).await);
    }
    // Decided at the write, under the profile's version: if the account was locked or
    // gained its first device since it was read, the outcome is decided again.
    // The password was judged against this hash: if it changed meanwhile (a password
    // change won the race), the old password no longer signs in.
    let judged = stored.value.password_hash.clone();
    let answer = crate::txn::decide_unless_locked(
        app,
        stored,
        now,
        |profile| {
            if profile.value.password_hash != judged {
                return Err(Error::InvalidCredentials);
            }
            begin(app, profile, now)
        },
        crate::txn::contention,
    )
    .await?;
    Ok(answer)
}

/// What a right password leads to on `stored`, and the writes that make it so (the
/// profile's own first). Only a complete login clears the failure count: with MFA on, the
/// profile is only checked, not written.
fn begin(app: &App, stored: &Stored<Profile>, now: Instant) -> Result<(LoginAnswer, Vec<Write>)> {
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
            generation: profile.session_generation,
        };
        let answer = LoginAnswer::MfaRequired {
            mfa_token: token,
            expires_at: Instant(login.expires_at).rfc3339(),
            methods: methods(profile),
        };
        return Ok((
            answer,
            vec![crate::txn::unchanged(stored), records::create(&login)?],
        ));
    }
    let scope = if profile.setup_required() {
        Scope::Setup
    } else {
        Scope::Full
    };
    let session = NewSession::create(app, profile, scope, now)?;
    let detail = (scope == Scope::Setup).then_some("setup required");
    let mut cleared = profile.clone();
    let profile_write = if cleared.record_success() {
        stored.replace(&cleared)?
    } else {
        crate::txn::unchanged(stored)
    };
    let [session_write, index_write] = session.writes()?;
    let event = audit::record(app, &username, now, EventType::LoginSucceeded, None, detail)?;
    let answer = match scope {
        Scope::Setup => LoginAnswer::MfaSetupRequired {
            session: session.view(),
        },
        Scope::Full => LoginAnswer::Authenticated(SignedIn {
            session: session.view(),
            recovery_codes_remaining: None,
        }),
    };
    Ok((
        answer,
        vec![profile_write, session_write, index_write, event],
    ))
}

/// A code for the login's second step.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// From the `mfa_required` login answer. Any other string is `401 invalid_mfa_token`.
    pub mfa_token: String,
    /// The authenticator app's 6 digits, or a recovery code (case, spaces and hyphens
    /// ignored; `o` reads as `0`, `i`/`l` as `1`). Surrounding white space is ignored;
    /// anything that is not a right code is `401 invalid_code`, never `400`.
    pub code: String,
}

pub async fn totp(app: &App, request: CodeRequest) -> Result<LoginAnswer> {
    crate::txn::retrying(app, || totp_attempt(app, &request)).await
}

async fn totp_attempt(app: &App, request: &CodeRequest) -> Result<LoginAnswer> {
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
            succeed(app, &pending, profile, Some(&device_id), vec![], None)
                .await
                .map(LoginAnswer::Authenticated)
        }
        None => fail(app, &pending, Some(&device_id), None, Error::InvalidCode).await,
    }
}

pub async fn recovery_code(app: &App, request: CodeRequest) -> Result<LoginAnswer> {
    crate::txn::retrying(app, || recovery_attempt(app, &request)).await
}

async fn recovery_attempt(app: &App, request: &CodeRequest) -> Result<LoginAnswer> {
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
    let used = audit::record(
        app,
        pending.username(),
        pending.now,
        EventType::RecoveryCodeUsed,
        None,
        Some(&format!("{remaining} left")),
    )?;
    succeed(app, &pending, profile, None, vec![used], Some(remaining))
        .await
        .map(LoginAnswer::Authenticated)
}
