//! WebAuthn (security keys and passkeys) on webauthn-rs: as a second factor, and a passkey
//! alone as a sign-in without a password.
//!
//! ```text
//! registration:  POST /v1/mfa/webauthn ──► Registration{PendingDevice::Webauthn{state}} (10 min)
//!                POST /v1/mfa/webauthn/confirm ──► verify against state ──► device added,
//!                                                  registration marked used (one write)
//! login:         POST /v1/login/webauthn/start ──► MfaLogin.webauthn_state = fresh challenge
//!                POST /v1/login/webauthn/finish ─┬► verified: session, mfa_token spent
//!                                                └► refused: counted, state cleared
//! passkey:       POST /v1/login/passkey/start ──► PasskeyLogin{state} (5 min), no read
//!                POST /v1/login/passkey/finish ─┬► userHandle → WebauthnUser → profile
//!                                               ├► verified: session, login spent
//!                                               └► refused: counted on that account, spent
//! ```
//!
//! Every ceremony state lives server-side only. A login challenge answers at most one
//! finish: the finish takes the state out of the login it read and every write it makes
//! (success spends the whole mfa_token, a refusal stores the login without the state) is
//! conditional on the version it read, so two finishes racing with one assertion cannot
//! both be judged against it, and a refused assertion cannot be retried. A new start
//! replaces the challenge.
//!
//! Assertions are only ever matched against one account's own credentials (the user is
//! known from the password step, or named by a passkey's user handle), so a credential id
//! is kept unique per account, not across accounts. The signature counter is checked
//! against the credential as stored at finish, not the copy inside the login state
//! (another login may have finished since); a counter that did not advance flags the
//! device `possible_clone` and refuses it from then on, until the user removes it.

use crate::answers::{
    ConfirmedAnswer, LoginAnswer, PasskeyChallenge, SignedIn, WebauthnChallenge,
    WebauthnRegistration,
};
use crate::app::App;
use crate::audit::{self, EventType};
use crate::auth::{Caller, NewSession};
use crate::clock::Instant;
use crate::domain::PASSKEY_LOGIN_SECS;
use crate::enrollment;
use crate::error::{Error, Result};
use crate::records::{
    self, load, profile_key, DeviceSecret, DeviceType, PendingDevice, Profile, Registration, Stored,
};
use crate::records::{PasskeyFacts, WebauthnUser};
use crate::records::{PasskeyLogin, Scope};
use crate::second_factor::{self, Pending};
use crate::store::Write;
use serde::Deserialize;
use webauthn_rs::prelude::{
    CreationChallengeResponse, CredentialID, Passkey, PublicKeyCredential,
    RegisterPublicKeyCredential, Uuid, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

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

/// The account's user handle, and the writes that make it and its lookup item exist when
/// either does not yet: the profile's own (under its version) and the lookup's creation.
fn user_handle(app: &App, profile: &Stored<Profile>) -> Result<(Uuid, Vec<Write>)> {
    let id = match profile.value.webauthn_user_id {
        Some(id) if profile.value.webauthn_user_indexed => return Ok((id, Vec::new())),
        Some(id) => id,
        None => new_user_id(app)?,
    };
    let mut with_handle = profile.value.clone();
    with_handle.webauthn_user_id = Some(id);
    with_handle.webauthn_user_indexed = true;
    Ok((
        id,
        vec![
            profile.replace(&with_handle)?,
            handle_lookup(id, &with_handle)?,
        ],
    ))
}

fn handle_lookup(user_id: Uuid, profile: &Profile) -> Result<Write> {
    records::create(&WebauthnUser {
        user_id,
        username: profile.username.clone(),
    })
}

/// webauthn-rs's passkey options say `residentKey: "discouraged"`; a key that can keep a
/// discoverable credential is asked to, so that it can sign in without a password. One
/// that cannot still registers (a server-side credential) and serves as a second factor.
fn prefer_discoverable(options: &mut CreationChallengeResponse) {
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        selection.require_resident_key = false;
    }
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
        // as the registration, under the profile's version, with its lookup item: of two
        // first registrations at once, the one whose write loses re-reads and uses the
        // handle the other stored.
        let (user_id, store_handle) = user_handle(app, &profile)?;
        // The passkey ceremony, not the security-key one, for security keys too: Chrome
        // refuses webauthn-rs's security-key options (kanidm/webauthn-rs#490: credProtect
        // asked for with user verification only "preferred"). Passkey options require user
        // verification (PIN or biometric), which every FIDO2 key and platform offers.
        let (mut options, state) = app
            .webauthn
            .start_passkey_registration(
                user_id,
                &caller.username,
                &caller.username,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(ceremony_error)?;
        prefer_discoverable(&mut options);
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
        // The fresh challenge makes the login's new version this request's own.
        crate::txn::commit_unique(
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
    if counter_went_back(credential, &result)? {
        return possible_clone(app, pending, Some(&device_id)).await;
    }
    // Counter and backup flags; `succeed` stores the profile in any case.
    credential.update_credential(&result);
    // A handle made before passkey sign-in gets its lookup here, so that a key which is
    // discoverable can sign in alone from now on.
    let mut extra = Vec::new();
    if let (Some(id), false) = (profile.webauthn_user_id, profile.webauthn_user_indexed) {
        profile.webauthn_user_indexed = true;
        extra.push(handle_lookup(id, &profile)?);
    }
    second_factor::succeed(app, &pending, profile, Some(&device_id), extra, None)
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

/// A valid signature whose counter did not advance past the one stored (when either is
/// in use): the stored credential is the one read at finish, not the copy in the state.
fn counter_went_back(
    passkey: &Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<bool> {
    let stored = PasskeyFacts::of(passkey)?.counter;
    Ok((result.counter() > 0 || stored > 0) && result.counter() <= stored)
}

/// `POST /v1/login/passkey/start`: a discoverable ceremony's challenge, kept server-side
/// under a new `login_id` for 5 minutes. One write, no read: nobody is known yet.
pub async fn start_passkey_login(app: &App) -> Result<PasskeyChallenge> {
    crate::txn::retrying(app, || async {
        let now = app.clock.now();
        let (options, state) = app
            .webauthn
            .start_discoverable_authentication()
            .map_err(ceremony_error)?;
        let login = PasskeyLogin {
            login_id: crate::random::id(app.rng.as_ref())?,
            created_at: now.millis(),
            expires_at: now.plus_secs(PASSKEY_LOGIN_SECS).millis(),
            state,
        };
        // A clash means a random id already taken: try another.
        crate::txn::commit_unique(app, vec![records::create(&login)?], crate::txn::contention)
            .await?;
        let mut public_key = serde_json::to_value(&options.public_key)
            .map_err(|_| Error::internal("cannot serialise passkey request options"))?;
        // No credentials to allow: the authenticator offers its discoverable ones.
        if let Some(fields) = public_key.as_object_mut() {
            fields.remove("allowCredentials");
        }
        Ok(PasskeyChallenge {
            login_id: login.login_id,
            expires_at: Instant(login.expires_at).rfc3339(),
            public_key,
        })
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LoginPasskeyFinishRequest)]
pub struct FinishPasskeyLoginRequest {
    #[schema(value_type = crate::schema::Id)]
    pub login_id: String,
    /// Parsed by webauthn-rs's type, which tolerates the extra members browsers add.
    #[schema(value_type = crate::schema::AuthenticationCredential)]
    pub credential: PublicKeyCredential,
}

/// `POST /v1/login/passkey/finish`: the assertion names its account by its user handle.
///
/// ```text
/// read 1: the login (login_id) and the handle's lookup item, together
/// read 2: the account's profile
/// write:  the login spent, with either a session (success) or a counted failure, under
///         the profile's version (the lock decided at the write, as for passwords)
/// ```
///
/// Every refusal is `401 invalid_credentials`; once the account is known it counts toward
/// its lock, and a locked account answers 429. The login is spent by whichever finish
/// reads it first and writes, so of two finishes with one `login_id` exactly one is judged.
pub async fn finish_passkey_login(
    app: &App,
    request: FinishPasskeyLoginRequest,
) -> Result<LoginAnswer> {
    let now = app.clock.now();
    if !crate::domain::validate::plausible_id(&request.login_id) {
        return Err(Error::InvalidCredentials);
    }
    let handle = request
        .credential
        .response
        .user_handle
        .as_ref()
        .and_then(|h| Uuid::from_slice(h.as_ref()).ok());
    let login_key = records::passkey_login_key(&request.login_id);
    let (login, owner) = match handle {
        Some(id) => {
            let [login, owner] =
                crate::txn::read_many(app, [login_key, records::webauthn_user_key(&id)]).await?;
            (login, owner)
        }
        None => (app.store.get(&login_key).await?, None),
    };
    let login = records::decode_found::<PasskeyLogin>(login.as_ref())?
        .filter(|login| Instant(login.value.expires_at) > now)
        .ok_or(Error::InvalidCredentials)?;
    let owner = records::decode_found::<WebauthnUser>(owner.as_ref())?;
    let profile = match &owner {
        Some(owner) => {
            load::<Profile>(app.store.as_ref(), &profile_key(&owner.value.username)).await?
        }
        None => None,
    };
    let Some(profile) = profile.filter(|p| p.value.webauthn_user_id == handle) else {
        tracing::info!("passkey sign-in refused: no account has this user handle");
        return spend(app, &login).await;
    };
    let judged = crate::txn::decide_unless_locked(
        app,
        profile,
        now,
        |stored| judge_passkey(app, stored, &login, &request.credential, now),
        |index| match index {
            // The login was spent by another finish meanwhile.
            1 => Error::InvalidCredentials,
            _ => Error::Contention,
        },
    )
    .await;
    match judged {
        Ok(Some(signed_in)) => Ok(LoginAnswer::Authenticated(signed_in)),
        Ok(None) => Err(Error::InvalidCredentials),
        Err(locked @ Error::TooManyAttempts { .. }) => {
            // Spent all the same: the assertion must not wait for the lock to end.
            let _ = crate::txn::commit(app, vec![login.consume()], crate::txn::contention).await;
            Err(locked)
        }
        Err(other) => Err(other),
    }
}

/// A login that named no account: spent, and refused.
async fn spend<T>(app: &App, login: &Stored<PasskeyLogin>) -> Result<T> {
    crate::txn::commit(app, vec![login.consume()], |_| Error::InvalidCredentials).await?;
    Err(Error::InvalidCredentials)
}

/// The outcome of a passkey assertion on `stored` (a session, or `None` for a refusal) and
/// its writes: the profile's first, then the login spent, then the rest.
fn judge_passkey(
    app: &App,
    stored: &Stored<Profile>,
    login: &Stored<PasskeyLogin>,
    credential: &PublicKeyCredential,
    now: Instant,
) -> Result<(Option<SignedIn>, Vec<Write>)> {
    let mut profile = stored.value.clone();
    let username = profile.username.clone();
    let device_id = device_with_credential(&profile, &credential.raw_id).map(str::to_owned);
    let verdict = match &device_id {
        None => Err("unknown credential"),
        Some(id) => verify_passkey(app, &mut profile, id, login, credential),
    };
    let event = |kind, detail: &str| {
        audit::record(
            app,
            &username,
            now,
            kind,
            device_id.as_deref(),
            Some(detail),
        )
    };
    match verdict {
        Ok(()) => {
            profile.record_success();
            if let Some(device) = profile
                .devices
                .iter_mut()
                .find(|d| Some(&d.id) == device_id.as_ref())
            {
                device.last_used_at = Some(now.millis());
            }
            let session = NewSession::create(app, &profile, Scope::Full, now)?;
            let [session_write, index_write] = session.writes()?;
            let writes = vec![
                stored.replace(&profile)?,
                login.consume(),
                session_write,
                index_write,
                event(EventType::LoginSucceeded, "passkey")?,
            ];
            Ok((
                Some(SignedIn {
                    session: session.view(),
                    recovery_codes_remaining: None,
                }),
                writes,
            ))
        }
        Err(why) => {
            tracing::info!(why, "passkey sign-in refused");
            profile.record_failure(now);
            let writes = vec![
                stored.replace(&profile)?,
                login.consume(),
                event(EventType::LoginFailed, &format!("passkey: {why}"))?,
            ];
            Ok((None, writes))
        }
    }
}

/// Checks the assertion against device `device_id` of `profile`, updating its counter on
/// success and flagging it `possible_clone` when the counter went backwards.
fn verify_passkey(
    app: &App,
    profile: &mut Profile,
    device_id: &str,
    login: &Stored<PasskeyLogin>,
    credential: &PublicKeyCredential,
) -> std::result::Result<(), &'static str> {
    let Some(device) = profile.devices.iter_mut().find(|d| d.id == device_id) else {
        return Err("unknown credential");
    };
    if device.warning.as_deref() == Some(POSSIBLE_CLONE) {
        return Err(POSSIBLE_CLONE);
    }
    let DeviceSecret::Webauthn {
        credential: passkey,
    } = &mut device.secret
    else {
        return Err("unknown credential");
    };
    // A key registered without user verification proves one factor only.
    if !PasskeyFacts::of(passkey).is_ok_and(|facts| facts.user_verified) {
        return Err("registered without user verification");
    }
    let result = match app.webauthn.finish_discoverable_authentication_v2(
        credential,
        login.value.state.clone(),
        &*passkey,
    ) {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            device.warning = Some(POSSIBLE_CLONE.to_owned());
            return Err(POSSIBLE_CLONE);
        }
        Err(error) => {
            tracing::info!(error = %error, "passkey assertion refused");
            return Err("assertion refused");
        }
    };
    if !result.user_verified() {
        return Err("no user verification");
    }
    match counter_went_back(passkey, &result) {
        Ok(false) => {}
        Ok(true) => {
            device.warning = Some(POSSIBLE_CLONE.to_owned());
            return Err(POSSIBLE_CLONE);
        }
        Err(_) => return Err("unreadable credential"),
    }
    passkey.update_credential(&result);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A credential whose registration carried the browser's `credProps` report.
    #[test]
    fn reads_whether_the_browser_reported_a_discoverable_credential() {
        let stored = r#"{"cred":{"cred_id":"AAECAw","cred":{"type_":"ES256","key":{"EC_EC2":{"curve":"SECP256R1","x":[194,126,127,109,252,23,131,21,252,6,223,99,44,254,140,27,230,17,94,5,133,28,104,41,144,69,171,149,161,26,200,243],"y":[143,123,183,156,24,178,21,248,117,159,162,69,171,52,188,252,26,59,6,47,103,92,19,58,117,103,249,0,219,8,95,196]}}},"counter":0,"transports":null,"user_verified":true,"backup_eligible":false,"backup_state":false,"registration_policy":"required","extensions":{"cred_protect":"NotRequested","hmac_create_secret":"NotRequested","cred_props":{"Unsigned":{"rk":true}}},"attestation":{"data":"None","metadata":"None"},"attestation_format":"none"}}"#;
        let passkey: Passkey = serde_json::from_str(stored).unwrap();
        assert!(PasskeyFacts::of(&passkey).unwrap().discoverable);
        let unreported = stored.replace(r#","cred_props":{"Unsigned":{"rk":true}}"#, "");
        let passkey: Passkey = serde_json::from_str(&unreported).unwrap();
        assert!(!PasskeyFacts::of(&passkey).unwrap().discoverable);
    }

    /// Pins where webauthn-rs's persisted form keeps what `PasskeyFacts` reads.
    #[test]
    fn reads_the_counter_of_a_stored_passkey() {
        let stored = r#"{"cred":{"cred_id":"AAECAw","cred":{"type_":"ES256","key":{"EC_EC2":{"curve":"SECP256R1","x":[194,126,127,109,252,23,131,21,252,6,223,99,44,254,140,27,230,17,94,5,133,28,104,41,144,69,171,149,161,26,200,243],"y":[143,123,183,156,24,178,21,248,117,159,162,69,171,52,188,252,26,59,6,47,103,92,19,58,117,103,249,0,219,8,95,196]}}},"counter":7,"transports":null,"user_verified":true,"backup_eligible":false,"backup_state":false,"registration_policy":"required","extensions":{"cred_protect":"NotRequested","hmac_create_secret":"NotRequested"},"attestation":{"data":"None","metadata":"None"},"attestation_format":"none"}}"#;
        let passkey: Passkey = serde_json::from_str(stored).unwrap();
        let facts = PasskeyFacts::of(&passkey).unwrap();
        assert_eq!(
            facts,
            PasskeyFacts {
                counter: 7,
                user_verified: true,
                discoverable: false
            }
        );
    }
}
