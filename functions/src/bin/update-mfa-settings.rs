//! `PUT /v1/mfa/settings` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main::<latchkey::endpoints::UpdateMfaSettings>()
}
