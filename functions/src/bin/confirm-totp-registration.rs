//! `POST /v1/mfa/totp/confirm` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main::<latchkey::endpoints::ConfirmTotpRegistration>()
}
