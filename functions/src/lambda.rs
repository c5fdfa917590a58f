//! What every function binary runs: read the configuration, build the clients its route
//! needs once, then answer invocations through [`latchkey::handle`]. It lives here rather
//! than in 23 `main`s so that the async stack is compiled once for all of them (a function
//! binary is then a link, not a codegen of its own) and every function starts alike.

use lambda_http::{service_fn, Error};
use latchkey::{App, Config, Endpoint};

/// The whole `main` of the function serving the endpoint `E`. Generic, so that a function's
/// binary links its own operation and no other.
pub fn main<E: Endpoint>() -> Result<(), Error> {
    latchkey::telemetry::init();
    // Lambda sends a sandbox its next event only after the previous answer, so worker
    // threads would only add start-up time; password hashing runs on the blocking pool.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve::<E>())
}

async fn serve<E: Endpoint>() -> Result<(), Error> {
    let app = App::for_function(Config::from_env()?, E::OPERATION.route().needs()).await?;
    let app = &app;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(latchkey::routes::handle_as::<E>(app, request).await)
    }))
    .await
}
