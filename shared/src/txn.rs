//! Operations, one module per API area. Each reads what it needs, applies domain rules,
//! and commits every change (records, one-time items spent, events) in one store call.
//!
//! Profiles change under optimistic concurrency: a write expects the version it read;
//! when someone else got there first, the operation re-reads and re-applies its rules
//! (see [`retrying`]). Nothing expensive (argon2) is ever repeated by a retry.

use crate::app::App;
use crate::audit::{self, EventType};
use crate::clock::Instant;
use crate::error::{Error, Result};
use crate::records::{load, profile_key, Profile, Record, Stored};
use crate::store::{Expect, Item, Key, StoreError, Write};
use std::future::Future;
use std::time::Duration;

/// Attempts under contention. Twenty concurrent writers to one profile each need at most
/// twenty rounds; jittered backoff keeps that far lower in practice.
const MAX_ATTEMPTS: u32 = 24;

/// Writes all or nothing. A failed expectation becomes what `on_condition` says the write
/// at that index means (e.g. "already used"); a profile version clash becomes
/// [`Error::Contention`], which [`retrying`] retries.
pub async fn commit(
    app: &App,
    writes: Vec<Write>,
    on_condition: impl Fn(usize) -> Error,
) -> Result<()> {
    app.store.write(writes).await.map_err(|e| match e {
        StoreError::ConditionFailed(index) => on_condition(index),
        other => Error::from(other),
    })
}

/// [`commit`] for writes whose items no other request can put byte for byte: each holds a
/// fresh random id or challenge, or a salted hash. One item goes as a PutItem, which
/// carries no idempotency token (a transaction does), so when the SDK retries an attempt
/// that landed but whose answer was lost, the retry fails its condition on this very
/// write. A failed condition on a lone put is therefore checked by reading the item back:
/// exactly the item written means the write succeeded; anything else is what
/// `on_condition` says.
pub async fn commit_unique(
    app: &App,
    writes: Vec<Write>,
    on_condition: impl Fn(usize) -> Error,
) -> Result<()> {
    let lone_put = match writes.as_slice() {
        [Write::Put { item, .. }] => Some(item.clone()),
        _ => None,
    };
    match app.store.write(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed(index)) => match lone_put {
            Some(item) if app.store.get(&item.key).await?.as_ref() == Some(&item) => Ok(()),
            _ => Err(on_condition(index)),
        },
        Err(other) => Err(Error::from(other)),
    }
}

/// Runs `attempt` again while it fails with [`Error::Contention`], with jittered backoff.
pub async fn retrying<T, F, Fut>(app: &App, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    for round in 0..MAX_ATTEMPTS {
        match attempt().await {
            Err(Error::Contention) => backoff(app, round).await?,
            other => return other,
        }
    }
    tracing::warn!("gave up after {MAX_ATTEMPTS} optimistic-concurrency attempts");
    Err(Error::Contention)
}

/// [`crate::records::get_many`], read again while it is cancelled by a write transaction in
/// flight on one of its items (a TransactGetItems is): a read is always safe to repeat.
pub async fn read_many<const N: usize>(app: &App, keys: [Key; N]) -> Result<[Option<Item>; N]> {
    retrying(app, || {
        crate::records::get_many(app.store.as_ref(), keys.clone())
    })
    .await
}

/// For writes whose only condition is a profile version: any failure means "re-read".
pub fn contention(_index: usize) -> Error {
    Error::Contention
}

async fn backoff(app: &App, round: u32) -> Result<()> {
    let ceiling = 5u32.saturating_mul(round + 1).min(50);
    let jitter = crate::random::below(app.rng.as_ref(), ceiling.max(1))?;
    tokio::time::sleep(Duration::from_millis(u64::from(jitter) + 1)).await;
    Ok(())
}

/// Changes one profile under its version and commits it together with the extra writes
/// `change` returns (new events, sessions: items that cannot clash). Starts from `seed`
/// when the caller already read the profile; re-reads on contention.
pub async fn update_profile<T>(
    app: &App,
    username: &str,
    seed: Option<crate::records::Stored<crate::records::Profile>>,
    change: impl FnMut(&mut crate::records::Profile) -> Result<(T, Vec<Write>)>,
) -> Result<T> {
    update_profile_or(app, username, seed, change, contention).await
}

/// [`update_profile`], where a failed condition on an extra write (index 1 on) is what
/// `on_condition` says it means rather than a reason to re-read.
pub async fn update_profile_or<T>(
    app: &App,
    username: &str,
    mut seed: Option<crate::records::Stored<crate::records::Profile>>,
    mut change: impl FnMut(&mut crate::records::Profile) -> Result<(T, Vec<Write>)>,
    on_condition: impl Fn(usize) -> Error,
) -> Result<T> {
    for round in 0..MAX_ATTEMPTS {
        let stored = match seed.take() {
            Some(stored) => stored,
            None => {
                crate::records::load(app.store.as_ref(), &crate::records::profile_key(username))
                    .await?
                    .ok_or(Error::NotFound)?
            }
        };
        let mut profile = stored.value.clone();
        let (out, extra) = change(&mut profile)?;
        let mut writes = vec![stored.replace(&profile)?];
        writes.extend(extra);
        match commit(app, writes, |index| match index {
            0 => Error::Contention,
            other => on_condition(other),
        })
        .await
        {
            Err(Error::Contention) => backoff(app, round).await?,
            other => return other.map(|()| out),
        }
    }
    Err(Error::Contention)
}

/// The write that says "the profile is still as read" without changing it: a decision taken
/// on a profile commits only while its version holds.
pub fn unchanged(profile: &Stored<Profile>) -> Write {
    Write::Check {
        key: profile.value.key(),
        expect: Expect::Version(profile.version),
    }
}

/// Answers 429 with the lock's Retry-After when the account is locked at `now`.
pub fn refuse_if_locked(profile: &Profile, now: Instant) -> Result<()> {
    match profile.locked_for(now) {
        Some(seconds) => Err(Error::TooManyAttempts {
            retry_after_secs: seconds,
        }),
        None => Ok(()),
    }
}

/// Commits the outcome of a password judged on `seed`, under that profile version.
///
/// argon2 runs between the read and this write, so attempts that arrive together all read
/// the same unlocked profile. The lock is therefore decided here, at the write: `decide`
/// returns the writes of the outcome, the first of which must be the profile's own (a
/// replace, or [`unchanged`]); when another attempt changed the profile first, the profile
/// is read again and, if the account is locked by then, the answer is 429 whatever the
/// password was. Otherwise `decide` runs again on the fresh profile. A failed condition on
/// a later write is what `on_condition` says it means. The password is never hashed again.
pub async fn decide_unless_locked<T>(
    app: &App,
    seed: Stored<Profile>,
    now: Instant,
    mut decide: impl FnMut(&Stored<Profile>) -> Result<(T, Vec<Write>)>,
    on_condition: impl Fn(usize) -> Error,
) -> Result<T> {
    let username = seed.value.username.clone();
    let mut profile = seed;
    for round in 0..MAX_ATTEMPTS {
        refuse_if_locked(&profile.value, now)?;
        let (out, writes) = decide(&profile)?;
        match commit(app, writes, |index| match index {
            0 => Error::Contention,
            other => on_condition(other),
        })
        .await
        {
            Err(Error::Contention) => {
                backoff(app, round).await?;
                profile = load::<Profile>(app.store.as_ref(), &profile_key(&username))
                    .await?
                    .ok_or(Error::Unauthenticated)?;
            }
            other => return other.map(|()| out),
        }
    }
    Err(Error::Contention)
}

/// Counts a wrong password (at login, or when a session re-authenticates) and gives the
/// error to answer: `401 invalid_credentials`, or 429 when the lock came first. At most
/// [`crate::domain::lockout::MAX_FAILURES`] wrong passwords are ever answered 401 before
/// the lock, however many arrive at once.
pub async fn password_failed(
    app: &App,
    seed: Stored<Profile>,
    now: Instant,
    detail: Option<&str>,
) -> Error {
    let event = match audit::record(
        app,
        &seed.value.username,
        now,
        EventType::LoginFailed,
        None,
        detail,
    ) {
        Ok(event) => event,
        Err(error) => return error,
    };
    let counted = decide_unless_locked(
        app,
        seed,
        now,
        |stored| {
            let mut profile = stored.value.clone();
            profile.record_failure(now);
            Ok(((), vec![stored.replace(&profile)?, event.clone()]))
        },
        contention,
    )
    .await;
    match counted {
        Ok(()) => Error::InvalidCredentials,
        Err(error) => error,
    }
}
