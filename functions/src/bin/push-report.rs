//! `POST /v1/push/report` as a Lambda function.

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main(latchkey::routes::handler::<latchkey::endpoints::PushReport>())
}
