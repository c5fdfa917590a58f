//! Operations, one module per API area. Each reads what it needs, applies domain rules,
//! and commits every change (records, one-time items spent, events) in one store call.
//!
//! Profiles change under optimistic concurrency: a write expects the version it read;
//! when someone else got there first, the operation re-reads and re-applies its rules
//! (see [`retrying`]). Nothing expensive (argon2) is ever repeated by a retry.

pub mod accounts;
pub mod admin;
pub mod events;
pub mod login;
pub mod mfa;
pub mod push;
pub mod registration;
pub mod session;
pub mod totp;
pub mod webauthn;

use crate::app::App;
use crate::error::{Error, Result};
use crate::store::{StoreError, Write};
use std::future::Future;
use std::time::Duration;

/// Attempts under contention. Twenty concurrent writers to one profile each need at most
/// twenty rounds; jittered backoff keeps that far lower in practice.
const MAX_ATTEMPTS: u32 = 24;

pub fn store_error(error: StoreError) -> Error {
    match error {
        StoreError::ConditionFailed(_) | StoreError::Contention => Error::Contention,
        StoreError::Unavailable => Error::Unavailable,
        StoreError::TooManyKeys(_) => Error::internal(format!("a batch read was refused: {error}")),
    }
}

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
        other => store_error(other),
    })
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
    mut seed: Option<crate::records::Stored<crate::records::Profile>>,
    mut change: impl FnMut(&mut crate::records::Profile) -> Result<(T, Vec<Write>)>,
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
        match commit(app, writes, contention).await {
            Err(Error::Contention) => backoff(app, round).await?,
            other => return other.map(|()| out),
        }
    }
    Err(Error::Contention)
}
