//! What every function binary runs: read the configuration, build the clients its route
//! needs once, then answer invocations through its endpoint. It lives here rather than in
//! 24 `main`s so that the async stack is compiled once for all of them, and every function
//! starts alike. The endpoint comes in as a function pointer ([`latchkey::routes::Handler`]):
//! a binary links its own operation and no other, yet adds only that operation's small
//! glue to compile, not another copy of the runtime.

use lambda_http::{service_fn, Error, LambdaEvent};
use latchkey::notify::bus::EventBridgeBus;
use latchkey::routes::Handler;
use latchkey::stream::{self, BatchResponse, StreamEvent};
use latchkey::{App, Config};

/// The whole `main` of the function serving `handler`'s endpoint.
pub fn main(handler: Handler) -> Result<(), Error> {
    run(serve(handler))
}

fn run(serving: impl std::future::Future<Output = Result<(), Error>>) -> Result<(), Error> {
    latchkey::telemetry::init();
    // Lambda sends a sandbox its next event only after the previous answer, so worker
    // threads would only add start-up time; password hashing runs on the blocking pool.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serving)
}

/// The whole `main` of the security-events function: batches of the table's stream
/// records in, the record to resume from out (`ReportBatchItemFailures`).
pub fn stream_main() -> Result<(), Error> {
    run(serve_stream())
}

async fn serve_stream() -> Result<(), Error> {
    let config = Config::from_env()?;
    let sdk = latchkey::app::aws_sdk_config(&config).await?;
    let bus = EventBridgeBus::new(
        latchkey::app::eventbridge_client(&sdk),
        config.event_bus.clone(),
    );
    let needs = latchkey::app::Needs {
        sns: true,
        keys: true,
    };
    let app = App::for_function_on(&sdk, config, needs).await?;
    let (app, bus) = (&app, &bus);
    lambda_http::lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StreamEvent>| async move {
            Ok::<BatchResponse, Error>(stream::handle(app, bus, &event.payload).await)
        },
    ))
    .await
}

async fn serve(handler: Handler) -> Result<(), Error> {
    let needs = handler.operation.route().needs();
    let app = App::for_function(Config::from_env()?, needs).await?;
    let app = &app;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>((handler.serve)(app, request).await)
    }))
    .await
}
