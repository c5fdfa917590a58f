//! `POST /v1/sessions/revoke-others` as a Lambda function.

use latchkey::{endpoints, routes::handler};

fn main() -> Result<(), lambda_http::Error> {
    latchkey_functions::lambda::main(handler::<endpoints::RevokeOtherSessions>())
}
