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
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// A username and a password: what signs up and what signs in.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateAccountRequest)]
pub struct Credentials {
    /// 3-64 characters of `a-z 0-9 . _ - @ +`, stored lower-cased (upper-case input is
    /// accepted and lower-cased); else `400 invalid_username`.
    #[schema(
        pattern = "^[A-Za-z0-9._@+\\u212a-]{3,64}$",
        example = "alice@example.com"
    )]
    pub username: String,
    /// 8-256 characters (Unicode scalar values), not equal to the username ignoring case;
    /// else `400 weak_password`.
    #[schema(min_length = 8, max_length = 256)]
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

/// A token is the account's key in the clear, then the 256-bit secret:
/// `<base64url(username)>.<43 characters of base64url>`. Only the secret's SHA-256 is
/// stored; the prefix lets authentication fetch the session and the profile in one round
/// trip, and a prefix that is not the session's own account is refused. Anything far longer
/// than a real token is refused before it is hashed or looked up.
const MAX_TOKEN_CHARS: usize = 256;
const SECRET_CHARS: usize = 43;

/// How often a session's `last_seen_at` is written: at most once per this many seconds,
/// so that a read route stays a read almost always.
pub const LAST_SEEN_INTERVAL_SECS: i64 = 5 * 60;

/// The SHA-256 of a token's secret, hex: what the store keeps of it.
pub fn token_hash(token: &str) -> String {
    let secret = token.rsplit_once('.').map_or(token, |(_, secret)| secret);
    sha256_hex(secret.as_bytes())
}

/// The account and the secret a token carries; `None` for anything not shaped as one
/// (tokens of the earlier format, without the account, included).
fn parse_token(token: &str) -> Option<(String, &str)> {
    let (account, secret) = token.split_once('.')?;
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if secret.len() != SECRET_CHARS || !secret.chars().all(base64url) {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(account).ok()?;
    let username = String::from_utf8(bytes).ok()?;
    (!username.is_empty()).then_some((username, secret))
}

/// A session about to be created: the token is shown once, the record is stored.
pub struct NewSession {
    pub token: String,
    pub record: Session,
}

pub use crate::answers::SessionView;

impl NewSession {
    /// A session of `profile`'s account, from the request being served (its IP address and
    /// User-Agent are kept), valid while the profile's session generation holds.
    pub fn create(app: &App, profile: &Profile, scope: Scope, now: Instant) -> Result<NewSession> {
        let secret = crate::random::token::<32>(app.rng.as_ref())?;
        let source = crate::source::current();
        Ok(NewSession {
            record: Session {
                token_hash: sha256_hex(secret.as_bytes()),
                username: profile.username.clone(),
                scope,
                created_at: now.millis(),
                expires_at: now.plus_secs(SESSION_SECS).millis(),
                // Signing in does not count: only a password given later vouches.
                reauthenticated_until: None,
                last_seen_at: now.millis(),
                ip: source.ip,
                user_agent: source.user_agent,
                generation: profile.session_generation,
            },
            token: format!(
                "{}.{secret}",
                URL_SAFE_NO_PAD.encode(profile.username.as_bytes())
            ),
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
        created_at: session.created_at,
        last_seen_at: session.last_seen_at,
        ip: session.ip.clone(),
        user_agent: session.user_agent.clone(),
        generation: session.generation,
    }
}

/// Whether a session (or its index item) is alive at `now`: within its 12 hours, used
/// within the idle timeout, of the profile's current generation, and not a setup session
/// of an account that has a device. `last_seen_at` lags the last request by up to
/// [`LAST_SEEN_INTERVAL_SECS`], so a session left alone ends between `idle_secs - 5 min`
/// and `idle_secs` after its last request.
pub fn alive(app: &App, profile: &Profile, index: &SessionIndex, now: Instant) -> bool {
    Instant(index.expires_at) > now
        && Instant(index.last_seen_at).plus_secs(app.config.session_idle_secs) > now
        && index.generation == profile.session_generation
        && (index.scope != Some(Scope::Setup) || profile.devices.is_empty())
}

/// Finds the caller's session; `minimum` is the scope the route needs. Session and profile
/// come in one read. A setup session is judged against its account: once the account has
/// a device it is `401`, whatever route.
pub async fn authenticate(app: &App, request: &Request, minimum: Scope) -> Result<Caller> {
    let (username, secret) = http::bearer_token(request)
        .filter(|token| token.len() <= MAX_TOKEN_CHARS)
        .and_then(parse_token)
        .ok_or(Error::Unauthenticated)?;
    let [session, profile] = crate::txn::read_many(
        app,
        [
            session_key(&sha256_hex(secret.as_bytes())),
            profile_key(&username),
        ],
    )
    .await?;
    let now = app.clock.now();
    let stored = records::decode_found::<Session>(session.as_ref())?
        .filter(|s| s.value.username == username)
        .ok_or(Error::Unauthenticated)?;
    let profile =
        records::decode_found::<Profile>(profile.as_ref())?.ok_or(Error::Unauthenticated)?;
    let session = &stored.value;
    if !alive(app, &profile.value, &index_of(session), now) {
        return Err(Error::Unauthenticated);
    }
    if minimum == Scope::Full && session.scope != Scope::Full {
        return Err(Error::MfaSetupRequired);
    }
    Ok(Caller {
        username,
        session: touch(app, stored, now).await,
        profile: Some(profile),
    })
}

/// Records that the session was used, when its `last_seen_at` is older than
/// [`LAST_SEEN_INTERVAL_SECS`]: the session and its index item, under the session's
/// version. Losing to a concurrent write (another request's touch, a re-authentication,
/// a revocation) or failing at all only means this request is not recorded: the request
/// itself goes on, with the session as read.
async fn touch(app: &App, session: Stored<Session>, now: Instant) -> Stored<Session> {
    if Instant(session.value.last_seen_at).plus_secs(LAST_SEEN_INTERVAL_SECS) > now {
        return session;
    }
    let mut seen = session.value.clone();
    seen.last_seen_at = now.millis();
    let writes = || -> Result<Vec<Write>> {
        Ok(vec![
            session.replace(&seen)?,
            Write::Put {
                item: records::encode(&index_of(&seen), 1)?,
                expect: Expect::Present,
            },
        ])
    };
    let written = match writes() {
        Ok(writes) => app.store.write(writes).await.map_err(Error::from),
        Err(error) => Err(error),
    };
    match written {
        Ok(()) => Stored {
            value: seen,
            version: session.version + 1,
        },
        Err(error) => {
            tracing::debug!(code = error.code(), "last_seen_at not recorded");
            session
        }
    }
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
    live_at: Option<(&Profile, Instant)>,
) -> Result<Vec<String>> {
    let items = app
        .store
        .query_desc(&events_partition(username), SESSION_INDEX_PREFIX, limit)
        .await?;
    let mut hashes = Vec::with_capacity(items.len());
    for item in &items {
        let index = decode::<SessionIndex>(item)?.value;
        if live_at.is_none_or(|(profile, now)| alive(app, profile, &index, now)) {
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
