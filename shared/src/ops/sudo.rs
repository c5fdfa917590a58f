//! Re-authentication ("sudo"): the one place that enforces the policy table's
//! re-authentication rules ([`crate::policy`]) and `POST /v1/session/reauthenticate`.
//!
//! A right password marks the session it came through for five minutes; a wrong one is
//! `401 invalid_credentials` and counts toward the account lock exactly as at login, decided
//! when the failure is written ([`crate::txn::decide_unless_locked`]), so a burst of guesses
//! through stolen sessions gets no more than the ten a burst at login gets.

use crate::answers::Reauthenticated;
use crate::app::App;
use crate::auth::{mark_reauthenticated, Caller};
use crate::clock::Instant;
use crate::error::{Error, Result};
use crate::policy::Reauthentication;
use crate::records::{load, Record, Session};
use crate::txn::{decide_unless_locked, password_failed, refuse_if_locked, unchanged};
use serde::Deserialize;

/// A body whose one field is a required password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// The account password, checked again; a wrong one is `401 invalid_credentials`
    /// (counts toward the lock), a right one marks the session re-authenticated for 5
    /// minutes.
    pub password: String,
}

/// A body that may carry a password for re-authentication, and nothing else.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OptionalPasswordRequest)]
pub struct OptionalPassword {
    /// The account password, for a route that needs a re-authenticated session. Checked
    /// whenever present, even when the session is already re-authenticated: a wrong one
    /// is `401 invalid_credentials` (counts toward the lock); a right one marks the
    /// session for 5 minutes.
    #[serde(default)]
    pub password: Option<String>,
}

/// Applies `rule` to `caller`, with the request's `password` if it has one; `action` names
/// the route in the security log when the password is wrong. The caller returned is the
/// one the operation runs as (its session marked, its profile read when that was needed).
pub async fn enforce(
    app: &App,
    rule: Reauthentication,
    caller: Caller,
    password: Option<&str>,
    action: &str,
) -> Result<Caller> {
    let now = app.clock.now();
    match (rule, password) {
        (Reauthentication::Never, _) => Ok(caller),
        (_, Some(password)) => confirm_password(app, caller, password, now, action).await,
        (Reauthentication::Password, None) => Err(Error::invalid("missing field `password`")),
        (Reauthentication::Recent, None) if caller.reauthenticated_at(now) => Ok(caller),
        (Reauthentication::RecentOnceProtected, None) => {
            if caller.reauthenticated_at(now) {
                return Ok(caller);
            }
            let profile = caller.profile(app).await?;
            if profile.value.devices.is_empty() {
                Ok(Caller {
                    profile: Some(profile),
                    ..caller
                })
            } else {
                Err(Error::ReauthenticationRequired)
            }
        }
        (Reauthentication::Recent, None) => Err(Error::ReauthenticationRequired),
    }
}

/// Judges `password` against the caller's profile and, when right, marks the session; the
/// mark commits only under the profile version the password was judged on, so an attempt
/// decided after the lock answers 429 even with the right password.
async fn confirm_password(
    app: &App,
    caller: Caller,
    password: &str,
    now: Instant,
    action: &str,
) -> Result<Caller> {
    let profile = caller.profile(app).await?;
    refuse_if_locked(&profile.value, now)?;
    let right = app
        .passwords
        .verify(password, Some(&profile.value.password_hash))
        .await?;
    if !right {
        let detail = format!("password check: {action}");
        return Err(password_failed(app, profile, now, Some(&detail)).await);
    }
    let mut caller = caller;
    for _ in 0..SESSION_ATTEMPTS {
        let (marked, session_write) = mark_reauthenticated(&caller, now)?;
        let judged = decide_unless_locked(
            app,
            profile.clone(),
            now,
            |current| {
                Ok((
                    current.clone(),
                    vec![unchanged(current), session_write.clone()],
                ))
            },
            |_| Error::Unauthenticated,
        )
        .await;
        match judged {
            Ok(judged) => {
                return Ok(Caller {
                    profile: Some(judged),
                    ..marked
                })
            }
            // The session changed since it was read: marked by a concurrent request, made
            // full by a first device, or ended. Only a live one is marked again.
            Err(Error::Unauthenticated) => {
                let session = load::<Session>(app.store.as_ref(), &caller.session.value.key())
                    .await?
                    .filter(|s| Instant(s.value.expires_at) > now)
                    .ok_or(Error::Unauthenticated)?;
                caller = Caller { session, ..caller };
            }
            Err(other) => return Err(other),
        }
    }
    Err(Error::Contention)
}

/// Marks of one session racing each other: each loser reads the session again.
const SESSION_ATTEMPTS: usize = 8;

/// `POST /v1/session/reauthenticate`: the policy did the work; this says until when.
pub fn reauthenticated(caller: &Caller) -> Result<Reauthenticated> {
    let until = caller
        .session
        .value
        .reauthenticated_until
        .ok_or_else(|| Error::internal("a re-authenticated session carries no mark"))?;
    Ok(Reauthenticated {
        reauthenticated_until: Instant(until).rfc3339(),
    })
}
