//! The route table: the single source of truth for the API's routes. The SAM template, the
//! dev server, the `cargo lambda watch` router and the function binaries all follow it, and
//! a test checks that they do. It also says which store and SNS actions each function
//! performs, which is what its IAM policy grants, and whether it derives keys (only those
//! functions may read the master secret). Who may call each operation, and whether it
//! needs a fresh password, is the policy table beside it ([`crate::policy`]).

use crate::app::{App, Needs};
use crate::auth::Caller;
pub use crate::endpoints::Endpoint;
use crate::error::{Error, Result};
use crate::http::{self, Request, Response};
pub use crate::operation::Operation;
use crate::ops::sudo;
use crate::policy::Access;
use crate::records::Scope;
use lambda_http::Body;
use std::future::Future;
use std::pin::Pin;

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

/// Every route behind a session may record the session's use (`last_seen_at`, auth.rs).
const GET_PUT: &[&str] = &["GetItem", "PutItem"];
const GET_PUT_DELETE: &[&str] = &["GetItem", "PutItem", "DeleteItem"];
/// A password judged under the profile's version ([`crate::ops::decide_unless_locked`]).
const GET_PUT_CHECK: &[&str] = &["GetItem", "PutItem", "ConditionCheckItem"];
/// The account's sessions found (Query) and ended, with a profile change.
const SESSIONS: &[&str] = &["GetItem", "PutItem", "DeleteItem", "Query"];
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
    route!("POST" "/v1/logout" => "logout", Logout, keys: false, GET_PUT_DELETE, &[]),
    route!("GET" "/v1/me" => "me", Me, keys: false, GET_PUT, &[]),
    route!("GET" "/v1/mfa" => "get-mfa", GetMfa, keys: false, GET_PUT, &[]),
    route!("POST" "/v1/session/reauthenticate" => "reauthenticate", Reauthenticate, keys: false, GET_PUT_CHECK, &[]),
    route!("PATCH" "/v1/mfa/devices/{id}" => "rename-device", RenameDevice, keys: false, GET_PUT, &[]),
    route!("DELETE" "/v1/mfa/devices/{id}" => "remove-device", RemoveDevice, keys: false, GET_PUT_CHECK, &["Unsubscribe"]),
    route!("POST" "/v1/mfa/recovery-codes" => "regenerate-recovery-codes", RegenerateRecoveryCodes, keys: true, GET_PUT_CHECK, &[]),
    route!("PUT" "/v1/mfa/settings" => "update-mfa-settings", UpdateMfaSettings, keys: false, GET_PUT_CHECK, &[]),
    route!("GET" "/v1/mfa/events" => "list-events", ListEvents, keys: false, &["GetItem", "PutItem", "Query"], &[]),
    route!("POST" "/v1/mfa/totp" => "start-totp-registration", StartTotpRegistration, keys: true, GET_PUT_CHECK, &[]),
    route!("POST" "/v1/mfa/totp/confirm" => "confirm-totp-registration", ConfirmTotpRegistration, keys: true, CONFIRM, &[]),
    route!("POST" "/v1/mfa/webauthn" => "start-webauthn-registration", StartWebauthnRegistration, keys: false, GET_PUT_CHECK, &[]),
    route!("POST" "/v1/mfa/webauthn/confirm" => "confirm-webauthn-registration", ConfirmWebauthnRegistration, keys: true, CONFIRM, &[]),
    route!("POST" "/v1/mfa/push" => "start-push-registration", StartPushRegistration, keys: true, GET_PUT_CHECK, &[]),
    route!("POST" "/v1/push/enroll" => "push-enroll", PushEnroll, keys: true, CONFIRM, &["Subscribe", "Unsubscribe"]),
    route!("POST" "/v1/push/respond" => "push-respond", PushRespond, keys: false, GET_PUT_CHECK, &[]),
    route!("POST" "/v1/login/passkey/start" => "login-passkey-start", LoginPasskeyStart, keys: false, &["PutItem"], &[]),
    route!("POST" "/v1/login/passkey/finish" => "login-passkey-finish", LoginPasskeyFinish, keys: false, GET_PUT_DELETE, &[]),
    route!("GET" "/v1/sessions" => "list-sessions", ListSessions, keys: false, &["GetItem", "PutItem", "Query"], &[]),
    route!("DELETE" "/v1/sessions/{id}" => "revoke-session", RevokeSession, keys: false, GET_PUT_DELETE, &[]),
    route!("POST" "/v1/sessions/revoke-others" => "revoke-other-sessions", RevokeOtherSessions, keys: false, SESSIONS, &[]),
    route!("PUT" "/v1/password" => "change-password", ChangePassword, keys: false, SESSIONS, &[]),
    route!("POST" "/v1/push/report" => "push-report", PushReport, keys: false, REPORT, &["Unsubscribe"]),
];

/// A report spends the notice, revokes every session and may remove a device.
const REPORT: &[&str] = &[
    "GetItem",
    "PutItem",
    "DeleteItem",
    "Query",
    "ConditionCheckItem",
];

/// A Lambda function that serves no route: it is triggered by something else than API
/// Gateway. The same checks as for the routes' functions hold (its binary, its template
/// entry and its IAM actions; tests/integration/route_table.rs).
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub function: &'static str,
    /// What triggers it, as the template's event type (`DynamoDB`).
    pub trigger: &'static str,
    pub keys: bool,
    pub dynamodb: &'static [&'static str],
    pub sns: &'static [&'static str],
    /// EventBridge actions on the operators' bus.
    pub events: &'static [&'static str],
}

/// The functions that serve no route.
pub const FUNCTIONS: &[Function] = &[Function {
    // crate::stream: notices to push devices, events to the operators' bus.
    function: "security-events",
    trigger: "DynamoDB",
    keys: true,
    dynamodb: &["GetItem"],
    sns: &["Publish"],
    events: &["PutEvents"],
}];

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

/// Serves one request for `operation`, whichever it is: the dev server's and the tests'
/// entry. A Lambda function serves its one operation through [`handle_as`] instead, so
/// that its binary links that operation alone.
pub async fn handle(app: &App, operation: Operation, request: Request) -> Response<Body> {
    use crate::endpoints as e;
    use Operation as Op;
    match operation {
        Op::CreateAccount => handle_as::<e::CreateAccount>(app, request).await,
        Op::Login => handle_as::<e::Login>(app, request).await,
        Op::LoginTotp => handle_as::<e::LoginTotp>(app, request).await,
        Op::LoginRecoveryCode => handle_as::<e::LoginRecoveryCode>(app, request).await,
        Op::LoginWebauthnStart => handle_as::<e::LoginWebauthnStart>(app, request).await,
        Op::LoginWebauthnFinish => handle_as::<e::LoginWebauthnFinish>(app, request).await,
        Op::LoginPush => handle_as::<e::LoginPush>(app, request).await,
        Op::LoginPushStatus => handle_as::<e::LoginPushStatus>(app, request).await,
        Op::Logout => handle_as::<e::Logout>(app, request).await,
        Op::Me => handle_as::<e::Me>(app, request).await,
        Op::GetMfa => handle_as::<e::GetMfa>(app, request).await,
        Op::Reauthenticate => handle_as::<e::Reauthenticate>(app, request).await,
        Op::RenameDevice => handle_as::<e::RenameDevice>(app, request).await,
        Op::RemoveDevice => handle_as::<e::RemoveDevice>(app, request).await,
        Op::RegenerateRecoveryCodes => handle_as::<e::RegenerateRecoveryCodes>(app, request).await,
        Op::UpdateMfaSettings => handle_as::<e::UpdateMfaSettings>(app, request).await,
        Op::ListEvents => handle_as::<e::ListEvents>(app, request).await,
        Op::StartTotpRegistration => handle_as::<e::StartTotpRegistration>(app, request).await,
        Op::ConfirmTotpRegistration => handle_as::<e::ConfirmTotpRegistration>(app, request).await,
        Op::StartWebauthnRegistration => {
            handle_as::<e::StartWebauthnRegistration>(app, request).await
        }
        Op::ConfirmWebauthnRegistration => {
            handle_as::<e::ConfirmWebauthnRegistration>(app, request).await
        }
        Op::StartPushRegistration => handle_as::<e::StartPushRegistration>(app, request).await,
        Op::PushEnroll => handle_as::<e::PushEnroll>(app, request).await,
        Op::PushRespond => handle_as::<e::PushRespond>(app, request).await,
        Op::LoginPasskeyStart => handle_as::<e::LoginPasskeyStart>(app, request).await,
        Op::LoginPasskeyFinish => handle_as::<e::LoginPasskeyFinish>(app, request).await,
        Op::ListSessions => handle_as::<e::ListSessions>(app, request).await,
        Op::RevokeSession => handle_as::<e::RevokeSession>(app, request).await,
        Op::RevokeOtherSessions => handle_as::<e::RevokeOtherSessions>(app, request).await,
        Op::ChangePassword => handle_as::<e::ChangePassword>(app, request).await,
        Op::PushReport => handle_as::<e::PushReport>(app, request).await,
    }
}

/// A function's endpoint as a plain function pointer, so that the code serving invocations
/// is compiled once, not once per endpoint (functions/src/lambda.rs).
#[derive(Clone, Copy)]
pub struct Handler {
    pub operation: Operation,
    pub serve: for<'a> fn(&'a App, Request) -> Answer<'a>,
}

pub type Answer<'a> = Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>;

/// The handler of the endpoint `E`.
pub fn handler<E: Endpoint>() -> Handler {
    Handler {
        operation: E::OPERATION,
        serve: serve_boxed::<E>,
    }
}

fn serve_boxed<E: Endpoint>(app: &App, request: Request) -> Answer<'_> {
    Box::pin(handle_as::<E>(app, request))
}

/// Serves one request for the endpoint `E`: authenticates and re-authenticates as the
/// policy table requires, runs the operation, and turns any error into the contract's JSON
/// answer. Every entry point comes through here.
pub async fn handle_as<E: Endpoint>(app: &App, request: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let route = E::OPERATION.route();
    let source = crate::source::of_request(
        &request,
        crate::source::Trust {
            proxies: &app.config.trusted_proxies,
            cloudfront: app.config.viewer_address_from_cloudfront,
        },
    );
    let response =
        match crate::source::within(source, serve_from_origin::<E>(app, route, &request)).await {
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

/// Behind CloudFront, only what CloudFront forwarded is served: API Gateway's own address
/// would skip the WAF's per-address limits, and let a caller name its own
/// `CloudFront-Viewer-Address`.
async fn serve_from_origin<E: Endpoint>(
    app: &App,
    route: &Route,
    request: &Request,
) -> Result<Response<Body>> {
    if let Some(secret) = &app.config.origin_secret {
        let presented = request
            .headers()
            .get(crate::config::ORIGIN_HEADER)
            .map(|value| value.as_bytes());
        if !secret.admits(presented) {
            tracing::warn!(
                function = route.function,
                "request that did not come through CloudFront"
            );
            return Err(Error::Forbidden);
        }
    }
    serve::<E>(app, route, request).await
}

/// The request is parsed and validated whole before anything is judged or written: a bad
/// body is `400` and changes nothing, not even a password failure count.
async fn serve<E: Endpoint>(app: &App, route: &Route, request: &Request) -> Result<Response<Body>> {
    let policy = E::OPERATION.policy();
    let caller = admit(app, policy.access, request).await?;
    let input = E::parse(request)?;
    let caller = match caller {
        Some(caller) => Some(
            sudo::enforce(
                app,
                policy.reauthentication,
                caller,
                E::password(&input),
                route.function,
            )
            .await?,
        ),
        None => None,
    };
    let output = E::run(app, caller.as_ref(), input).await?;
    if E::STATUS == 204 {
        Ok(http::no_content())
    } else {
        http::json(E::STATUS, &output)
    }
}

/// The caller, as the route's access requires.
async fn admit(app: &App, access: Access, request: &Request) -> Result<Option<Caller>> {
    Ok(match access {
        Access::Public => None,
        Access::Setup => Some(crate::auth::authenticate(app, request, Scope::Setup).await?),
        Access::Full => Some(crate::auth::authenticate(app, request, Scope::Full).await?),
    })
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
