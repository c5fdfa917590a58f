//! `GET /v1/mfa/events` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main::<latchkey::endpoints::ListEvents>()
}
