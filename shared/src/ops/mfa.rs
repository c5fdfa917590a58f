//! The "Authentication settings" page: the device list, rename, remove, recovery codes,
//! MFA opt-out/in. Which of these ask for the password again is the policy table's to say
//! ([`crate::policy`]), and dispatch checks it before any of them runs.

use crate::answers::{self, DeviceView, MfaSettings, Removed, Settings};
use crate::app::App;
use crate::audit::{self, EventType};
use crate::auth::Caller;
use crate::domain::recovery;
use crate::domain::validate;
use crate::error::{Error, Result};
use crate::records::{DeviceSecret, RecoveryCodes};
use serde::Deserialize;

pub async fn get(app: &App, caller: &Caller) -> Result<Settings> {
    let profile = caller.profile(app).await?;
    Ok(Settings::from(&profile.value))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RenameDeviceRequest)]
pub struct RenameRequest {
    #[schema(value_type = crate::schema::DeviceName)]
    pub name: String,
}

pub async fn rename(
    app: &App,
    caller: &Caller,
    device_id: &str,
    request: RenameRequest,
) -> Result<DeviceView> {
    let name = validate::device_name(&request.name)?;
    let now = app.clock.now();
    let event = audit::record(
        app,
        &caller.username,
        now,
        EventType::DeviceRenamed,
        Some(device_id),
        None,
    )?;
    let device =
        crate::txn::update_profile(app, &caller.username, caller.profile.clone(), |profile| {
            let device = profile
                .devices
                .iter_mut()
                .find(|d| d.id == device_id)
                .ok_or(Error::NotFound)?;
            device.name = name.clone();
            Ok((device.clone(), vec![event.clone()]))
        })
        .await?;
    Ok(DeviceView::from(&device))
}

pub async fn remove(app: &App, caller: &Caller, device_id: &str) -> Result<Removed> {
    let profile = caller.profile(app).await?;
    let device = profile
        .value
        .devices
        .iter()
        .find(|d| d.id == device_id)
        .cloned()
        .ok_or(Error::NotFound)?;
    let now = app.clock.now();
    let event = audit::record(
        app,
        &caller.username,
        now,
        EventType::DeviceRemoved,
        Some(device_id),
        Some(device.secret.device_type().as_str()),
    )?;
    let setup = crate::txn::update_profile(app, &caller.username, Some(profile), |profile| {
        let before = profile.devices.len();
        profile.devices.retain(|d| d.id != device_id);
        if profile.devices.len() == before {
            return Err(Error::NotFound);
        }
        Ok((profile.setup_required(), vec![event.clone()]))
    })
    .await?;
    // Unsubscribed only once the device is gone: unsubscribing first, a profile write that
    // then failed would leave a registered device that hears nothing. A subscription left
    // behind when SNS fails here filters on an id no profile holds, so nothing reaches it.
    if let DeviceSecret::Push {
        subscription_arn: Some(arn),
        ..
    } = &device.secret
    {
        if app.notifier.unsubscribe(arn).await.is_err() {
            tracing::warn!("a removed device's SNS subscription could not be removed; it stays");
        }
    }
    Ok(Removed {
        mfa_setup_required: setup,
    })
}

pub async fn regenerate_recovery_codes(
    app: &App,
    caller: &Caller,
) -> Result<answers::RecoveryCodes> {
    let now = app.clock.now();
    let (codes, hashes) = recovery::new_set(app.rng.as_ref(), app.keys()?)?;
    let event = audit::record(
        app,
        &caller.username,
        now,
        EventType::RecoveryCodesGenerated,
        None,
        None,
    )?;
    crate::txn::update_profile(app, &caller.username, caller.profile.clone(), |profile| {
        profile.recovery_codes = Some(RecoveryCodes {
            hashes: hashes.clone(),
            generated_at: now.millis(),
        });
        Ok(((), vec![event.clone()]))
    })
    .await?;
    Ok(answers::RecoveryCodes {
        codes,
        generated_at: now.rfc3339(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MfaSettingsRequest)]
pub struct SettingsRequest {
    pub mfa_enabled: bool,
    /// The account password, judged by the policy before the operation runs: a wrong one
    /// is `401 invalid_credentials` (counts toward the lock), a right one marks the
    /// session re-authenticated for 5 minutes.
    pub password: String,
}

pub async fn update_settings(
    app: &App,
    caller: &Caller,
    request: SettingsRequest,
) -> Result<MfaSettings> {
    let profile = caller.profile(app).await?;
    // Nothing to change, nothing to write: a write would only bump the version, and twice
    // when the SDK retries it after a lost answer.
    if profile.value.mfa_enabled == request.mfa_enabled {
        return Ok(MfaSettings {
            mfa_enabled: profile.value.mfa_enabled,
            mfa_setup_required: profile.value.setup_required(),
        });
    }
    let now = app.clock.now();
    let kind = if request.mfa_enabled {
        EventType::MfaEnabled
    } else {
        EventType::MfaDisabled
    };
    let event = audit::record(app, &caller.username, now, kind, None, None)?;
    let view = crate::txn::update_profile(app, &caller.username, Some(profile), |profile| {
        // A retry re-reads: a concurrent request may have made the change already.
        let changed = profile.mfa_enabled != request.mfa_enabled;
        profile.mfa_enabled = request.mfa_enabled;
        let extra = if changed { vec![event.clone()] } else { vec![] };
        Ok((
            MfaSettings {
                mfa_enabled: profile.mfa_enabled,
                mfa_setup_required: profile.setup_required(),
            },
            extra,
        ))
    })
    .await?;
    Ok(view)
}
