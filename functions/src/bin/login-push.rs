//! `POST /v1/login/push` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main::<latchkey::endpoints::LoginPush>()
}
