//! The route table: the single source of truth for the API's routes. The SAM template, the
//! dev server, the `cargo lambda watch` router and the function binaries all follow it, and
//! a test checks that they do. It also says which store and SNS actions each function
//! performs, which is what its IAM policy grants, and whether it derives keys (only those
//! functions may read the master secret). Who may call each operation, and whether it
//! needs a fresh password, is the policy table beside it ([`crate::policy`]).

use crate::app::{App, Needs};
use crate::error::{Error, Result};
use crate::http::{self, Request, Response};
pub use crate::operation::Operation;
use crate::ops::{accounts, events, login, mfa, push, session, sudo, totp, webauthn};
use crate::policy::Access;
use crate::records::Scope;
use lambda_http::Body;
use serde::Deserialize;

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// The Lambda function and binary name (`functions/src/bin/<function>.rs`).
    pub function: &'static str,
    pub operation: Operation,
    /// Whether the function derives keys from the master secret (recovery-code MACs, TOTP
    /// seed sealing, push signing). Only these read the secret and may fetch it.
    pub keys: bool,
    /// DynamoDB actions the function performs on the table.
    pub dynamodb: &'static [&'static str],
    /// SNS actions the function performs on the push topic.
    pub sns: &'static [&'static str],
}

const GET: &[&str] = &["GetItem"];
const GET_PUT: &[&str] = &["GetItem", "PutItem"];
const GET_PUT_DELETE: &[&str] = &["GetItem", "PutItem", "DeleteItem"];
/// A password judged under the profile's version ([`crate::ops::decide_unless_locked`]).
const GET_PUT_CHECK: &[&str] = &["GetItem", "PutItem", "ConditionCheckItem"];
/// A first device confirmed: the account's other setup sessions found and revoked.
const CONFIRM: &[&str] = &["GetItem", "PutItem", "DeleteItem", "Query"];

macro_rules! route {
    ($method:literal $path:literal => $function:literal, $op:ident, keys: $keys:expr, $dynamo:expr, $sns:expr) => {
        Route {
            method: $method,
            path: $path,
            function: $function,
            operation: Operation::$op,
            keys: $keys,
            dynamodb: $dynamo,
            sns: $sns,
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!("POST" "/v1/accounts" => "create-account", CreateAccount, keys: false, &["PutItem"], &[]),
    route!("POST" "/v1/login" => "login", Login, keys: false, GET_PUT_CHECK, &[]),
    route!("POST" "/v1/login/totp" => "login-totp", LoginTotp, keys: true, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/login/recovery-code" => "login-recovery-code", LoginRecoveryCode, keys: true, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/login/webauthn/start" => "login-webauthn-start", LoginWebauthnStart, keys: false, GET_PUT, &[]),
    route!("POST" "/v1/login/webauthn/finish" => "login-webauthn-finish", LoginWebauthnFinish, keys: false, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/login/push" => "login-push", LoginPush, keys: true, GET_PUT, &["Publish"]),
    route!("POST" "/v1/login/push/status" => "login-push-status", LoginPushStatus, keys: false, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/logout" => "logout", Logout, keys: false, &["GetItem", "DeleteItem"], &[]),
    route!("GET" "/v1/me" => "me", Me, keys: false, GET, &[]),
    route!("GET" "/v1/mfa" => "get-mfa", GetMfa, keys: false, GET, &[]),
    route!("POST" "/v1/session/reauthenticate" => "reauthenticate", Reauthenticate, keys: false, GET_PUT_CHECK, &[]),
    route!("PATCH" "/v1/mfa/devices/{id}" => "rename-device", RenameDevice, keys: false, GET_PUT, &[]),
    route!("DELETE" "/v1/mfa/devices/{id}" => "remove-device", RemoveDevice, keys: false, GET_PUT_CHECK, &["Unsubscribe"]),
    route!("POST" "/v1/mfa/recovery-codes" => "regenerate-recovery-codes", RegenerateRecoveryCodes, keys: true, GET_PUT_CHECK, &[]),
    route!("PUT" "/v1/mfa/settings" => "update-mfa-settings", UpdateMfaSettings, keys: false, GET_PUT_CHECK, &[]),
    route!("GET" "/v1/mfa/events" => "list-events", ListEvents, keys: false, &["GetItem", "Query"], &[]),
    route!("POST" "/v1/mfa/totp" => "start-totp-registration", StartTotpRegistration, keys: true, GET_PUT_CHECK, &[]),
    route!("POST" "/v1/mfa/totp/confirm" => "confirm-totp-registration", ConfirmTotpRegistration, keys: true, CONFIRM, &[]),
    route!("POST" "/v1/mfa/webauthn" => "start-webauthn-registration", StartWebauthnRegistration, keys: false, GET_PUT_CHECK, &[]),
    route!("POST" "/v1/mfa/webauthn/confirm" => "confirm-webauthn-registration", ConfirmWebauthnRegistration, keys: true, CONFIRM, &[]),
    route!("POST" "/v1/mfa/push" => "start-push-registration", StartPushRegistration, keys: true, GET_PUT_CHECK, &[]),
    route!("POST" "/v1/push/enroll" => "push-enroll", PushEnroll, keys: true, CONFIRM, &["Subscribe", "Unsubscribe"]),
    route!("POST" "/v1/push/respond" => "push-respond", PushRespond, keys: false, GET_PUT, &[]),
];

impl Route {
    /// What this route's function needs wired: the route table decides.
    pub fn needs(&self) -> Needs {
        Needs {
            sns: !self.sns.is_empty(),
            keys: self.keys,
        }
    }
}

impl Operation {
    pub fn route(self) -> &'static Route {
        ROUTES
            .iter()
            .find(|r| r.operation == self)
            .unwrap_or(&ROUTES[0])
    }
}

/// Serves one request for `operation`: authenticates and re-authenticates as the policy
/// table requires, runs the operation, and turns any error into the contract's JSON answer.
/// Every entry point (Lambda function, dev server, tests) comes through here.
pub async fn handle(app: &App, operation: Operation, request: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let route = operation.route();
    let response = match dispatch(app, route, &request).await {
        Ok(response) => response,
        Err(error) => {
            if let Error::Internal(cause) = &error {
                tracing::error!(function = route.function, %cause, "internal error");
            } else if error.status() >= 500 {
                tracing::warn!(
                    function = route.function,
                    code = error.code(),
                    "request failed"
                );
            }
            http::error_response(&error)
        }
    };
    tracing::info!(
        function = route.function,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// Routes without a request body accept none or `{}`.
fn no_body(request: &Request) -> Result<()> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(())
    } else {
        http::json_body::<Empty>(request).map(|_| ())
    }
}

/// A body whose every field is optional may also be absent.
fn optional_json<T: serde::de::DeserializeOwned + Default>(request: &Request) -> Result<T> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        http::json_body(request)
    }
}

fn device_id(request: &Request) -> Result<String> {
    http::path_parameter(request, "id")
        .filter(|id| crate::domain::validate::plausible_id(id))
        .ok_or(Error::NotFound)
}

/// One request, parsed and validated whole before anything is judged or written: a bad
/// body is `400` and changes nothing, not even a password failure count.
enum Input {
    CreateAccount(accounts::Credentials),
    Login(accounts::Credentials),
    LoginTotp(login::CodeRequest),
    LoginRecoveryCode(login::CodeRequest),
    LoginWebauthnStart(webauthn::StartLoginRequest),
    LoginWebauthnFinish(webauthn::FinishLoginRequest),
    LoginPush(push::LoginPushRequest, http::ClientInfo),
    LoginPushStatus(push::StatusRequest),
    Logout,
    Me,
    GetMfa,
    Reauthenticate(sudo::PasswordRequest),
    RenameDevice(String, mfa::RenameRequest),
    RemoveDevice(String, sudo::PasswordRequest),
    RegenerateRecoveryCodes(sudo::OptionalPassword),
    UpdateMfaSettings(mfa::SettingsRequest),
    ListEvents,
    StartTotpRegistration(totp::StartRequest),
    ConfirmTotpRegistration(totp::ConfirmRequest),
    StartWebauthnRegistration(webauthn::StartRegistrationRequest),
    ConfirmWebauthnRegistration(webauthn::ConfirmRegistrationRequest),
    StartPushRegistration(push::StartRequest),
    PushEnroll(push::EnrollRequest),
    PushRespond(push::RespondRequest),
}

impl Input {
    fn parse(operation: Operation, request: &Request) -> Result<Input> {
        use Operation as Op;
        Ok(match operation {
            Op::CreateAccount => Input::CreateAccount(http::json_body(request)?),
            Op::Login => Input::Login(http::json_body(request)?),
            Op::LoginTotp => Input::LoginTotp(http::json_body(request)?),
            Op::LoginRecoveryCode => Input::LoginRecoveryCode(http::json_body(request)?),
            Op::LoginWebauthnStart => Input::LoginWebauthnStart(http::json_body(request)?),
            Op::LoginWebauthnFinish => Input::LoginWebauthnFinish(http::json_body(request)?),
            Op::LoginPush => {
                Input::LoginPush(http::json_body(request)?, http::client_info(request))
            }
            Op::LoginPushStatus => Input::LoginPushStatus(http::json_body(request)?),
            Op::Logout => no_body(request).map(|()| Input::Logout)?,
            Op::Me => Input::Me,
            Op::GetMfa => Input::GetMfa,
            Op::Reauthenticate => Input::Reauthenticate(http::json_body(request)?),
            Op::RenameDevice => {
                let parsed = http::json_body(request)?;
                Input::RenameDevice(device_id(request)?, parsed)
            }
            Op::RemoveDevice => {
                let parsed = http::json_body(request)?;
                Input::RemoveDevice(device_id(request)?, parsed)
            }
            Op::RegenerateRecoveryCodes => Input::RegenerateRecoveryCodes(optional_json(request)?),
            Op::UpdateMfaSettings => Input::UpdateMfaSettings(http::json_body(request)?),
            Op::ListEvents => Input::ListEvents,
            Op::StartTotpRegistration => Input::StartTotpRegistration(optional_json(request)?),
            Op::ConfirmTotpRegistration => {
                Input::ConfirmTotpRegistration(http::json_body(request)?)
            }
            Op::StartWebauthnRegistration => {
                Input::StartWebauthnRegistration(optional_json(request)?)
            }
            Op::ConfirmWebauthnRegistration => {
                Input::ConfirmWebauthnRegistration(http::json_body(request)?)
            }
            Op::StartPushRegistration => Input::StartPushRegistration(optional_json(request)?),
            Op::PushEnroll => Input::PushEnroll(http::json_body(request)?),
            Op::PushRespond => Input::PushRespond(http::json_body(request)?),
        })
    }

    /// The password the request carries for the policy's re-authentication, if any.
    fn password(&self) -> Option<&str> {
        match self {
            Input::Reauthenticate(r) | Input::RemoveDevice(_, r) => Some(&r.password),
            Input::UpdateMfaSettings(r) => Some(&r.password),
            Input::RegenerateRecoveryCodes(r) => r.password.as_deref(),
            Input::StartTotpRegistration(r) => r.password.as_deref(),
            Input::StartWebauthnRegistration(r) => r.password.as_deref(),
            Input::StartPushRegistration(r) => r.password.as_deref(),
            _ => None,
        }
    }
}

async fn dispatch(app: &App, route: &Route, request: &Request) -> Result<Response<Body>> {
    let policy = route.operation.policy();
    let caller = match policy.access {
        Access::Public => None,
        Access::Setup => Some(session::authenticate(app, request, Scope::Setup).await?),
        Access::Full => Some(session::authenticate(app, request, Scope::Full).await?),
    };
    let input = Input::parse(route.operation, request)?;
    let caller = match caller {
        Some(caller) => Some(
            sudo::enforce(
                app,
                policy.reauthentication,
                caller,
                input.password(),
                route.function,
            )
            .await?,
        ),
        None => None,
    };
    let caller = || {
        caller
            .as_ref()
            .ok_or_else(|| Error::internal("an authenticated route has no caller"))
    };
    match input {
        Input::CreateAccount(body) => accounts::create(app, body).await,
        Input::Login(body) => login::password(app, body).await,
        Input::LoginTotp(body) => login::totp(app, body).await,
        Input::LoginRecoveryCode(body) => login::recovery_code(app, body).await,
        Input::LoginWebauthnStart(body) => webauthn::start_login(app, body).await,
        Input::LoginWebauthnFinish(body) => webauthn::finish_login(app, body).await,
        Input::LoginPush(body, client) => push::login_push(app, body, client).await,
        Input::LoginPushStatus(body) => push::status(app, body).await,
        Input::Logout => session::logout(app, caller()?).await,
        Input::Me => session::me(app, caller()?).await,
        Input::GetMfa => mfa::get(app, caller()?).await,
        Input::Reauthenticate(_) => sudo::reauthenticated(caller()?),
        Input::RenameDevice(id, body) => mfa::rename(app, caller()?, &id, body).await,
        Input::RemoveDevice(id, _) => mfa::remove(app, caller()?, &id).await,
        Input::RegenerateRecoveryCodes(_) => mfa::regenerate_recovery_codes(app, caller()?).await,
        Input::UpdateMfaSettings(body) => mfa::update_settings(app, caller()?, body).await,
        Input::ListEvents => events::list(app, &caller()?.username).await,
        Input::StartTotpRegistration(body) => totp::start(app, caller()?, body).await,
        Input::ConfirmTotpRegistration(body) => totp::confirm(app, caller()?, body).await,
        Input::StartWebauthnRegistration(body) => {
            webauthn::start_registration(app, caller()?, body).await
        }
        Input::ConfirmWebauthnRegistration(body) => {
            webauthn::confirm_registration(app, caller()?, body).await
        }
        Input::StartPushRegistration(body) => push::start(app, caller()?, body).await,
        Input::PushEnroll(body) => push::enroll(app, body).await,
        Input::PushRespond(body) => push::respond(app, body).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn routes_functions_and_operations_are_each_unique() {
        let mut functions = HashSet::new();
        let mut endpoints = HashSet::new();
        let mut operations = HashSet::new();
        for route in ROUTES {
            assert!(functions.insert(route.function), "{}", route.function);
            assert!(
                endpoints.insert((route.method, route.path)),
                "{}",
                route.path
            );
            assert!(operations.insert(route.operation), "{:?}", route.operation);
            assert_eq!(route.operation.route().function, route.function);
            assert!(route.path.starts_with("/v1/"));
        }
    }

    #[test]
    fn every_operation_has_exactly_one_policy() {
        assert_eq!(crate::policy::POLICIES.len(), ROUTES.len());
        for route in ROUTES {
            let matching = crate::policy::POLICIES
                .iter()
                .filter(|p| p.operation == route.operation)
                .count();
            assert_eq!(matching, 1, "{:?}", route.operation);
        }
    }
}
