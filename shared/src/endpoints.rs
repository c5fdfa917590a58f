//! One endpoint per operation: how its request is read, which password in it the policy
//! judges, and which operation it runs. A Lambda function is generic over its endpoint
//! ([`crate::routes::handle_as`]), so its binary links its own operation and no other;
//! the dev server, which serves them all, picks one by [`Operation`].

use crate::answers as a;
use crate::app::App;
use crate::auth::{Caller, Credentials};
use crate::error::{Error, Result};
use crate::http::{self, ClientInfo, Request};
use crate::operation::Operation;
use crate::ops::{accounts, events, login, mfa, push, session, sudo, totp, webauthn};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;

pub trait Endpoint: 'static {
    const OPERATION: Operation;
    /// The request, parsed and validated whole.
    type Input: Send + Sync;

    fn parse(request: &Request) -> Result<Self::Input>;

    /// The password the request carries for the policy's re-authentication, if any.
    fn password(_input: &Self::Input) -> Option<&str> {
        None
    }

    /// The answer on success, and its status.
    type Output: Serialize + Send;
    const STATUS: u16 = 200;

    fn run(
        app: &App,
        caller: Option<&Caller>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output>> + Send;
}

/// The caller of a route the policy table lets only sessions reach.
fn signed_in(caller: Option<&Caller>) -> Result<&Caller> {
    caller.ok_or_else(|| Error::internal("an authenticated route has no caller"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// No body at all. White space alone is not an absent body but text that is not JSON
/// (`400`), as the reference says and as schemathesis checks.
fn is_blank(request: &Request) -> bool {
    request.body().as_ref().is_empty()
}

/// Routes without a request body accept none or `{}`.
fn no_body(request: &Request) -> Result<()> {
    if is_blank(request) {
        Ok(())
    } else {
        http::json_body::<Empty>(request).map(|_| ())
    }
}

/// A body whose every field is optional may also be absent.
fn optional_json<T: DeserializeOwned + Default>(request: &Request) -> Result<T> {
    if is_blank(request) {
        Ok(T::default())
    } else {
        http::json_body(request)
    }
}

/// The `{id}` of a device path; one too long to exist is unknown.
fn device_id(request: &Request) -> Result<String> {
    http::path_parameter(request, "id")
        .filter(|id| crate::domain::validate::plausible_id(id))
        .ok_or(Error::NotFound)
}

/// An endpoint: its name is its operation's; `parse` reads the request; `password`, when
/// given, names the input's password field; `run` calls the operation.
macro_rules! endpoint {
    (
        $name:ident($input:ty) -> $output:ty $(, status $status:literal)?,
        parse($request:ident) $parse:block,
        $(password($pw_input:ident) $password:block,)?
        run($app:ident, $caller:ident, $body:ident) $run:block
    ) => {
        pub struct $name;

        impl Endpoint for $name {
            const OPERATION: Operation = Operation::$name;
            type Input = $input;
            type Output = $output;
            $(const STATUS: u16 = $status;)?

            fn parse($request: &Request) -> Result<$input> $parse

            $(fn password($pw_input: &$input) -> Option<&str> $password)?

            #[allow(unused_variables)]
            async fn run(
                $app: &App,
                $caller: Option<&Caller>,
                $body: $input,
            ) -> Result<$output> $run
        }
    };
}

endpoint!(CreateAccount(Credentials) -> a::Account, status 201,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { accounts::create(app, body).await });
endpoint!(Login(Credentials) -> a::LoginAnswer,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { login::password(app, body).await });
endpoint!(LoginTotp(login::CodeRequest) -> a::LoginAnswer,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { login::totp(app, body).await });
endpoint!(LoginRecoveryCode(login::CodeRequest) -> a::LoginAnswer,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { login::recovery_code(app, body).await });
endpoint!(LoginWebauthnStart(webauthn::StartLoginRequest) -> a::WebauthnChallenge,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { webauthn::start_login(app, body).await });
endpoint!(LoginWebauthnFinish(webauthn::FinishLoginRequest) -> a::LoginAnswer,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { webauthn::finish_login(app, body).await });
endpoint!(LoginPush((push::LoginPushRequest, ClientInfo)) -> a::PushSent, status 202,
    parse(r) { Ok((http::json_body(r)?, ClientInfo::current())) },
    run(app, caller, body) { push::login_push(app, body.0, body.1).await });
endpoint!(LoginPushStatus(push::StatusRequest) -> a::PushLoginStatus,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { push::status(app, body).await });
endpoint!(Logout(()) -> (), status 204,
    parse(r) { no_body(r) },
    run(app, caller, body) { session::logout(app, signed_in(caller)?).await });
endpoint!(Me(()) -> a::Me,
    parse(_r) { Ok(()) },
    run(app, caller, body) { session::me(app, signed_in(caller)?).await });
endpoint!(GetMfa(()) -> a::Settings,
    parse(_r) { Ok(()) },
    run(app, caller, body) { mfa::get(app, signed_in(caller)?).await });
endpoint!(Reauthenticate(sudo::PasswordRequest) -> a::Reauthenticated,
    parse(r) { http::json_body(r) },
    password(input) { Some(&input.password) },
    run(app, caller, body) { sudo::reauthenticated(signed_in(caller)?) });
endpoint!(RenameDevice((String, mfa::RenameRequest)) -> a::DeviceView,
    parse(r) {
        let body = http::json_body(r)?;
        Ok((device_id(r)?, body))
    },
    run(app, caller, body) { mfa::rename(app, signed_in(caller)?, &body.0, body.1).await });
endpoint!(RemoveDevice((String, sudo::PasswordRequest)) -> a::Removed,
    parse(r) {
        let body = http::json_body(r)?;
        Ok((device_id(r)?, body))
    },
    password(input) { Some(&input.1.password) },
    run(app, caller, body) { mfa::remove(app, signed_in(caller)?, &body.0).await });
endpoint!(RegenerateRecoveryCodes(sudo::OptionalPassword) -> a::RecoveryCodes,
    parse(r) { optional_json(r) },
    password(input) { input.password.as_deref() },
    run(app, caller, body) { mfa::regenerate_recovery_codes(app, signed_in(caller)?).await });
endpoint!(UpdateMfaSettings(mfa::SettingsRequest) -> a::MfaSettings,
    parse(r) { http::json_body(r) },
    password(input) { Some(&input.password) },
    run(app, caller, body) { mfa::update_settings(app, signed_in(caller)?, body).await });
endpoint!(ListEvents(()) -> a::Events,
    parse(_r) { Ok(()) },
    run(app, caller, body) { events::list(app, &signed_in(caller)?.username).await });
endpoint!(StartTotpRegistration(totp::StartRequest) -> a::TotpRegistration,
    parse(r) { optional_json(r) },
    password(input) { input.password.as_deref() },
    run(app, caller, body) { totp::start(app, signed_in(caller)?, body).await });
endpoint!(ConfirmTotpRegistration(totp::ConfirmRequest) -> a::ConfirmedAnswer, status 201,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { totp::confirm(app, signed_in(caller)?, body).await });
endpoint!(StartWebauthnRegistration(webauthn::StartRegistrationRequest) -> a::WebauthnRegistration,
    parse(r) { optional_json(r) },
    password(input) { input.password.as_deref() },
    run(app, caller, body) { webauthn::start_registration(app, signed_in(caller)?, body).await });
endpoint!(ConfirmWebauthnRegistration(webauthn::ConfirmRegistrationRequest) -> a::ConfirmedAnswer, status 201,
parse(r) { http::json_body(r) },
run(app, caller, body) {
    webauthn::confirm_registration(app, signed_in(caller)?, body).await
});
endpoint!(StartPushRegistration(push::StartRequest) -> a::PushRegistration,
    parse(r) { optional_json(r) },
    password(input) { input.password.as_deref() },
    run(app, caller, body) { push::start(app, signed_in(caller)?, body).await });
endpoint!(PushEnroll(push::EnrollRequest) -> a::PushEnrolled, status 201,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { push::enroll(app, body).await });
endpoint!(PushRespond(push::RespondRequest) -> a::PushAnswered,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { push::respond(app, body).await });
endpoint!(LoginPasskeyStart(()) -> a::PasskeyChallenge,
    parse(r) { no_body(r) },
    run(app, caller, body) { webauthn::start_passkey_login(app).await });
endpoint!(LoginPasskeyFinish(webauthn::FinishPasskeyLoginRequest) -> a::LoginAnswer,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { webauthn::finish_passkey_login(app, body).await });
endpoint!(ListSessions(()) -> a::Sessions,
    parse(_r) { Ok(()) },
    run(app, caller, body) { session::list(app, signed_in(caller)?).await });
endpoint!(RevokeSession(String) -> (), status 204,
    parse(r) {
        no_body(r)?;
        http::path_parameter(r, "id").ok_or(Error::NotFound)
    },
    run(app, caller, body) { session::revoke_one(app, signed_in(caller)?, &body).await });
endpoint!(RevokeOtherSessions(()) -> a::Revoked,
    parse(r) { no_body(r) },
    run(app, caller, body) { session::revoke_others(app, signed_in(caller)?).await });
endpoint!(ChangePassword(accounts::PasswordChange) -> a::PasswordChanged,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { accounts::change_password(app, signed_in(caller)?, body).await });
endpoint!(PushReport(push::NoticeReportRequest) -> a::NoticeReported,
    parse(r) { http::json_body(r) },
    run(app, caller, body) { push::report(app, body).await });
