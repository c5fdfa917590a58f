//! Authenticator-app registration. The seed is sealed (AES-256-GCM, bound to the
//! username) before it reaches the store, in the pending registration and on the device.

use crate::answers::{ConfirmedAnswer, TotpRegistration};
use crate::app::App;
use crate::auth::Caller;
use crate::clock::Instant;
use crate::domain::totp;
use crate::enrollment;
use crate::error::{Error, Result};
use crate::records::{self, DeviceSecret, DeviceType, PendingDevice, Profile};
use serde::Deserialize;

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StartRegistrationRequest)]
pub struct StartRequest {
    /// The device's name; `null` or absent means a default unless confirm names it.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::DeviceName>)]
    pub name: Option<String>,
    /// For re-authentication, judged by the policy before the operation runs.
    #[serde(default)]
    pub password: Option<String>,
}

pub async fn start(app: &App, caller: &Caller, request: StartRequest) -> Result<TotpRegistration> {
    let seed = crate::random::bytes::<{ totp::SECRET_BYTES }>(app.rng.as_ref())?;
    let sealed = app
        .keys()?
        .seal_seed(app.rng.as_ref(), &caller.username, &seed)?;
    let reg = enrollment::start(
        app,
        caller,
        DeviceType::Totp,
        request.name.as_deref(),
        |_| {
            Ok(PendingDevice::Totp {
                sealed_seed: sealed,
            })
        },
    )
    .await?;
    let uri = totp::otpauth_uri(&seed, &app.config.issuer, &caller.username)?;
    Ok(TotpRegistration {
        registration_id: reg.id,
        secret: totp::base32(&seed),
        qr_svg: totp::qr_svg(&uri)?,
        otpauth_uri: uri,
        expires_at: Instant(reg.expires_at).rfc3339(),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConfirmTotpRequest)]
pub struct ConfirmRequest {
    pub registration_id: String,
    /// 6 digits from the authenticator app; surrounding white space is ignored. Anything
    /// else is `401 invalid_code`.
    pub code: String,
    /// Overrides the start's name.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::DeviceName>)]
    pub name: Option<String>,
}

pub async fn confirm(
    app: &App,
    caller: &Caller,
    request: ConfirmRequest,
) -> Result<ConfirmedAnswer> {
    enrollment::optional_name(request.name.as_deref())?;
    let confirmed = crate::txn::retrying(app, || async {
        let now = app.clock.now();
        let (reg, profile) =
            enrollment::open_with_profile(app, &request.registration_id, &caller.username, now)
                .await?;
        if reg.value.username != caller.username {
            return Err(Error::NotFound);
        }
        let PendingDevice::Totp { sealed_seed } = &reg.value.pending else {
            return Err(Error::NotFound);
        };
        let seed = app.keys()?.open_seed(&caller.username, sealed_seed)?;
        let unix_secs =
            u64::try_from(now.secs()).map_err(|_| Error::internal("the clock is before 1970"))?;
        // The confirming code's step is remembered, so it cannot be replayed at login.
        let step =
            totp::verify(&seed, request.code.trim(), unix_secs, None)?.ok_or(Error::InvalidCode)?;
        let secret = DeviceSecret::Totp {
            sealed_seed: app
                .keys()?
                .seal_seed(app.rng.as_ref(), &caller.username, &seed)?,
            last_step: Some(step),
        };
        enrollment::confirm(
            app,
            &reg,
            Some(caller),
            records::decode_found::<Profile>(profile.as_ref())?,
            request.name.as_deref(),
            secret,
        )
        .await
    })
    .await?;
    Ok(ConfirmedAnswer::from(confirmed))
}
