//! The cold-start baseline: a hello-world `lambda_runtime` function, built by the same
//! cargo invocation and profile as the Latchkey functions (scripts/bench). It does what
//! every function does before its first poll except Latchkey's own init.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({ "statusCode": 200, "body": "hello" }))
    }))
    .await
}
