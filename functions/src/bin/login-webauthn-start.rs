//! `POST /v1/login/webauthn/start` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main::<latchkey::endpoints::LoginWebauthnStart>()
}
