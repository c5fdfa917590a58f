//! `POST /v1/mfa/webauthn` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main::<latchkey::endpoints::StartWebauthnRegistration>()
}
