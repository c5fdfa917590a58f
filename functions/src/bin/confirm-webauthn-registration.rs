//! `POST /v1/mfa/webauthn/confirm` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main::<latchkey::endpoints::ConfirmWebauthnRegistration>()
}
