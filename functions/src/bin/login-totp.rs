//! `POST /v1/login/totp` as a Lambda function.

use lambda_http::{run, service_fn, Error};
use latchkey::{App, Operation};

#[tokio::main]
async fn main() -> Result<(), Error> {
    latchkey::telemetry::init();
    let app = App::from_env().await?;
    let app = &app;
    run(service_fn(move |request| async move {
        Ok::<_, Error>(latchkey::handle(app, Operation::LoginTotp, request).await)
    }))
    .await
}
