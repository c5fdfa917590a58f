//! `POST /v1/login/push/status` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main::<latchkey::endpoints::LoginPushStatus>()
}
