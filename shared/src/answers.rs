//! The answers of the API, as types: every operation returns one of these (or an error),
//! and [`crate::routes`] is the one place that turns them into HTTP. The JSON they
//! serialise to is the contract's (docs/openapi.yaml); field order follows it.

use crate::clock::Instant;
use crate::records::{Device, DeviceSecret, DeviceType, PasskeyFacts, Profile};
use crate::schema as s;
use serde::Serialize;
use utoipa::ToSchema;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

/// `201` to a new account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AccountCreated)]
pub struct Account {
    /// As stored, lower-cased.
    pub username: String,
}

/// A session as handed out: the token is shown here only.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionView {
    #[schema(value_type = s::SessionToken)]
    pub token: String,
    #[schema(value_type = s::Timestamp)]
    pub expires_at: String,
    #[schema(value_type = s::Scope)]
    pub scope: &'static str,
}

/// A session handed out at the end of a sign-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedIn {
    pub session: SessionView,
    /// After a recovery code: how many are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = usize, minimum = 0, maximum = 9)]
    pub recovery_codes_remaining: Option<usize>,
}

/// What a sign-in step answers, told apart by `status`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LoginAnswer {
    MfaRequired {
        #[schema(value_type = s::Token)]
        mfa_token: String,
        /// When the mfa_token expires (5 minutes).
        #[schema(value_type = s::Timestamp)]
        expires_at: String,
        /// The second factors the user can use now, in this order: `webauthn`, `totp`,
        /// `push`, `recovery_code` (the last only while unused codes remain).
        #[schema(value_type = Vec<s::LoginMethod>, min_items = 1)]
        methods: Vec<&'static str>,
    },
    Authenticated(SignedIn),
    MfaSetupRequired {
        session: SessionView,
    },
}

/// `GET /v1/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub username: String,
    pub mfa_enabled: bool,
    /// MFA is on and no device is registered.
    pub mfa_setup_required: bool,
    #[schema(value_type = s::Scope)]
    pub scope: &'static str,
}

/// A device as the settings page lists it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Device)]
pub struct DeviceView {
    #[schema(value_type = s::Id)]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(value_type = s::DeviceType)]
    pub kind: &'static str,
    /// Without a name given: "Authenticator app", "Push device" or "Security key N" (N =
    /// the user's WebAuthn device count + 1).
    pub name: String,
    #[schema(value_type = s::Timestamp)]
    pub created_at: String,
    /// The last successful login with this device, or `null`.
    #[schema(value_type = Option<s::Timestamp>, required = true)]
    pub last_used_at: Option<String>,
    /// Present only as `possible_clone`: the WebAuthn signature counter went backwards;
    /// the login was refused and the user should remove the device.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, pattern = "^possible_clone$")]
    pub warning: Option<String>,
    /// WebAuthn devices only: the browser reported a discoverable credential, which can
    /// sign in without a password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passkey: Option<bool>,
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
            passkey: match &device.secret {
                DeviceSecret::Webauthn { credential } => {
                    Some(PasskeyFacts::of(credential).is_ok_and(|facts| facts.discoverable))
                }
                _ => None,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesSummary {
    #[schema(minimum = 0, maximum = 10)]
    pub remaining: usize,
    /// `null` while the user has never had codes.
    #[schema(value_type = Option<s::Timestamp>, required = true)]
    pub generated_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MethodSummary {
    #[serde(rename = "type")]
    #[schema(value_type = s::DeviceType)]
    pub kind: &'static str,
    pub registered: usize,
    /// 10 for webauthn, 1 for totp and push.
    #[schema(minimum = 1, maximum = 10)]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MfaSettings)]
pub struct Settings {
    pub mfa_enabled: bool,
    pub mfa_setup_required: bool,
    /// In the order they were registered.
    pub devices: Vec<DeviceView>,
    pub recovery_codes: RecoveryCodesSummary,
    /// One entry per device type, in the order webauthn, totp, push.
    #[schema(min_items = 3, max_items = 3)]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeviceRemoved)]
pub struct Removed {
    /// True when this was the last device and MFA is on.
    pub mfa_setup_required: bool,
}

/// `PUT /v1/mfa/settings`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MfaSettingsUpdated)]
pub struct MfaSettings {
    pub mfa_enabled: bool,
    pub mfa_setup_required: bool,
}

/// Fresh recovery codes: shown here only.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RecoveryCodesGenerated)]
pub struct RecoveryCodes {
    #[schema(value_type = Vec<s::RecoveryCode>, min_items = 10, max_items = 10)]
    pub codes: Vec<String>,
    #[schema(value_type = s::Timestamp)]
    pub generated_at: String,
}

/// One entry of the security log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventView {
    #[schema(value_type = s::Timestamp)]
    pub at: String,
    #[serde(rename = "type")]
    #[schema(value_type = crate::audit::EventType)]
    pub kind: String,
    /// Present when the event concerns a device.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub device_id: Option<String>,
    /// Present when there is more to say; short and never secret. Examples: `setup
    /// required`, `password check: remove-device`, `recovery code`, `9 left`, `security
    /// key: assertion refused`, `possible_clone`, `wrong number`, `denied on the device`,
    /// a device type.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub detail: Option<String>,
    /// Where the request that caused it came from; null for an operator's action.
    #[schema(required = true)]
    pub ip: Option<String>,
    /// The User-Agent of that request (control characters dropped, at most 512
    /// characters); null for an operator's action.
    #[schema(required = true)]
    pub user_agent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EventList)]
pub struct Events {
    /// Newest first, at most 50.
    #[schema(max_items = 50)]
    pub events: Vec<EventView>,
}

/// One of the account's live sessions, as `GET /v1/sessions` lists them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SessionListEntry)]
pub struct SessionEntry {
    #[schema(value_type = s::SessionId)]
    pub id: String,
    #[schema(value_type = s::Timestamp)]
    pub created_at: String,
    /// May lag by up to 5 minutes (written at most that often).
    #[schema(value_type = s::Timestamp)]
    pub last_seen_at: String,
    #[schema(value_type = s::Timestamp)]
    pub expires_at: String,
    #[schema(value_type = s::Scope)]
    pub scope: &'static str,
    /// The address of the request that created the session; null when unknown.
    #[schema(required = true)]
    pub ip: Option<String>,
    /// The User-Agent of that request; null when it sent none.
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// The session this request came through.
    pub current: bool,
}

/// `GET /v1/sessions`: newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SessionList)]
pub struct Sessions {
    pub sessions: Vec<SessionEntry>,
}

/// `POST /v1/sessions/revoke-others`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SessionsRevoked)]
pub struct Revoked {
    pub revoked: usize,
}

/// `PUT /v1/password`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChanged {
    /// Every other session of the account, now revoked.
    pub revoked_sessions: usize,
}

/// `POST /v1/session/reauthenticate`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reauthenticated {
    /// When the session's re-authentication lapses (5 minutes from now).
    #[schema(value_type = s::Timestamp)]
    pub reauthenticated_until: String,
}

/// A device just added by a registration confirm.
pub struct Confirmed {
    pub device: Device,
    /// Shown once: present only when this device was the first and no codes existed.
    pub recovery_codes: Option<Vec<String>>,
}

/// `201 {"device", "recovery_codes"?}`: the answer of every confirm.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeviceConfirmed)]
pub struct ConfirmedAnswer {
    pub device: DeviceView,
    /// Only when this is the user's first device and no recovery codes existed; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<s::RecoveryCode>, min_items = 10, max_items = 10)]
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TotpRegistrationStarted)]
pub struct TotpRegistration {
    #[schema(value_type = s::Id)]
    pub registration_id: String,
    /// The seed, base32 (RFC 4648, no padding), 160 bits.
    #[schema(pattern = "^[A-Z2-7]{32}$")]
    pub secret: String,
    /// `otpauth://totp/<issuer>:<username>?secret=...&issuer=...` (SHA1, 6 digits, 30 s).
    #[schema(format = "uri")]
    pub otpauth_uri: String,
    #[schema(value_type = s::QrSvg)]
    pub qr_svg: String,
    /// When the pending registration expires (10 minutes).
    #[schema(value_type = s::Timestamp)]
    pub expires_at: String,
}

/// A security-key or passkey registration, started: `publicKey` is the browser's
/// `PublicKeyCredentialCreationOptions`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebauthnRegistrationStarted)]
pub struct WebauthnRegistration {
    #[schema(value_type = s::Id)]
    pub registration_id: String,
    #[serde(flatten)]
    #[schema(value_type = s::CreationOptions)]
    pub options: CreationChallengeResponse,
}

/// A WebAuthn sign-in, started: `publicKey` is the browser's
/// `PublicKeyCredentialRequestOptions`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebauthnLoginOptions)]
pub struct WebauthnChallenge {
    #[serde(flatten)]
    #[schema(value_type = s::RequestOptions)]
    pub options: RequestChallengeResponse,
}

/// A passkey sign-in, started: `publicKey` is the browser's
/// `PublicKeyCredentialRequestOptions`, without `allowCredentials` (the authenticator
/// offers its own discoverable credentials).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PasskeyLoginOptions)]
pub struct PasskeyChallenge {
    /// Names this sign-in at its finish; used once.
    #[schema(value_type = s::Id)]
    pub login_id: String,
    /// When the sign-in expires (5 minutes).
    #[schema(value_type = s::Timestamp)]
    pub expires_at: String,
    #[serde(rename = "publicKey")]
    #[schema(value_type = s::PublicKeyCredentialRequestOptionsJson)]
    pub public_key: serde_json::Value,
}

/// A push-device registration, started.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PushRegistrationStarted)]
pub struct PushRegistration {
    #[schema(value_type = s::Id)]
    pub registration_id: String,
    #[schema(value_type = s::PushRegistrationUri)]
    pub registration_uri: String,
    #[schema(value_type = s::QrSvg)]
    pub qr_svg: String,
    /// When the pending registration expires (10 minutes).
    #[schema(value_type = s::Timestamp)]
    pub expires_at: String,
}

/// `201` to a push device's enrollment.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushEnrolled {
    #[schema(value_type = s::Id)]
    pub device_id: String,
    /// The ARN of the SNS topic the device is subscribed to (`LATCHKEY_PUSH_TOPIC_ARN`).
    /// The device accepts notifications and subscription confirmations only when their
    /// `TopicArn` is this one and their `SignatureVersion` is `2`.
    #[schema(
        required = true,
        example = "arn:aws:sns:us-east-1:123456789012:latchkey-push"
    )]
    pub topic_arn: Option<String>,
}

/// `202`: a login push on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushSent {
    #[schema(value_type = s::Id)]
    pub push_id: String,
    /// Random digits to show in the browser and type on the device (6 by default, 2 to 8
    /// by configuration).
    #[schema(pattern = "^[0-9]{2,8}$")]
    pub number: String,
    /// When the push expires (120 s by default).
    #[schema(value_type = s::Timestamp)]
    pub expires_at: String,
}

/// Where a login push stands, or the signed-in answer once it was approved.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
#[schema(as = PushStatusResponse)]
pub enum PushLoginStatus {
    Pending,
    Denied,
    Expired,
    Authenticated(SignedIn),
}

/// A security notice reported ("this wasn't me"): every session of the account ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoticeReported {
    #[schema(value_type = s::NoticeStatus)]
    pub status: &'static str,
    /// How many sessions of the account were revoked.
    pub revoked_sessions: usize,
}

/// The device's answer to a push, as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct PushAnswered {
    #[schema(value_type = s::PushOutcome)]
    pub status: &'static str,
}
