//! WebAuthn (security keys and passkeys) as a second factor, on webauthn-rs.
//!
//! ```text
//! registration:  POST /v1/mfa/webauthn ──► Registration{PendingDevice::Webauthn{state}} (10 min)
//!                POST /v1/mfa/webauthn/confirm ──► verify against state ──► device added,
//!                                                  registration marked used (one write)
//! login:         POST /v1/login/webauthn/start ──► MfaLogin.webauthn_state = fresh challenge
//!                POST /v1/login/webauthn/finish ─┬► verified: session, mfa_token spent
//!                                                └► refused: counted, state cleared
//! ```
//!
//! Both ceremony states live server-side only. A login challenge answers at most one
//! finish: the finish takes the state out of the login it read and every write it makes
//! (success spends the whole mfa_token, a refusal stores the login without the state) is
//! conditional on the version it read, so two finishes racing with one assertion cannot
//! both be judged against it, and a refused assertion cannot be retried. A new start
//! replaces the challenge.
//!
//! Assertions are only ever matched against the signed-in user's own credentials (the user
//! is known from the password step), so a credential id is kept unique per account, not
//! across accounts. The signature counter is checked against the credential as stored at
//! finish, not the copy inside the login state (another login may have finished since);
//! a counter that did not advance flags the device `possible_clone` and refuses it from
//! then on, until the user removes it.

use crate::answers::{ConfirmedAnswer, LoginAnswer, WebauthnChallenge, WebauthnRegistration};
use crate::app::App;
use crate::auth::Caller;
use crate::enrollment;
use crate::error::{Error, Result};
use crate::records::{
    self, load, profile_key, DeviceSecret, DeviceType, PendingDevice, Profile, Registration, Stored,
};
use crate::second_factor::{self, Pending};
use serde::Deserialize;
use webauthn_rs::prelude::{
    CredentialID, Passkey, PublicKeyCredential, RegisterPublicKeyCredential, Uuid, WebauthnError,
};

/// The device warning, and the event detail, for a counter that went backwards.
pub const POSSIBLE_CLONE: &str = "possible_clone";

fn passkeys(profile: &Profile) -> impl Iterator<Item = &Passkey> {
    profile.devices.iter().filter_map(|d| match &d.secret {
        DeviceSecret::Webauthn { credential } => Some(credential),
        _ => None,
    })
}

fn device_with_credential<'a>(profile: &'a Profile, id: &[u8]) -> Option<&'a str> {
    profile.devices.iter().find_map(|d| match &d.secret {
        DeviceSecret::Webauthn { credential } if credential.cred_id().as_slice() == id => {
            Some(d.id.as_str())
        }
        _ => None,
    })
}

fn ceremony_error(error: WebauthnError) -> Error {
    Error::internal(format!("webauthn-rs could not start a ceremony: {error}"))
}

async fn profile_of(app: &App, username: &str) -> Result<Stored<Profile>> {
    load::<Profile>(app.store.as_ref(), &profile_key(username))
        .await?
        .ok_or(Error::Unauthenticated)
}

/// A random (version 4) user handle from the app's randomness.
fn new_user_id(app: &App) -> Result<Uuid> {
    let mut bytes = crate::random::bytes::<16>(app.rng.as_ref())?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Ok(Uuid::from_bytes(bytes))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StartRegistrationRequest)]
pub struct StartRegistrationRequest {
    /// The device's name; `null` or absent means a default unless confirm names it.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::DeviceName>)]
    pub name: Option<String>,
    /// For re-authentication, judged by the policy before the operation runs.
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /v1/mfa/webauthn`: creation options excluding the user's registered credentials.
pub async fn start_registration(
    app: &App,
    caller: &Caller,
    request: StartRegistrationRequest,
) -> Result<WebauthnRegistration> {
    let name = enrollment::optional_name(request.name.as_deref())?;
    // The first attempt starts from the profile the policy already read, if it did.
    let seed = std::sync::Mutex::new(caller.profile.clone());
    let (reg, options) = crate::txn::retrying(app, || async {
        let seeded = seed.lock().ok().and_then(|mut s| s.take());
        let profile = match seeded {
            Some(profile) => profile,
            None => profile_of(app, &caller.username).await?,
        };
        enrollment::check_room(&profile.value, DeviceType::Webauthn)?;
        let exclude: Vec<CredentialID> = passkeys(&profile.value)
            .map(|p| p.cred_id().clone())
            .collect();
        // The user handle is made on the first registration and stored in the same write
        // as the registration, under the profile's version: of two first registrations at
        // once, the one whose write loses re-reads and uses the handle the other stored.
        let (user_id, store_handle) = match profile.value.webauthn_user_id {
            Some(id) => (id, Vec::new()),
            None => {
                let id = new_user_id(app)?;
                let mut with_handle = profile.value.clone();
                with_handle.webauthn_user_id = Some(id);
                (id, vec![profile.replace(&with_handle)?])
            }
        };
        // The passkey ceremony, not the security-key one, for security keys too: Chrome
        // refuses webauthn-rs's security-key options (kanidm/webauthn-rs#490: credProtect
        // asked for with user verification only "preferred"). Passkey options require user
        // verification (PIN or biometric), which every FIDO2 key and platform offers.
        let (options, state) = app
            .webauthn
            .start_passkey_registration(
                user_id,
                &caller.username,
                &caller.username,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(ceremony_error)?;
        let reg = enrollment::create(
            app,
            caller,
            name.clone(),
            |_| Ok(PendingDevice::Webauthn { state }),
            store_handle,
        )
        .await?;
        Ok((reg, options))
    })
    .await?;
    Ok(WebauthnRegistration {
        registration_id: reg.id,
        options,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConfirmWebauthnRequest)]
pub struct ConfirmRegistrationRequest {
    pub registration_id: String,
    /// Parsed by webauthn-rs's type, which tolerates the extra members browsers add.
    #[schema(value_type = crate::schema::RegistrationCredential)]
    pub credential: RegisterPublicKeyCredential,
    /// Overrides the start's name.
    #[serde(default)]
    #[schema(value_type = Option<crate::schema::DeviceName>)]
    pub name: Option<String>,
}

/// `POST /v1/mfa/webauthn/confirm`. A credential that does not verify is
/// `400 invalid_request` naming `credential`, and the registration stays open until it
/// expires (as a wrong TOTP code leaves it): only a success uses it up.
pub async fn confirm_registration(
    app: &App,
    caller: &Caller,
    request: ConfirmRegistrationRequest,
) -> Result<ConfirmedAnswer> {
    enrollment::optional_name(request.name.as_deref())?;
    let confirmed = crate::txn::retrying(app, || async {
        let now = app.clock.now();
        let (reg, profile) =
            enrollment::open_with_profile(app, &request.registration_id, &caller.username, now)
                .await?;
        let state = pending_state(&reg.value, caller)?;
        let profile =
            records::decode_found::<Profile>(profile.as_ref())?.ok_or(Error::Unauthenticated)?;
        // webauthn-rs would refuse an excluded credential too, but under a misleading error.
        if device_with_credential(&profile.value, &request.credential.raw_id).is_some() {
            return Err(Error::invalid(
                "`credential` is already registered on this account",
            ));
        }
        let credential = app
            .webauthn
            .finish_passkey_registration(&request.credential, state)
            .map_err(refused_registration)?;
        enrollment::confirm(
            app,
            &reg,
            Some(caller),
            Some(profile),
            request.name.as_deref(),
            DeviceSecret::Webauthn { credential },
        )
        .await
    })
    .await?;
    Ok(ConfirmedAnswer::from(confirmed))
}

/// Another user's registration, or another method's, is "not found".
fn pending_state<'a>(
    reg: &'a Registration,
    caller: &Caller,
) -> Result<&'a webauthn_rs::prelude::PasskeyRegistration> {
    match &reg.pending {
        PendingDevice::Webauthn { state } if reg.username == caller.username => Ok(state),
        _ => Err(Error::NotFound),
    }
}

fn refused_registration(error: WebauthnError) -> Error {
    tracing::info!(error = %error, "webauthn registration refused");
    let why = match error {
        WebauthnError::MismatchedChallenge => "answers a different challenge",
        WebauthnError::InvalidRPOrigin | WebauthnError::CredentialCrossOrigin => {
            "comes from an origin this service does not accept"
        }
        WebauthnError::InvalidRPIDHash => "is bound to another relying party id",
        WebauthnError::UserNotPresent | WebauthnError::UserNotVerified => {
            "lacks user presence or user verification"
        }
        WebauthnError::InvalidClientDataType => "is not a registration response",
        WebauthnError::CredentialAlteredAlgFromRequest => {
            "uses an algorithm that was not offered, or is already registered"
        }
        WebauthnError::ParseBase64Failure(_)
        | WebauthnError::ParseCBORFailure(_)
        | WebauthnError::ParseJSONFailure(_)
        | WebauthnError::ParseNOMFailure
        | WebauthnError::ParseInsufficientBytesAvailable
        | WebauthnError::MissingAttestationCredentialData => {
            "is not a well-formed registration response"
        }
        _ => "does not verify",
    };
    Error::invalid(format!("`credential` {why}"))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MfaTokenRequest)]
pub struct StartLoginRequest {
    /// From the `mfa_required` login answer. Any other string is `401 invalid_mfa_token`.
    pub mfa_token: String,
}

/// `POST /v1/login/webauthn/start`: a fresh challenge for the user's credentials,
/// replacing any earlier one of this login.
pub async fn start_login(app: &App, request: StartLoginRequest) -> Result<WebauthnChallenge> {
    let options = crate::txn::retrying(app, || async {
        let pending = second_factor::load_pending(app, &request.mfa_token).await?;
        let keys: Vec<Passkey> = passkeys(&pending.profile.value).cloned().collect();
        // webauthn-rs would happily start a ceremony no authenticator can answer.
        if keys.is_empty() {
            return Err(Error::MethodNotRegistered);
        }
        let (options, state) = app
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(ceremony_error)?;
        let mut mfa = pending.mfa.value.clone();
        mfa.webauthn_state = Some(state);
        crate::txn::commit(
            app,
            vec![pending.mfa.replace(&mfa)?],
            crate::txn::contention,
        )
        .await?;
        Ok(options)
    })
    .await?;
    Ok(WebauthnChallenge { options })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LoginWebauthnFinishRequest)]
pub struct FinishLoginRequest {
    pub mfa_token: String,
    /// Parsed by webauthn-rs's type, which tolerates the extra members browsers add.
    #[schema(value_type = crate::schema::AuthenticationCredential)]
    pub credential: PublicKeyCredential,
}

/// `POST /v1/login/webauthn/finish`.
pub async fn finish_login(app: &App, request: FinishLoginRequest) -> Result<LoginAnswer> {
    crate::txn::retrying(app, || finish_attempt(app, &request)).await
}

async fn finish_attempt(app: &App, request: &FinishLoginRequest) -> Result<LoginAnswer> {
    let mut pending = second_factor::load_pending(app, &request.mfa_token).await?;
    // Taken out first: whatever this attempt writes stores the login without it.
    let state = pending.mfa.value.webauthn_state.take();
    let device_id = device_with_credential(&pending.profile.value, &request.credential.raw_id)
        .map(str::to_owned);
    let Some(state) = state else {
        return refuse(app, &pending, device_id.as_deref(), "no challenge").await;
    };
    let handle = request.credential.response.user_handle.as_deref();
    if let Some(handle) = handle.filter(|h| !h.is_empty()) {
        let ours = pending.profile.value.webauthn_user_id;
        if ours.as_ref().map(|id| id.as_bytes().as_slice()) != Some(handle) {
            return refuse(app, &pending, device_id.as_deref(), "wrong user handle").await;
        }
    }
    let result = match app
        .webauthn
        .finish_passkey_authentication(&request.credential, &state)
    {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            return possible_clone(app, pending, device_id.as_deref()).await;
        }
        Err(error) => {
            tracing::info!(error = %error, "webauthn assertion refused");
            return refuse(app, &pending, device_id.as_deref(), "assertion refused").await;
        }
    };
    // The credential was in the state, but the device may have been removed since.
    let Some(device_id) = device_id else {
        return refuse(app, &pending, None, "unknown credential").await;
    };
    let mut profile = pending.profile.value.clone();
    let device = profile
        .devices
        .iter_mut()
        .find(|d| d.id == device_id)
        .ok_or_else(|| Error::internal("the matched WebAuthn device vanished from the profile"))?;
    if device.warning.as_deref() == Some(POSSIBLE_CLONE) {
        return possible_clone(app, pending, Some(&device_id)).await;
    }
    let DeviceSecret::Webauthn { credential } = &mut device.secret else {
        return Err(Error::internal(
            "a WebAuthn device holds another kind of secret",
        ));
    };
    let stored = signature_counter(credential)?;
    if (result.counter() > 0 || stored > 0) && result.counter() <= stored {
        return possible_clone(app, pending, Some(&device_id)).await;
    }
    // Counter and backup flags; `succeed` stores the profile in any case.
    credential.update_credential(&result);
    second_factor::succeed(app, &pending, profile, Some(&device_id), vec![], None)
        .await
        .map(LoginAnswer::Authenticated)
}

/// A refused assertion: counted against the mfa_token and the account.
async fn refuse(
    app: &App,
    pending: &Pending,
    device_id: Option<&str>,
    why: &str,
) -> Result<LoginAnswer> {
    let detail = format!("security key: {why}");
    second_factor::fail(
        app,
        pending,
        device_id,
        Some(&detail),
        Error::InvalidCredentials,
    )
    .await
}

/// A valid signature whose counter did not advance: two copies of the key exist. The
/// device is flagged (and refused from now on) in the same write that counts the failure.
async fn possible_clone(
    app: &App,
    mut pending: Pending,
    device_id: Option<&str>,
) -> Result<LoginAnswer> {
    tracing::warn!("webauthn signature counter went backwards: possible cloned authenticator");
    if let Some(device) = device_id.and_then(|id| {
        pending
            .profile
            .value
            .devices
            .iter_mut()
            .find(|d| d.id == id)
    }) {
        device.warning = Some(POSSIBLE_CLONE.to_owned());
    }
    second_factor::fail(
        app,
        &pending,
        device_id,
        Some(POSSIBLE_CLONE),
        Error::InvalidCredentials,
    )
    .await
}

/// The stored signature counter. webauthn-rs keeps it private; its persisted form, which
/// it must keep readable across versions, carries it as `cred.counter`.
fn signature_counter(passkey: &Passkey) -> Result<u32> {
    serde_json::to_value(passkey)
        .ok()
        .and_then(|value| value["cred"]["counter"].as_u64())
        .and_then(|counter| u32::try_from(counter).ok())
        .ok_or_else(|| Error::internal("a stored passkey has no readable signature counter"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins where webauthn-rs's persisted form keeps the counter `signature_counter` reads.
    #[test]
    fn reads_the_counter_of_a_stored_passkey() {
        let stored = r#"{"cred":{"cred_id":"AAECAw","cred":{"type_":"ES256","key":{"EC_EC2":{"curve":"SECP256R1","x":[194,126,127,109,252,23,131,21,252,6,223,99,44,254,140,27,230,17,94,5,133,28,104,41,144,69,171,149,161,26,200,243],"y":[143,123,183,156,24,178,21,248,117,159,162,69,171,52,188,252,26,59,6,47,103,92,19,58,117,103,249,0,219,8,95,196]}}},"counter":7,"transports":null,"user_verified":true,"backup_eligible":false,"backup_state":false,"registration_policy":"required","extensions":{"cred_protect":"NotRequested","hmac_create_secret":"NotRequested"},"attestation":{"data":"None","metadata":"None"},"attestation_format":"none"}}"#;
        let passkey: Passkey = serde_json::from_str(stored).unwrap();
        assert_eq!(signature_counter(&passkey).unwrap(), 7);
    }
}
