//! `POST /v1/login/recovery-code` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main::<latchkey::endpoints::LoginRecoveryCode>()
}
