//! Signing out, who the caller is, and the account's sessions: list them, end one, end
//! all but the caller's.
//!
//! Ending "all the others" does not rely on finding every session item: it bumps the
//! profile's session generation, which authentication compares with every session's, and
//! moves the caller's own session to the new generation in the same write. The items it
//! finds are deleted too (the list and the operator's tools see them gone), but a session
//! the Query missed, or one a login created while this ran, is dead all the same.

use crate::answers::{Me, Revoked, SessionEntry, Sessions};
use crate::app::App;
use crate::audit::{self, EventType};
use crate::auth::{alive, index_entries, index_of, revoke, revoke_by_hash, Caller};
use crate::clock::Instant;
use crate::error::{Error, Result};
use crate::records::{
    self, session_id, session_index_key_by_id, session_key_by_id, Profile, SessionIndex,
};
use crate::store::{Expect, Write};
use crate::txn::{commit, contention};

pub async fn logout(app: &App, caller: &Caller) -> Result<()> {
    commit(app, revoke(&caller.session.value), contention).await
}

pub async fn me(app: &App, caller: &Caller) -> Result<Me> {
    let profile = caller.profile(app).await?;
    Ok(Me {
        mfa_enabled: profile.value.mfa_enabled,
        mfa_setup_required: profile.value.setup_required(),
        username: profile.value.username,
        scope: caller.scope().as_str(),
    })
}

/// Index items read at once: an account's sessions, live or expired but not yet removed
/// by the table's TTL. Beyond this many, a listing shows some and "everywhere else" still
/// ends all (by generation).
pub const SESSIONS_PAGE: usize = 500;

/// Session ids are 32 hex digits ([`session_id`]); anything else names none.
pub fn plausible_session_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// `GET /v1/sessions`: the account's live sessions, newest first.
pub async fn list(app: &App, caller: &Caller) -> Result<Sessions> {
    let profile = caller.profile(app).await?;
    let now = app.clock.now();
    let current = &caller.session.value;
    let mut entries: Vec<SessionIndex> = index_entries(app, &caller.username, SESSIONS_PAGE)
        .await?
        .into_iter()
        .filter(|entry| alive(app, &profile.value, entry, now))
        .collect();
    entries.sort_by(|a, b| (b.created_at, &b.token_hash).cmp(&(a.created_at, &a.token_hash)));
    let sessions = entries
        .into_iter()
        .map(|entry| {
            let is_current = entry.token_hash == current.token_hash;
            // This request may have just recorded itself on the session; its index item
            // says the same unless that write lost a race.
            let last_seen = if is_current {
                entry.last_seen_at.max(current.last_seen_at)
            } else {
                entry.last_seen_at
            };
            SessionEntry {
                id: session_id(&entry.token_hash),
                created_at: Instant(entry.created_at).rfc3339(),
                last_seen_at: Instant(last_seen).rfc3339(),
                expires_at: Instant(entry.expires_at).rfc3339(),
                scope: entry.scope.unwrap_or(crate::records::Scope::Full).as_str(),
                ip: entry.ip,
                user_agent: entry.user_agent,
                current: is_current,
            }
        })
        .collect();
    Ok(Sessions { sessions })
}

/// `DELETE /v1/sessions/{id}`: one write, which finds the session under the caller's own
/// account or fails (another account's id is as unknown as a made-up one).
pub async fn revoke_one(app: &App, caller: &Caller, id: &str) -> Result<()> {
    if !plausible_session_id(id) {
        return Err(Error::NotFound);
    }
    let now = app.clock.now();
    let writes = vec![
        Write::Delete {
            key: session_index_key_by_id(&caller.username, id),
            expect: Expect::Present,
        },
        Write::Delete {
            key: session_key_by_id(id),
            expect: Expect::Anything,
        },
        audit::record(
            app,
            &caller.username,
            now,
            EventType::SessionRevoked,
            None,
            Some(&format!("session {id}")),
        )?,
    ];
    commit(app, writes, |index| match index {
        0 => Error::NotFound,
        _ => Error::Contention,
    })
    .await
}

/// Sessions whose items the first write deletes beside the change itself (a transaction
/// holds at most 100 items); the rest go in later batches.
const SESSIONS_IN_FIRST_WRITE: usize = 40;
const SESSIONS_PER_LATER_WRITE: usize = 50;

/// What ending the caller's other sessions takes, decided on one profile version.
pub struct EndOthers {
    /// How many of them were alive.
    pub live: usize,
    /// The writes for the first transaction, after the profile's own: the caller's
    /// session moved to the new generation, then the first others' deletions.
    pub writes: Vec<Write>,
    /// Deletions left for later batches.
    pub rest: Vec<Write>,
}

/// Ends every session of the account but the caller's: bumps `profile`'s session
/// generation (the caller applies it, with its own changes, in one write), keeps the
/// caller's session on the new one, and deletes the items of `entries` (the account's
/// index items, read before).
pub fn end_others(
    app: &App,
    caller: &Caller,
    profile: &mut Profile,
    entries: &[SessionIndex],
    now: Instant,
) -> Result<EndOthers> {
    let mine = &caller.session.value.token_hash;
    let others: Vec<&SessionIndex> = entries.iter().filter(|e| &e.token_hash != mine).collect();
    let live = others
        .iter()
        .filter(|entry| alive(app, profile, entry, now))
        .count();
    profile.session_generation = profile.session_generation.wrapping_add(1);
    let mut session = caller.session.value.clone();
    session.generation = profile.session_generation;
    let mut writes = vec![
        Write::Put {
            item: records::encode(&session, caller.session.version + 1)?,
            expect: Expect::Present,
        },
        Write::Put {
            item: records::encode(&index_of(&session), 1)?,
            expect: Expect::Present,
        },
    ];
    let mut deletions = others
        .iter()
        .flat_map(|entry| revoke_by_hash(&caller.username, &entry.token_hash));
    writes.extend(deletions.by_ref().take(2 * SESSIONS_IN_FIRST_WRITE));
    Ok(EndOthers {
        live,
        writes,
        rest: deletions.collect(),
    })
}

/// Deletes what [`end_others`] left for later. The sessions are already dead by
/// generation; a failure here only leaves items for the table's TTL, so it is logged,
/// not answered.
pub async fn finish_ending_others(app: &App, rest: Vec<Write>) {
    for chunk in rest.chunks(2 * SESSIONS_PER_LATER_WRITE) {
        // Deletes that expect nothing: only a transaction conflict fails them, and sending
        // them again is then right.
        let deleted = crate::txn::retrying(app, || commit(app, chunk.to_vec(), contention)).await;
        if let Err(error) = deleted {
            tracing::warn!(
                code = error.code(),
                "items of ended sessions left for the TTL"
            );
            return;
        }
    }
}

/// `POST /v1/sessions/revoke-others`.
pub async fn revoke_others(app: &App, caller: &Caller) -> Result<Revoked> {
    let now = app.clock.now();
    let entries = index_entries(app, &caller.username, SESSIONS_PAGE).await?;
    let (live, rest) = crate::txn::update_profile_or(
        app,
        &caller.username,
        caller.profile.clone(),
        |profile| {
            let ended = end_others(app, caller, profile, &entries, now)?;
            let mut writes = vec![audit::record(
                app,
                &caller.username,
                now,
                EventType::SessionRevoked,
                None,
                Some(&format!("all other sessions ({})", ended.live)),
            )?];
            writes.extend(ended.writes);
            Ok(((ended.live, ended.rest), writes))
        },
        // The caller's own session went meanwhile (signed out elsewhere).
        |_| Error::Unauthenticated,
    )
    .await?;
    finish_ending_others(app, rest).await;
    Ok(Revoked { revoked: live })
}
