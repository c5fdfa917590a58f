//! Operator actions for the support desk, behind the `latchkey-admin` CLI: what to do when
//! a user is locked out of their account.
//!
//! - [`show`]: the user's MFA state, lock, live sessions and recent events. Reads only.
//! - [`reset_mfa`]: removes every device (dropping push devices' SNS subscriptions first)
//!   and the recovery codes, and turns MFA on, so the next login is `mfa_setup_required`;
//!   revokes every session.
//! - [`unlock`]: clears the failure count and the account lock.
//! - [`revoke_sessions`]: ends every session of the user at once.
//!
//! Every action that changes something records an `admin_action` event on the user's own
//! log, in the same atomic write as its first change, with a detail naming the action and
//! the operator (`reset-mfa by alice`). The operator name is what the operator claims;
//! who may act at all is decided by IAM on the table.
//!
//! Sessions are stored under their token's hash; each has an index item under the user's
//! partition ([`crate::records::SessionIndex`]) through which they are found here.
//!
//! reset-mfa revokes sessions both before and after it resets the profile. Before: a push
//! enrollment started by one of the user's sessions needs that session alive to land
//! (enrollment.rs), so none can land on the reset profile. After: a login that
//! finished in between (with an old factor) created its session under the old profile
//! version, so it is already committed and the second pass finds it; a later login sees
//! the reset profile and gets a setup session only.

use crate::answers::{DeviceView, RecoveryCodesSummary};
use crate::app::App;
use crate::audit::{self, EventType};
use crate::auth::{revoke_all, session_hashes};
use crate::clock::Instant;
use crate::domain::validate;
use crate::error::{Error, Result};
use crate::records::{
    decode, events_partition, load, profile_key, DeviceSecret, Event, Profile, EVENT_PREFIX,
};
use crate::store::Write;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::Mutex;

/// Events `show` lists, newest first.
pub const RECENT_EVENTS: usize = 20;

/// Checks an operator name: 1–64 characters after trimming, no control characters (it is
/// shown to the user in their security log).
pub fn operator(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > 64 || trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(
            "the operator name must be 1 to 64 characters without control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

#[derive(Debug, Serialize)]
pub struct UserState {
    pub username: String,
    pub mfa_enabled: bool,
    pub mfa_setup_required: bool,
    pub devices: Vec<DeviceView>,
    pub recovery_codes: RecoveryCodesSummary,
    pub failed_attempts: u32,
    /// Present only while the account is locked.
    pub locked_until: Option<String>,
    pub active_sessions: usize,
    pub recent_events: Vec<EventState>,
}

#[derive(Debug, Serialize)]
pub struct EventState {
    pub at: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub device_id: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ResetOutcome {
    pub username: String,
    pub devices_removed: usize,
    pub push_subscriptions_removed: usize,
    pub recovery_codes_removed: usize,
    pub sessions_revoked: usize,
}

#[derive(Debug, Serialize)]
pub struct UnlockOutcome {
    pub username: String,
    pub was_locked: bool,
    pub failed_attempts_cleared: u32,
}

#[derive(Debug, Serialize)]
pub struct RevokeOutcome {
    pub username: String,
    pub sessions_revoked: usize,
}

/// The user's profile, by a username as the operator typed it (case does not matter).
async fn profile_of(app: &App, raw_username: &str) -> Result<crate::records::Stored<Profile>> {
    let username = validate::username(raw_username)?;
    load::<Profile>(app.store.as_ref(), &profile_key(&username))
        .await?
        .ok_or(Error::NotFound)
}

fn admin_event(app: &App, username: &str, now: Instant, detail: &str) -> Result<Write> {
    audit::record(
        app,
        username,
        now,
        EventType::AdminAction,
        None,
        Some(detail),
    )
}

pub async fn show(app: &App, raw_username: &str) -> Result<UserState> {
    let now = app.clock.now();
    let profile = profile_of(app, raw_username).await?.value;
    let username = profile.username.clone();
    let recent_events = app
        .store
        .query_desc(&events_partition(&username), EVENT_PREFIX, RECENT_EVENTS)
        .await?
        .iter()
        .map(|item| {
            decode::<Event>(item).map(|e| EventState {
                at: Instant(e.value.at).rfc3339(),
                kind: e.value.kind,
                device_id: e.value.device_id,
                detail: e.value.detail,
                ip: e.value.ip,
                user_agent: e.value.user_agent,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let active_sessions = session_hashes(app, &username, usize::MAX, Some((&profile, now)))
        .await?
        .len();
    Ok(UserState {
        mfa_enabled: profile.mfa_enabled,
        mfa_setup_required: profile.setup_required(),
        devices: profile.devices.iter().map(DeviceView::from).collect(),
        recovery_codes: RecoveryCodesSummary::from(&profile),
        failed_attempts: profile.failed_attempts,
        locked_until: profile
            .locked_for(now)
            .and(profile.locked_until)
            .map(|t| Instant(t).rfc3339()),
        active_sessions,
        recent_events,
        username,
    })
}

pub async fn revoke_sessions(
    app: &App,
    raw_username: &str,
    operator: &str,
) -> Result<RevokeOutcome> {
    let username = profile_of(app, raw_username).await?.value.username;
    let event = admin_event(
        app,
        &username,
        app.clock.now(),
        &format!("revoke-sessions by {operator}"),
    )?;
    let sessions_revoked = revoke_all(app, &username, vec![event]).await?;
    Ok(RevokeOutcome {
        username,
        sessions_revoked,
    })
}

pub async fn unlock(app: &App, raw_username: &str, operator: &str) -> Result<UnlockOutcome> {
    let stored = profile_of(app, raw_username).await?;
    let username = stored.value.username.clone();
    let now = app.clock.now();
    let event = admin_event(app, &username, now, &format!("unlock by {operator}"))?;
    let (was_locked, failed_attempts_cleared) =
        crate::txn::update_profile(app, &username, Some(stored), |profile| {
            let before = (profile.locked_for(now).is_some(), profile.failed_attempts);
            profile.failed_attempts = 0;
            profile.locked_until = None;
            Ok((before, vec![event.clone()]))
        })
        .await?;
    Ok(UnlockOutcome {
        username,
        was_locked,
        failed_attempts_cleared,
    })
}

pub async fn reset_mfa(app: &App, raw_username: &str, operator: &str) -> Result<ResetOutcome> {
    let username = profile_of(app, raw_username).await?.value.username;
    // The event goes with the first change, the first revocation pass; a rerun after a
    // failure records a second attempt.
    let event = admin_event(
        app,
        &username,
        app.clock.now(),
        &format!("reset-mfa by {operator}"),
    )?;
    // Before and after the reset: see the module docs for why both.
    let mut sessions_revoked = revoke_all(app, &username, vec![event]).await?;
    let unsubscribed = Mutex::new(HashSet::new());
    let (devices_removed, recovery_codes_removed) =
        crate::txn::retrying(app, || reset_attempt(app, &username, &unsubscribed)).await?;
    sessions_revoked += revoke_all(app, &username, vec![]).await?;
    let push_subscriptions_removed = unsubscribed
        .lock()
        .map_err(|_| Error::internal("the unsubscribe list's lock is poisoned"))?
        .len();
    Ok(ResetOutcome {
        username,
        devices_removed,
        push_subscriptions_removed,
        recovery_codes_removed,
        sessions_revoked,
    })
}

/// One read-unsubscribe-write round of reset-mfa. Subscriptions are dropped before the
/// devices are forgotten, as removing one device does: if SNS is down nothing changed and
/// a rerun tries again. `unsubscribed` remembers what earlier rounds already dropped.
async fn reset_attempt(
    app: &App,
    username: &str,
    unsubscribed: &Mutex<HashSet<String>>,
) -> Result<(usize, usize)> {
    let stored = load::<Profile>(app.store.as_ref(), &profile_key(username))
        .await?
        .ok_or(Error::NotFound)?;
    for device in &stored.value.devices {
        let DeviceSecret::Push {
            subscription_arn: Some(arn),
            ..
        } = &device.secret
        else {
            continue;
        };
        let done = unsubscribed
            .lock()
            .map_err(|_| Error::internal("the unsubscribe list's lock is poisoned"))?
            .contains(arn);
        if !done {
            app.notifier.unsubscribe(arn).await?;
            unsubscribed
                .lock()
                .map_err(|_| Error::internal("the unsubscribe list's lock is poisoned"))?
                .insert(arn.clone());
        }
    }
    let mut profile = stored.value.clone();
    let devices = profile.devices.len();
    let codes = profile
        .recovery_codes
        .as_ref()
        .map_or(0, |c| c.hashes.len());
    profile.devices.clear();
    profile.recovery_codes = None;
    // "Setup required at next login" whatever the user had chosen: the account is back
    // where a new one starts.
    profile.mfa_enabled = true;
    crate::txn::commit(app, vec![stored.replace(&profile)?], crate::txn::contention).await?;
    Ok((devices, codes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_are_trimmed_and_bounded() {
        assert_eq!(operator("  alice ").unwrap(), "alice");
        assert_eq!(
            operator("Alice Smith (desk)").unwrap(),
            "Alice Smith (desk)"
        );
        assert!(operator("").is_err());
        assert!(operator("   ").is_err());
        assert!(operator(&"a".repeat(65)).is_err());
        assert!(operator("al\nice").is_err());
    }
}
