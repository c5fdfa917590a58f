//! Sessions: 256-bit random bearer tokens; the store keeps only their SHA-256. A session
//! is `full`, or `setup` while MFA is on and no device exists yet; a setup session may
//! only reach the routes that let the user register a first device.

use crate::app::App;
use crate::clock::Instant;
use crate::domain::{sha256_hex, SESSION_SECS};
use crate::error::{Error, Result};
use crate::http::{self, Request, Response};
use crate::records::{
    self, load, profile_key, session_index_key, session_key, Profile, Scope, Session, SessionIndex,
    Stored,
};
use crate::store::{Expect, Write};
use lambda_http::Body;
use serde::Serialize;

/// The authenticated caller of a route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub username: String,
    pub session: Stored<Session>,
}

impl Caller {
    pub fn scope(&self) -> Scope {
        self.session.value.scope
    }
}

pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// A session about to be created: the token is shown once, the record is stored.
pub struct NewSession {
    pub token: String,
    pub record: Session,
}

#[derive(Serialize)]
pub struct SessionView {
    pub token: String,
    pub expires_at: String,
    pub scope: &'static str,
}

impl NewSession {
    pub fn create(app: &App, username: &str, scope: Scope, now: Instant) -> Result<NewSession> {
        let token = crate::random::token::<32>(app.rng.as_ref())?;
        Ok(NewSession {
            record: Session {
                token_hash: token_hash(&token),
                username: username.to_owned(),
                scope,
                created_at: now.millis(),
                expires_at: now.plus_secs(SESSION_SECS).millis(),
            },
            token,
        })
    }

    /// The session and its index item under the user's partition: both join the same
    /// atomic write, so no session exists that an operator cannot find and revoke.
    pub fn writes(&self) -> Result<[Write; 2]> {
        Ok([
            records::create(&self.record)?,
            records::create(&SessionIndex {
                username: self.record.username.clone(),
                token_hash: self.record.token_hash.clone(),
                expires_at: self.record.expires_at,
            })?,
        ])
    }

    pub fn view(&self) -> SessionView {
        SessionView {
            token: self.token.clone(),
            expires_at: Instant(self.record.expires_at).rfc3339(),
            scope: self.record.scope.as_str(),
        }
    }
}

/// Finds the caller's session; `minimum` is the scope the route needs.
pub async fn authenticate(app: &App, request: &Request, minimum: Scope) -> Result<Caller> {
    let token = http::bearer_token(request).ok_or(Error::Unauthenticated)?;
    let stored = load::<Session>(app.store.as_ref(), &session_key(&token_hash(token)))
        .await?
        .ok_or(Error::Unauthenticated)?;
    if Instant(stored.value.expires_at) <= app.clock.now() {
        return Err(Error::Unauthenticated);
    }
    if minimum == Scope::Full && stored.value.scope != Scope::Full {
        return Err(Error::MfaSetupRequired);
    }
    Ok(Caller {
        username: stored.value.username.clone(),
        session: stored,
    })
}

pub async fn logout(app: &App, caller: &Caller) -> Result<Response<Body>> {
    super::commit(app, revoke(&caller.session.value), super::contention).await?;
    Ok(http::no_content())
}

/// The writes that end a session: the session and its index item, whatever state they
/// are in (deleting what is already gone is fine).
pub fn revoke(session: &Session) -> Vec<Write> {
    revoke_by_hash(&session.username, &session.token_hash)
}

pub fn revoke_by_hash(username: &str, token_hash: &str) -> Vec<Write> {
    vec![
        Write::Delete {
            key: session_key(token_hash),
            expect: Expect::Anything,
        },
        Write::Delete {
            key: session_index_key(username, token_hash),
            expect: Expect::Anything,
        },
    ]
}

pub fn setup_required(profile: &Profile) -> bool {
    profile.mfa_enabled && profile.devices.is_empty()
}

pub async fn me(app: &App, caller: &Caller) -> Result<Response<Body>> {
    let profile = load::<Profile>(app.store.as_ref(), &profile_key(&caller.username))
        .await?
        .ok_or(Error::Unauthenticated)?;
    http::json(
        200,
        &serde_json::json!({
            "username": profile.value.username,
            "mfa_enabled": profile.value.mfa_enabled,
            "mfa_setup_required": setup_required(&profile.value),
            "scope": caller.scope().as_str(),
        }),
    )
}
