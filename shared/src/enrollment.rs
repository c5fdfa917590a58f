//! Device registration, the part every method shares: a pending registration is a
//! one-time item (10 minutes, used once) started by a session; confirming it adds the
//! device, issues the first recovery codes when the user has none, and turns the setup
//! session that started it into a full one — all in one atomic write.

pub use crate::answers::Confirmed;
use crate::app::App;
use crate::audit::{self, EventType};
use crate::auth::{index_entries, index_of, revoke_by_hash, Caller};
use crate::clock::Instant;
use crate::domain::{recovery, validate, REGISTRATION_SECS};
use crate::error::{Error, Result};
use crate::records::Record;
use crate::records::{
    self, load, profile_key, registration_key, session_key, Device, DeviceSecret, DeviceType,
    PendingDevice, Profile, RecoveryCodes, Registration, Scope, Session, Stored,
};
use crate::store::{Expect, Item, Write};

/// Kept for the push operation's call until it moves to [`Profile::check_room`].
pub fn check_room(profile: &Profile, kind: DeviceType) -> Result<()> {
    profile.check_room(kind)
}

pub fn optional_name(name: Option<&str>) -> Result<Option<String>> {
    name.map(validate::device_name).transpose()
}

/// Starts a registration after checking the method's limit; returns the stored record.
pub async fn start(
    app: &App,
    caller: &Caller,
    kind: DeviceType,
    name: Option<&str>,
    pending: impl FnOnce(&str) -> Result<PendingDevice>,
) -> Result<Registration> {
    let name = optional_name(name)?;
    let profile = caller.profile(app).await?;
    profile.value.check_room(kind)?;
    create(app, caller, name, pending, Vec::new()).await
}

/// Stores a new registration, with `extra` in the same atomic write. The caller has checked
/// the method's limit on the profile it read (confirm checks it again under the version it
/// writes), and validated `name`.
pub async fn create(
    app: &App,
    caller: &Caller,
    name: Option<String>,
    pending: impl FnOnce(&str) -> Result<PendingDevice>,
    extra: Vec<Write>,
) -> Result<Registration> {
    let now = app.clock.now();
    let id = crate::random::id(app.rng.as_ref())?;
    let registration = Registration {
        pending: pending(&id)?,
        id,
        username: caller.username.clone(),
        session_hash: caller.session.value.token_hash.clone(),
        name,
        created_at: now.millis(),
        expires_at: now.plus_secs(REGISTRATION_SECS).millis(),
        used: false,
    };
    let mut writes = vec![records::create(&registration)?];
    writes.extend(extra);
    // The random id makes the registration this request's own.
    crate::txn::commit_unique(app, writes, crate::txn::contention).await?;
    Ok(registration)
}

/// Reads a registration that is still open: unknown → 404, used → 409, expired → 410.
pub async fn open(app: &App, id: &str, now: Instant) -> Result<Stored<Registration>> {
    if !validate::plausible_id(id) {
        return Err(Error::NotFound);
    }
    let stored = load::<Registration>(app.store.as_ref(), &registration_key(id))
        .await?
        .ok_or(Error::NotFound)?;
    still_open(stored, now)
}

/// [`open`], with `username`'s profile read in the same request: a confirm knows both keys
/// before it reads either. The profile comes undecoded, to be judged after the
/// registration, as when it was read second.
pub async fn open_with_profile(
    app: &App,
    id: &str,
    username: &str,
    now: Instant,
) -> Result<(Stored<Registration>, Option<Item>)> {
    if !validate::plausible_id(id) {
        return Err(Error::NotFound);
    }
    let [registration, profile] = records::get_many(
        app.store.as_ref(),
        [registration_key(id), profile_key(username)],
    )
    .await?;
    let registration =
        records::decode_found::<Registration>(registration.as_ref())?.ok_or(Error::NotFound)?;
    Ok((still_open(registration, now)?, profile))
}

/// A registration read earlier, judged again at `now` as [`open`] would.
pub fn still_open(stored: Stored<Registration>, now: Instant) -> Result<Stored<Registration>> {
    if stored.value.used {
        return Err(Error::RegistrationUsed);
    }
    if Instant(stored.value.expires_at) <= now {
        return Err(Error::Expired);
    }
    Ok(stored)
}

pub fn default_name(profile: &Profile, kind: DeviceType) -> String {
    match kind {
        DeviceType::Totp => "Authenticator app".to_owned(),
        DeviceType::Push => "Push device".to_owned(),
        DeviceType::Webauthn => format!("Security key {}", profile.count(kind) + 1),
    }
}

/// Adds the device and spends the registration, atomically. `caller` is the confirming
/// session when there is one (push enrollment has none: the one-time secret authorises it).
/// `profile` is the registering user's profile when this attempt has read it already; the
/// write expects its version, so a stale one only costs a retry.
pub async fn confirm(
    app: &App,
    registration: &Stored<Registration>,
    caller: Option<&Caller>,
    profile: Option<Stored<Profile>>,
    name: Option<&str>,
    secret: DeviceSecret,
) -> Result<Confirmed> {
    let device_id = crate::random::id(app.rng.as_ref())?;
    confirm_with_id(app, registration, caller, profile, name, device_id, secret).await
}

/// [`confirm`] with a device id made beforehand: a push device's SNS subscription filters
/// on its id, so the id exists before the device does.
pub async fn confirm_with_id(
    app: &App,
    registration: &Stored<Registration>,
    caller: Option<&Caller>,
    profile: Option<Stored<Profile>>,
    name: Option<&str>,
    device_id: String,
    secret: DeviceSecret,
) -> Result<Confirmed> {
    let name = optional_name(name)?;
    let now = app.clock.now();
    let username = registration.value.username.clone();
    let profile = match profile {
        Some(profile) if profile.value.username == username => profile,
        _ => load::<Profile>(app.store.as_ref(), &profile_key(&username))
            .await?
            .ok_or(Error::NotFound)?,
    };
    let first = profile.value.devices.is_empty();
    // A setup session may add a device only while its account has none. When the account
    // got one since the caller was authenticated, the caller's session is read again: a
    // first device it confirmed itself made it full, and it goes on as a full session;
    // one that lost the race to another session's first device is dead (session.rs).
    let refreshed;
    let caller = match caller {
        Some(c) if c.scope() == Scope::Setup && !first => {
            let session = load::<Session>(app.store.as_ref(), &c.session.value.key())
                .await?
                .filter(|s| s.value.scope == Scope::Full)
                .ok_or(Error::Unauthenticated)?;
            refreshed = Caller {
                session,
                ..c.clone()
            };
            Some(&refreshed)
        }
        other => other,
    };
    let kind = secret.device_type();
    profile.value.check_room(kind)?;
    // Checked on the profile version this write expects, so two registrations of one
    // authenticator cannot both land.
    if let DeviceSecret::Webauthn { credential } = &secret {
        if profile.value.devices.iter().any(
            |d| matches!(&d.secret, DeviceSecret::Webauthn { credential: c } if c.cred_id() == credential.cred_id()),
        ) {
            return Err(Error::invalid(
                "`credential` is already registered on this account",
            ));
        }
    }

    let mut updated = profile.value.clone();
    let device = Device {
        id: device_id,
        name: name
            .or_else(|| registration.value.name.clone())
            .unwrap_or_else(|| default_name(&updated, kind)),
        created_at: now.millis(),
        last_used_at: None,
        warning: None,
        secret,
    };
    updated.devices.push(device.clone());

    let mut used = registration.value.clone();
    used.used = true;
    let mut writes = vec![
        registration.replace(&used)?,
        profile.replace(&updated)?,
        audit::record(
            app,
            &username,
            now,
            EventType::DeviceAdded,
            Some(&device.id),
            Some(kind.as_str()),
        )?,
    ];

    let mut codes = None;
    if first && updated.recovery_codes.is_none() {
        let (plain, hashes) = recovery::new_set(app.rng.as_ref(), app.keys()?)?;
        updated.recovery_codes = Some(RecoveryCodes {
            hashes,
            generated_at: now.millis(),
        });
        writes[1] = profile.replace(&updated)?;
        writes.push(audit::record(
            app,
            &username,
            now,
            EventType::RecoveryCodesGenerated,
            None,
            None,
        )?);
        codes = Some(plain);
    }

    // The starting session's own write comes right after the three above, so a failed
    // condition on it (logged out or revoked meanwhile) can be told from contention.
    let session_index = writes.len();
    let starting = starting_session(app, registration, caller, &profile.value, now).await?;
    if let Some(session) = &starting {
        writes.extend(upgrade(session)?);
    }
    if first {
        let keep = &registration.value.session_hash;
        writes.extend(end_other_setup_sessions(app, &username, keep).await?);
    }
    crate::txn::commit(app, writes, |index| match index {
        0 => Error::RegistrationUsed,
        i if i == session_index && starting.is_some() => match caller {
            Some(_) => Error::Unauthenticated,
            None => Error::Expired,
        },
        _ => Error::Contention,
    })
    .await?;
    Ok(Confirmed {
        device,
        recovery_codes: codes,
    })
}

/// The setup session that started `registration`, which this confirmation turns into a
/// full one; `None` when that session is already full.
///
/// Without a confirming session (push enrollment), the starting session must still be
/// live, and still allowed to add a device: a registration started by a session that was
/// since logged out or revoked (an operator's reset-mfa or revoke-sessions), or by a setup
/// session whose account got its first device elsewhere, is `410 expired`, so a device
/// enrolment begun before either cannot land after it.
async fn starting_session(
    app: &App,
    registration: &Stored<Registration>,
    caller: Option<&Caller>,
    profile: &Profile,
    now: Instant,
) -> Result<Option<Stored<Session>>> {
    let session = match caller {
        Some(c) if c.session.value.token_hash == registration.value.session_hash => {
            Some(c.session.clone())
        }
        _ => {
            load::<Session>(
                app.store.as_ref(),
                &session_key(&registration.value.session_hash),
            )
            .await?
        }
    };
    let live = session
        .as_ref()
        .is_some_and(|s| Instant(s.value.expires_at) > now);
    let setup = session
        .as_ref()
        .is_some_and(|s| s.value.scope == Scope::Setup);
    if caller.is_none() && (!live || setup && !profile.devices.is_empty()) {
        return Err(Error::Expired);
    }
    Ok(session.filter(|s| s.value.scope == Scope::Setup))
}

/// The writes that make a setup session full: the session, under the version read, and
/// its index item, which records the scope.
fn upgrade(session: &Stored<Session>) -> Result<[Write; 2]> {
    let mut full = session.value.clone();
    full.scope = Scope::Full;
    Ok([
        session.replace(&full)?,
        Write::Put {
            item: records::encode(&index_of(&full), 1)?,
            expect: Expect::Anything,
        },
    ])
}

/// How many other setup sessions a first device ends in its own write (two items each, in
/// a transaction of at most 100). Any beyond are refused at authentication all the same,
/// and expire within the session lifetime.
const SETUP_SESSIONS_ENDED_AT_ONCE: usize = 40;

/// The writes that end the account's setup sessions other than `keep`, the one that
/// started this first device's registration.
async fn end_other_setup_sessions(app: &App, username: &str, keep: &str) -> Result<Vec<Write>> {
    let entries = index_entries(app, username, SESSION_INDEX_PAGE).await?;
    Ok(entries
        .iter()
        .filter(|entry| entry.scope == Some(Scope::Setup) && entry.token_hash != keep)
        .take(SETUP_SESSIONS_ENDED_AT_ONCE)
        .flat_map(|entry| revoke_by_hash(username, &entry.token_hash))
        .collect())
}

/// Index items read to find setup sessions: an account with more live sessions than this
/// is refused at authentication for the rest, as above.
const SESSION_INDEX_PAGE: usize = 100;
