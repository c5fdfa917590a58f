//! Security-log items: what happened to an account, written in the same transaction as the
//! change itself, so no event is ever apart from its effect. Types, device ids and short
//! non-secret details only.

use crate::app::App;
use crate::clock::Instant;
use crate::error::Result;
use crate::records::{self, Event};
use crate::store::Write;

/// The security log's event types: the user's own actions, and `admin_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    LoginSucceeded,
    LoginFailed,
    SecondFactorFailed,
    DeviceAdded,
    DeviceRenamed,
    DeviceRemoved,
    RecoveryCodesGenerated,
    RecoveryCodeUsed,
    PushDenied,
    MfaEnabled,
    MfaDisabled,
    PasswordChanged,
    SessionRevoked,
    /// The push device said "this wasn't me" about a security notice.
    NoticeReported,
    /// Operator actions from `latchkey-admin` (reset-mfa, unlock, revoke-sessions); not in
    /// the API's base list of event types, which names the user's own actions; the detail
    /// names the action and the operator (`reset-mfa by alice`).
    AdminAction,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LoginSucceeded => "login_succeeded",
            EventType::LoginFailed => "login_failed",
            EventType::SecondFactorFailed => "second_factor_failed",
            EventType::DeviceAdded => "device_added",
            EventType::DeviceRenamed => "device_renamed",
            EventType::DeviceRemoved => "device_removed",
            EventType::RecoveryCodesGenerated => "recovery_codes_generated",
            EventType::RecoveryCodeUsed => "recovery_code_used",
            EventType::PushDenied => "push_denied",
            EventType::MfaEnabled => "mfa_enabled",
            EventType::MfaDisabled => "mfa_disabled",
            EventType::PasswordChanged => "password_changed",
            EventType::SessionRevoked => "session_revoked",
            EventType::NoticeReported => "notice_reported",
            EventType::AdminAction => "admin_action",
        }
    }
}

/// The write that records one event, with the IP address and User-Agent of the request
/// being served ([`crate::source`]; none for an operator's action).
pub fn record(
    app: &App,
    username: &str,
    at: Instant,
    kind: EventType,
    device_id: Option<&str>,
    detail: Option<&str>,
) -> Result<Write> {
    let source = crate::source::current();
    let event = Event {
        username: username.to_owned(),
        at: at.millis(),
        id: crate::random::token::<6>(app.rng.as_ref())?,
        kind: kind.as_str().to_owned(),
        device_id: device_id.map(str::to_owned),
        detail: detail.map(str::to_owned),
        ip: source.ip,
        user_agent: source.user_agent,
    };
    records::create(&event)
}
