//! Sessions: 256-bit random bearer tokens; the store keeps only their SHA-256. A session
//! is `full`, or `setup` while MFA is on and no device exists yet; a setup session may
//! only reach the routes that let the user register a first device, and dies once the
//! account has one: the session that confirmed it became `full` in the same write, the
//! account's other setup sessions were revoked with it, and any that escaped (more than
//! one write holds, or older than the index's scope) are refused here, so a password-only
//! session left open can never add a second factor later.

use crate::app::App;
use crate::clock::Instant;
use crate::domain::{sha256_hex, REAUTHENTICATION_SECS, SESSION_SECS};
use crate::error::{Error, Result};
use crate::http::{self, Request};
use crate::records::{
    self, decode, events_partition, load, profile_key, session_index_key, session_key, Profile,
    Scope, Session, SessionIndex, Stored, SESSION_INDEX_PREFIX,
};
use crate::store::{Expect, Write};

/// A username and a password: what signs up and what signs in.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// The authenticated caller of a route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub username: String,
    pub session: Stored<Session>,
    /// The caller's profile, when authenticating or re-authenticating had to read it; an
    /// operation starts from it rather than reading it again (its writes expect its
    /// version, so a stale one costs a retry, never a lost update).
    pub profile: Option<Stored<Profile>>,
}

impl Caller {
    pub fn scope(&self) -> Scope {
        self.session.value.scope
    }

    /// Whether a right password came through this session within the last five minutes.
    pub fn reauthenticated_at(&self, now: Instant) -> bool {
        self.session
            .value
            .reauthenticated_until
            .is_some_and(|until| Instant(until) > now)
    }

    /// The caller's profile: the one already read, else from the store.
    pub async fn profile(&self, app: &App) -> Result<Stored<Profile>> {
        match &self.profile {
            Some(profile) => Ok(profile.clone()),
            None => load::<Profile>(app.store.as_ref(), &profile_key(&self.username))
                .await?
                .ok_or(Error::Unauthenticated),
        }
    }
}

/// Tokens are 43 characters (256 bits, base64url); anything far longer is refused before it
/// is hashed or looked up.
const MAX_TOKEN_CHARS: usize = 256;

pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// A session about to be created: the token is shown once, the record is stored.
pub struct NewSession {
    pub token: String,
    pub record: Session,
}

pub use crate::answers::SessionView;

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
                // Signing in does not count: only a password given later vouches.
                reauthenticated_until: None,
            },
            token,
        })
    }

    /// The session and its index item under the user's partition: both join the same
    /// atomic write, so no session exists that an operator cannot find and revoke.
    pub fn writes(&self) -> Result<[Write; 2]> {
        Ok([
            records::create(&self.record)?,
            records::create(&index_of(&self.record))?,
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

/// The index item of `session`, under its user's partition.
pub fn index_of(session: &Session) -> SessionIndex {
    SessionIndex {
        username: session.username.clone(),
        token_hash: session.token_hash.clone(),
        expires_at: session.expires_at,
        scope: Some(session.scope),
    }
}

/// Finds the caller's session; `minimum` is the scope the route needs. A setup session is
/// judged against its account: once the account has a device it is `401`, whatever route.
pub async fn authenticate(app: &App, request: &Request, minimum: Scope) -> Result<Caller> {
    let token = http::bearer_token(request)
        .filter(|token| token.len() <= MAX_TOKEN_CHARS)
        .ok_or(Error::Unauthenticated)?;
    let stored = load::<Session>(app.store.as_ref(), &session_key(&token_hash(token)))
        .await?
        .ok_or(Error::Unauthenticated)?;
    if Instant(stored.value.expires_at) <= app.clock.now() {
        return Err(Error::Unauthenticated);
    }
    let username = stored.value.username.clone();
    let mut profile = None;
    if stored.value.scope == Scope::Setup {
        let current = load::<Profile>(app.store.as_ref(), &profile_key(&username))
            .await?
            .ok_or(Error::Unauthenticated)?;
        if !current.value.devices.is_empty() {
            return Err(Error::Unauthenticated);
        }
        profile = Some(current);
    }
    if minimum == Scope::Full && stored.value.scope != Scope::Full {
        return Err(Error::MfaSetupRequired);
    }
    Ok(Caller {
        username,
        session: stored,
        profile,
    })
}

/// The writes that mark the caller's session re-authenticated until five minutes after
/// `now`; the returned caller carries the session as it will be stored.
pub fn mark_reauthenticated(caller: &Caller, now: Instant) -> Result<(Caller, Write)> {
    let mut session = caller.session.value.clone();
    session.reauthenticated_until = Some(now.plus_secs(REAUTHENTICATION_SECS).millis());
    let write = caller.session.replace(&session)?;
    let marked = Caller {
        session: Stored {
            value: session,
            version: caller.session.version + 1,
        },
        ..caller.clone()
    };
    Ok((marked, write))
}

/// The account's session index items, newest first, at most `limit`.
pub async fn index_entries(app: &App, username: &str, limit: usize) -> Result<Vec<SessionIndex>> {
    let items = app
        .store
        .query_desc(&events_partition(username), SESSION_INDEX_PREFIX, limit)
        .await?;
    items
        .iter()
        .map(|item| records::decode::<SessionIndex>(item).map(|stored| stored.value))
        .collect()
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

/// Index items read per query when looking for sessions.
pub const SESSION_PAGE: usize = 100;
/// Sessions ended per transaction: two deletes each, plus the event, well inside
/// DynamoDB's 100 items per TransactWriteItems.
pub const SESSIONS_PER_WRITE: usize = 25;

/// Token hashes of the user's sessions, from their index items, at most `limit`; with
/// `live_at`, only those not yet expired then.
pub async fn session_hashes(
    app: &App,
    username: &str,
    limit: usize,
    live_at: Option<Instant>,
) -> Result<Vec<String>> {
    let items = app
        .store
        .query_desc(&events_partition(username), SESSION_INDEX_PREFIX, limit)
        .await?;
    let mut hashes = Vec::with_capacity(items.len());
    for item in &items {
        let index = decode::<SessionIndex>(item)?.value;
        if live_at.is_none_or(|now| Instant(index.expires_at) > now) {
            hashes.push(index.token_hash);
        }
    }
    Ok(hashes)
}

/// Ends every session of `username` (expired ones too: their items go as well). `first`
/// joins the first write, so the action's event is never apart from its effect. Returns
/// how many sessions were ended.
pub async fn revoke_all(app: &App, username: &str, mut first: Vec<Write>) -> Result<usize> {
    let mut revoked = 0;
    loop {
        let hashes = session_hashes(app, username, SESSION_PAGE, None).await?;
        for chunk in hashes.chunks(SESSIONS_PER_WRITE) {
            let mut writes = std::mem::take(&mut first);
            for hash in chunk {
                writes.extend(revoke_by_hash(username, hash));
            }
            // Deletes expect nothing and the event is new: only a transaction conflict
            // can fail this, and re-sending the same writes is then right.
            crate::txn::retrying(app, || {
                crate::txn::commit(app, writes.clone(), crate::txn::contention)
            })
            .await?;
            revoked += chunk.len();
        }
        // Strongly consistent queries: a full page means there may be more.
        if hashes.len() < SESSION_PAGE {
            break;
        }
    }
    if !first.is_empty() {
        crate::txn::commit(app, first, crate::txn::contention).await?;
    }
    Ok(revoked)
}
