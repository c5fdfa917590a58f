//! The route table: the single source of truth for the API's routes. The SAM template, the
//! dev server, the `cargo lambda watch` router and the function binaries all follow it, and
//! a test checks that they do. It also says which store and SNS actions each function
//! performs, which is what its IAM policy grants.

use crate::app::App;
use crate::error::{Error, Result};
use crate::http::{self, Request, Response};
use crate::ops::{accounts, events, login, mfa, push, session, totp, webauthn};
use crate::records::Scope;
use lambda_http::Body;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateAccount,
    Login,
    LoginTotp,
    LoginRecoveryCode,
    LoginWebauthnStart,
    LoginWebauthnFinish,
    LoginPush,
    LoginPushStatus,
    Logout,
    Me,
    GetMfa,
    RenameDevice,
    RemoveDevice,
    RegenerateRecoveryCodes,
    UpdateMfaSettings,
    ListEvents,
    StartTotpRegistration,
    ConfirmTotpRegistration,
    StartWebauthnRegistration,
    ConfirmWebauthnRegistration,
    StartPushRegistration,
    PushEnroll,
    PushRespond,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Any session, including a `setup` one.
    Setup,
    /// A `full` session only.
    Full,
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// The Lambda function and binary name (`functions/src/bin/<function>.rs`).
    pub function: &'static str,
    pub operation: Operation,
    pub access: Access,
    /// DynamoDB actions the function performs on the table.
    pub dynamodb: &'static [&'static str],
    /// SNS actions the function performs on the push topic.
    pub sns: &'static [&'static str],
}

const GET: &[&str] = &["GetItem"];
const GET_PUT: &[&str] = &["GetItem", "PutItem"];
const GET_PUT_DELETE: &[&str] = &["GetItem", "PutItem", "DeleteItem"];

macro_rules! route {
    ($method:literal $path:literal => $function:literal, $op:ident, $access:ident, $dynamo:expr, $sns:expr) => {
        Route {
            method: $method,
            path: $path,
            function: $function,
            operation: Operation::$op,
            access: Access::$access,
            dynamodb: $dynamo,
            sns: $sns,
        }
    };
}

pub const ROUTES: &[Route] = &[
    route!("POST" "/v1/accounts" => "create-account", CreateAccount, Public, &["PutItem"], &[]),
    route!("POST" "/v1/login" => "login", Login, Public, GET_PUT, &[]),
    route!("POST" "/v1/login/totp" => "login-totp", LoginTotp, Public, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/login/recovery-code" => "login-recovery-code", LoginRecoveryCode, Public, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/login/webauthn/start" => "login-webauthn-start", LoginWebauthnStart, Public, GET_PUT, &[]),
    route!("POST" "/v1/login/webauthn/finish" => "login-webauthn-finish", LoginWebauthnFinish, Public, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/login/push" => "login-push", LoginPush, Public, GET_PUT, &["Publish"]),
    route!("POST" "/v1/login/push/status" => "login-push-status", LoginPushStatus, Public, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/logout" => "logout", Logout, Setup, &["GetItem", "DeleteItem"], &[]),
    route!("GET" "/v1/me" => "me", Me, Setup, GET, &[]),
    route!("GET" "/v1/mfa" => "get-mfa", GetMfa, Setup, GET, &[]),
    route!("PATCH" "/v1/mfa/devices/{id}" => "rename-device", RenameDevice, Full, GET_PUT, &[]),
    route!("DELETE" "/v1/mfa/devices/{id}" => "remove-device", RemoveDevice, Full, GET_PUT, &["Unsubscribe"]),
    route!("POST" "/v1/mfa/recovery-codes" => "regenerate-recovery-codes", RegenerateRecoveryCodes, Full, GET_PUT, &[]),
    route!("PUT" "/v1/mfa/settings" => "update-mfa-settings", UpdateMfaSettings, Full, GET_PUT, &[]),
    route!("GET" "/v1/mfa/events" => "list-events", ListEvents, Full, &["GetItem", "Query"], &[]),
    route!("POST" "/v1/mfa/totp" => "start-totp-registration", StartTotpRegistration, Setup, GET_PUT, &[]),
    route!("POST" "/v1/mfa/totp/confirm" => "confirm-totp-registration", ConfirmTotpRegistration, Setup, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/mfa/webauthn" => "start-webauthn-registration", StartWebauthnRegistration, Setup, GET_PUT, &[]),
    route!("POST" "/v1/mfa/webauthn/confirm" => "confirm-webauthn-registration", ConfirmWebauthnRegistration, Setup, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/mfa/push" => "start-push-registration", StartPushRegistration, Setup, GET_PUT, &[]),
    route!("POST" "/v1/push/enroll" => "push-enroll", PushEnroll, Public, GET_PUT_DELETE, &["Subscribe", "Unsubscribe"]),
    route!("POST" "/v1/push/respond" => "push-respond", PushRespond, Public, GET_PUT, &[]),
];

impl Operation {
    pub fn route(self) -> &'static Route {
        ROUTES
            .iter()
            .find(|r| r.operation == self)
            .unwrap_or(&ROUTES[0])
    }
}

/// Serves one request for `operation`: authenticates as the route requires, runs the
/// operation, and turns any error into the contract's JSON answer. Every entry point
/// (Lambda function, dev server, tests) comes through here.
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

fn device_id(request: &Request) -> Result<String> {
    http::path_parameter(request, "id").ok_or(Error::NotFound)
}

async fn dispatch(app: &App, route: &Route, request: &Request) -> Result<Response<Body>> {
    let caller = match route.access {
        Access::Public => None,
        Access::Setup => Some(session::authenticate(app, request, Scope::Setup).await?),
        Access::Full => Some(session::authenticate(app, request, Scope::Full).await?),
    };
    let caller = || {
        caller
            .as_ref()
            .ok_or_else(|| Error::internal("an authenticated route has no caller"))
    };
    use Operation as Op;
    match route.operation {
        Op::CreateAccount => accounts::create(app, http::json_body(request)?).await,
        Op::Login => login::password(app, http::json_body(request)?).await,
        Op::LoginTotp => login::totp(app, http::json_body(request)?).await,
        Op::LoginRecoveryCode => login::recovery_code(app, http::json_body(request)?).await,
        Op::Logout => {
            no_body(request)?;
            session::logout(app, caller()?).await
        }
        Op::Me => session::me(app, caller()?).await,
        Op::GetMfa => mfa::get(app, caller()?).await,
        Op::RenameDevice => {
            let body = http::json_body(request)?;
            mfa::rename(app, caller()?, &device_id(request)?, body).await
        }
        Op::RemoveDevice => {
            let body = http::json_body(request)?;
            mfa::remove(app, caller()?, &device_id(request)?, body).await
        }
        Op::RegenerateRecoveryCodes => {
            no_body(request)?;
            mfa::regenerate_recovery_codes(app, caller()?).await
        }
        Op::UpdateMfaSettings => {
            mfa::update_settings(app, caller()?, http::json_body(request)?).await
        }
        Op::ListEvents => events::list(app, &caller()?.username).await,
        Op::StartTotpRegistration => {
            let body = optional_json(request)?;
            totp::start(app, caller()?, body).await
        }
        Op::ConfirmTotpRegistration => {
            totp::confirm(app, caller()?, http::json_body(request)?).await
        }
        Op::StartPushRegistration => {
            let body = optional_json(request)?;
            push::start(app, caller()?, body).await
        }
        Op::PushEnroll => push::enroll(app, http::json_body(request)?).await,
        Op::LoginPush => {
            let body = http::json_body(request)?;
            push::login_push(app, body, http::client_info(request)).await
        }
        Op::LoginPushStatus => push::status(app, http::json_body(request)?).await,
        Op::PushRespond => push::respond(app, http::json_body(request)?).await,
        Op::LoginWebauthnStart => webauthn::start_login(app, http::json_body(request)?).await,
        Op::LoginWebauthnFinish => webauthn::finish_login(app, http::json_body(request)?).await,
        Op::StartWebauthnRegistration => {
            let body = optional_json(request)?;
            webauthn::start_registration(app, caller()?, body).await
        }
        Op::ConfirmWebauthnRegistration => {
            webauthn::confirm_registration(app, caller()?, http::json_body(request)?).await
        }
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
}
