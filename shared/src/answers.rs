//! The answers of the API, as types: every operation returns one of these (or an error),
//! and [`crate::routes`] is the one place that turns them into HTTP. The JSON they
//! serialise to is the contract's (docs/openapi.yaml); field order follows it.

use crate::clock::Instant;
use crate::records::{Device, DeviceType, Profile};
use serde::Serialize;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

/// `201` to a new account.
#[derive(Debug, Serialize)]
pub struct Account {
    pub username: String,
}

/// A session as handed out: the token is shown here only.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub token: String,
    pub expires_at: String,
    pub scope: &'static str,
}

/// A session handed out at the end of a sign-in.
#[derive(Debug, Serialize)]
pub struct SignedIn {
    pub session: SessionView,
    /// After a recovery code: how many are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes_remaining: Option<usize>,
}

/// What a sign-in step answers, told apart by `status`.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LoginAnswer {
    MfaRequired {
        mfa_token: String,
        expires_at: String,
        methods: Vec<&'static str>,
    },
    Authenticated(SignedIn),
    MfaSetupRequired {
        session: SessionView,
    },
}

/// `GET /v1/me`.
#[derive(Debug, Serialize)]
pub struct Me {
    pub username: String,
    pub mfa_enabled: bool,
    pub mfa_setup_required: bool,
    pub scope: &'static str,
}

/// A device as the settings page lists it.
#[derive(Debug, Serialize)]
pub struct DeviceView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl From<&Device> for DeviceView {
    fn from(device: &Device) -> Self {
        DeviceView {
            id: device.id.clone(),
            kind: device.secret.device_type().as_str(),
            name: device.name.clone(),
            created_at: Instant(device.created_at).rfc3339(),
            last_used_at: device.last_used_at.map(|t| Instant(t).rfc3339()),
            warning: device.warning.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RecoveryCodesSummary {
    pub remaining: usize,
    pub generated_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MethodSummary {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub registered: usize,
    pub max: usize,
}

impl From<&Profile> for RecoveryCodesSummary {
    fn from(profile: &Profile) -> Self {
        let codes = profile.recovery_codes.as_ref();
        RecoveryCodesSummary {
            remaining: codes.map_or(0, |c| c.hashes.len()),
            generated_at: codes.map(|c| Instant(c.generated_at).rfc3339()),
        }
    }
}

/// `GET /v1/mfa`: the settings page.
#[derive(Debug, Serialize)]
pub struct Settings {
    pub mfa_enabled: bool,
    pub mfa_setup_required: bool,
    pub devices: Vec<DeviceView>,
    pub recovery_codes: RecoveryCodesSummary,
    pub methods: Vec<MethodSummary>,
}

impl From<&Profile> for Settings {
    fn from(profile: &Profile) -> Self {
        Settings {
            mfa_enabled: profile.mfa_enabled,
            mfa_setup_required: profile.setup_required(),
            devices: profile.devices.iter().map(DeviceView::from).collect(),
            recovery_codes: RecoveryCodesSummary::from(profile),
            methods: DeviceType::ALL
                .iter()
                .map(|kind| MethodSummary {
                    kind: kind.as_str(),
                    registered: profile.count(*kind),
                    max: kind.max(),
                })
                .collect(),
        }
    }
}

/// After removing a device.
#[derive(Debug, Serialize)]
pub struct Removed {
    pub mfa_setup_required: bool,
}

/// `PUT /v1/mfa/settings`.
#[derive(Debug, Serialize)]
pub struct MfaSettings {
    pub mfa_enabled: bool,
    pub mfa_setup_required: bool,
}

/// Fresh recovery codes: shown here only.
#[derive(Debug, Serialize)]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
    pub generated_at: String,
}

/// One entry of the security log.
#[derive(Debug, Serialize)]
pub struct EventView {
    pub at: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Events {
    pub events: Vec<EventView>,
}

/// `POST /v1/session/reauthenticate`.
#[derive(Debug, Serialize)]
pub struct Reauthenticated {
    pub reauthenticated_until: String,
}

/// A device just added by a registration confirm.
pub struct Confirmed {
    pub device: Device,
    /// Shown once: present only when this device was the first and no codes existed.
    pub recovery_codes: Option<Vec<String>>,
}

/// `201 {"device", "recovery_codes"?}`: the answer of every confirm.
#[derive(Debug, Serialize)]
pub struct ConfirmedAnswer {
    pub device: DeviceView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

impl From<Confirmed> for ConfirmedAnswer {
    fn from(confirmed: Confirmed) -> Self {
        ConfirmedAnswer {
            device: DeviceView::from(&confirmed.device),
            recovery_codes: confirmed.recovery_codes,
        }
    }
}

/// An authenticator-app registration, started.
#[derive(Debug, Serialize)]
pub struct TotpRegistration {
    pub registration_id: String,
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
    pub expires_at: String,
}

/// A security-key or passkey registration, started: `publicKey` is the browser's
/// `PublicKeyCredentialCreationOptions`.
#[derive(Debug, Serialize)]
pub struct WebauthnRegistration {
    pub registration_id: String,
    #[serde(flatten)]
    pub options: CreationChallengeResponse,
}

/// A WebAuthn sign-in, started: `publicKey` is the browser's
/// `PublicKeyCredentialRequestOptions`.
#[derive(Debug, Serialize)]
pub struct WebauthnChallenge {
    #[serde(flatten)]
    pub options: RequestChallengeResponse,
}

/// A push-device registration, started.
#[derive(Debug, Serialize)]
pub struct PushRegistration {
    pub registration_id: String,
    pub registration_uri: String,
    pub qr_svg: String,
    pub expires_at: String,
}

/// `201` to a push device's enrollment.
#[derive(Debug, Serialize)]
pub struct PushEnrolled {
    pub device_id: String,
    pub topic_arn: Option<String>,
}

/// `202`: a login push on its way.
#[derive(Debug, Serialize)]
pub struct PushSent {
    pub push_id: String,
    pub number: String,
    pub expires_at: String,
}

/// Where a login push stands, or the signed-in answer once it was approved.
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PushLoginStatus {
    Pending,
    Denied,
    Expired,
    Authenticated(SignedIn),
}

/// A security notice reported ("this wasn't me"): every session of the account ended.
#[derive(Debug, Serialize)]
pub struct NoticeReported {
    pub status: &'static str,
    pub revoked_sessions: usize,
}

/// The device's answer to a push, as recorded.
#[derive(Debug, Serialize)]
pub struct PushAnswered {
    pub status: &'static str,
}
