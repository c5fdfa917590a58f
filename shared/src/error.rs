//! The one error type of the service. Each variant has a stable `code` (docs/openapi.yaml,
//! `ErrorCode`); [`crate::http::error_response`] is the only place that turns it into an
//! HTTP answer.

use crate::store::StoreError;
use std::borrow::Cow;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidRequest(Cow<'static, str>),
    #[error("{0}")]
    WeakPassword(&'static str),
    #[error("a username is 3 to 64 characters of a-z, 0-9, '.', '_', '-', '@' and '+'")]
    InvalidUsername,
    #[error("sign in first: the session is missing, expired or revoked")]
    Unauthenticated,
    #[error("the username or password is wrong")]
    InvalidCredentials,
    #[error("the code is wrong or was already used")]
    InvalidCode,
    #[error("this sign-in attempt is unknown, expired or finished; sign in again")]
    InvalidMfaToken,
    #[error("the signature does not verify")]
    InvalidSignature,
    #[error("register a second factor first")]
    MfaSetupRequired,
    #[error("confirm your password first: this change needs a recent password check")]
    ReauthenticationRequired,
    #[error("this is not allowed")]
    Forbidden,
    #[error("there is no such thing")]
    NotFound,
    #[error("that username is taken")]
    UsernameTaken,
    #[error("no more devices of this kind can be registered")]
    MethodLimitReached,
    #[error("no device of this kind is registered")]
    MethodNotRegistered,
    #[error("this request was already answered")]
    AlreadyAnswered,
    #[error("this registration was already used")]
    RegistrationUsed,
    #[error("the new password must differ from the current one")]
    SamePassword,
    #[error("this has expired; start again")]
    Expired,
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("too many attempts; try again later")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("the service is unavailable; try again shortly")]
    Unavailable,
    /// Optimistic-concurrency retries ran out; answered like an outage.
    #[error("the service is busy; try again shortly")]
    Contention,
    /// A bug, a corrupt record or a broken configuration. The cause goes to the log once,
    /// where the error becomes a 500 ([`crate::routes::handle`]), never to the client.
    #[error("internal error")]
    Internal(Cow<'static, str>),
}

impl Error {
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Error::InvalidRequest(message.into())
    }

    pub fn internal(cause: impl Into<Cow<'static, str>>) -> Self {
        Error::Internal(cause.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "invalid_request",
            Error::WeakPassword(_) => "weak_password",
            Error::InvalidUsername => "invalid_username",
            Error::Unauthenticated => "unauthenticated",
            Error::InvalidCredentials => "invalid_credentials",
            Error::InvalidCode => "invalid_code",
            Error::InvalidMfaToken => "invalid_mfa_token",
            Error::InvalidSignature => "invalid_signature",
            Error::MfaSetupRequired => "mfa_setup_required",
            Error::ReauthenticationRequired => "reauthentication_required",
            Error::Forbidden => "forbidden",
            Error::NotFound => "not_found",
            Error::UsernameTaken => "username_taken",
            Error::MethodLimitReached => "method_limit_reached",
            Error::MethodNotRegistered => "method_not_registered",
            Error::AlreadyAnswered => "already_answered",
            Error::RegistrationUsed => "registration_used",
            Error::SamePassword => "same_password",
            Error::Expired => "expired",
            Error::PayloadTooLarge => "payload_too_large",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::Unavailable | Error::Contention => "unavailable",
            Error::Internal(_) => "internal_error",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::InvalidRequest(_) | Error::WeakPassword(_) | Error::InvalidUsername => 400,
            Error::Unauthenticated
            | Error::InvalidCredentials
            | Error::InvalidCode
            | Error::InvalidMfaToken
            | Error::InvalidSignature => 401,
            Error::MfaSetupRequired | Error::ReauthenticationRequired | Error::Forbidden => 403,
            Error::NotFound => 404,
            Error::UsernameTaken
            | Error::MethodLimitReached
            | Error::MethodNotRegistered
            | Error::AlreadyAnswered
            | Error::RegistrationUsed
            | Error::SamePassword => 409,
            Error::Expired => 410,
            Error::PayloadTooLarge => 413,
            Error::TooManyAttempts { .. } => 429,
            Error::Unavailable | Error::Contention => 503,
            Error::Internal(_) => 500,
        }
    }

    /// Seconds for the `Retry-After` header, where the answer has one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::TooManyAttempts { retry_after_secs } => Some((*retry_after_secs).max(1)),
            Error::Unavailable | Error::Contention => Some(1),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A store failure where no condition says what it means: a clash is [`Error::Contention`]
/// (the caller re-reads and retries), an outage is [`Error::Unavailable`].
impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConditionFailed(_) | StoreError::Contention => Error::Contention,
            StoreError::Unavailable => Error::Unavailable,
            StoreError::TooManyKeys(_) => {
                Error::internal(format!("a batch read was refused: {error}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_code_has_its_status() {
        let cases = [
            (Error::invalid("x"), 400, "invalid_request"),
            (Error::WeakPassword("x"), 400, "weak_password"),
            (Error::InvalidUsername, 400, "invalid_username"),
            (Error::Unauthenticated, 401, "unauthenticated"),
            (Error::InvalidCredentials, 401, "invalid_credentials"),
            (Error::InvalidCode, 401, "invalid_code"),
            (Error::InvalidMfaToken, 401, "invalid_mfa_token"),
            (Error::InvalidSignature, 401, "invalid_signature"),
            (Error::MfaSetupRequired, 403, "mfa_setup_required"),
            (
                Error::ReauthenticationRequired,
                403,
                "reauthentication_required",
            ),
            (Error::Forbidden, 403, "forbidden"),
            (Error::NotFound, 404, "not_found"),
            (Error::UsernameTaken, 409, "username_taken"),
            (Error::MethodLimitReached, 409, "method_limit_reached"),
            (Error::MethodNotRegistered, 409, "method_not_registered"),
            (Error::AlreadyAnswered, 409, "already_answered"),
            (Error::RegistrationUsed, 409, "registration_used"),
            (Error::SamePassword, 409, "same_password"),
            (Error::Expired, 410, "expired"),
            (Error::PayloadTooLarge, 413, "payload_too_large"),
            (
                Error::TooManyAttempts {
                    retry_after_secs: 3,
                },
                429,
                "too_many_attempts",
            ),
            (Error::Unavailable, 503, "unavailable"),
            (Error::Contention, 503, "unavailable"),
        ];
        for (error, status, code) in cases {
            assert_eq!((error.status(), error.code()), (status, code), "{error:?}");
        }
    }
}
