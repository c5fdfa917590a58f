//! `POST /v1/mfa/totp` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main::<latchkey::endpoints::StartTotpRegistration>()
}
