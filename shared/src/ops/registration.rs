//! Device registration, the part every method shares: a pending registration is a
//! one-time item (10 minutes, used once) started by a session; confirming it adds the
//! device, issues the first recovery codes when the user has none, and turns the setup
//! session that started it into a full one — all in one atomic write.

use super::events::{self, EventType};
use super::session::Caller;
use crate::app::App;
use crate::clock::Instant;
use crate::domain::{recovery, validate, REGISTRATION_SECS};
use crate::error::{Error, Result};
use crate::records::{
    self, load, profile_key, registration_key, session_key, Device, DeviceSecret, DeviceType,
    PendingDevice, Profile, RecoveryCodes, Registration, Scope, Session, Stored,
};
use crate::store::{Item, Write};

pub fn count(profile: &Profile, kind: DeviceType) -> usize {
    profile
        .devices
        .iter()
        .filter(|d| d.secret.device_type() == kind)
        .count()
}

pub fn check_room(profile: &Profile, kind: DeviceType) -> Result<()> {
    if count(profile, kind) >= kind.max() {
        Err(Error::MethodLimitReached)
    } else {
        Ok(())
    }
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
    let profile = load::<Profile>(app.store.as_ref(), &profile_key(&caller.username))
        .await?
        .ok_or(Error::Unauthenticated)?;
    check_room(&profile.value, kind)?;
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
    super::commit(app, writes, super::contention).await?;
    Ok(registration)
}

/// Reads a registration that is still open: unknown → 404, used → 409, expired → 410.
pub async fn open(app: &App, id: &str, now: Instant) -> Result<Stored<Registration>> {
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
        DeviceType::Webauthn => format!("Security key {}", count(profile, kind) + 1),
    }
}

pub struct Confirmed {
    pub device: Device,
    /// Shown once: present only when this device was the first and no codes existed.
    pub recovery_codes: Option<Vec<String>>,
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
    let kind = secret.device_type();
    check_room(&profile.value, kind)?;
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
    let first = updated.devices.is_empty();
    updated.devices.push(device.clone());

    let mut used = registration.value.clone();
    used.used = true;
    let mut writes = vec![
        registration.replace(&used)?,
        profile.replace(&updated)?,
        events::record(
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
        let (plain, hashes) = new_recovery_codes(app)?;
        updated.recovery_codes = Some(RecoveryCodes {
            hashes,
            generated_at: now.millis(),
        });
        writes[1] = profile.replace(&updated)?;
        writes.push(events::record(
            app,
            &username,
            now,
            EventType::RecoveryCodesGenerated,
            None,
            None,
        )?);
        codes = Some(plain);
    }

    if let Some(upgrade) = upgrade_session(app, registration, caller, now).await? {
        writes.push(upgrade);
    }
    super::commit(app, writes, |index| match index {
        0 => Error::RegistrationUsed,
        _ => Error::Contention,
    })
    .await?;
    Ok(Confirmed {
        device,
        recovery_codes: codes,
    })
}

/// The write that turns the setup session which started `registration` into a full one.
///
/// Without a confirming session (push enrollment), the starting session must still be
/// live: a registration started by a session that was since logged out or revoked (an
/// operator's reset-mfa or revoke-sessions) is `410 expired`, so a device enrolment
/// begun before a reset cannot land after it.
async fn upgrade_session(
    app: &App,
    registration: &Stored<Registration>,
    caller: Option<&Caller>,
    now: Instant,
) -> Result<Option<Write>> {
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
    if caller.is_none() && !live {
        return Err(Error::Expired);
    }
    match session {
        Some(session) if session.value.scope == Scope::Setup => {
            let mut full = session.value.clone();
            full.scope = Scope::Full;
            Ok(Some(session.replace(&full)?))
        }
        _ => Ok(None),
    }
}

/// Ten fresh codes and their keyed hashes.
pub fn new_recovery_codes(app: &App) -> Result<(Vec<String>, Vec<String>)> {
    let mut plain = Vec::with_capacity(recovery::COUNT);
    let mut hashes = Vec::with_capacity(recovery::COUNT);
    for _ in 0..recovery::COUNT {
        let code = recovery::generate(app.rng.as_ref())?;
        let canonical = recovery::normalise(&code)
            .ok_or_else(|| Error::internal("a fresh recovery code does not normalise"))?;
        hashes.push(app.keys.recovery_code_hash(&canonical));
        plain.push(code);
    }
    Ok((plain, hashes))
}
