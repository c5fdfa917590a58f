//! The local dev server: `LATCHKEY_DEV_ADDR` (default 127.0.0.1:8080), web page from
//! `LATCHKEY_WEB_DIR` (default `web`), everything else as the functions read it. It also
//! plays the security-events function: it polls the table's stream and hands new events
//! to the same handler (notices to the push device; the events to `LATCHKEY_EVENT_BUS`
//! when set, else only logged).

use latchkey::notify::bus::{EventBridgeBus, EventBus, LogOnlyBus};
use latchkey::App;
use latchkey_functions::{dev_server, stream_poller};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    latchkey::telemetry::init();
    let app = Arc::new(App::from_env().await?);
    let sdk = latchkey::app::operator_sdk_config(&app.config).await?;
    let bus: Arc<dyn EventBus> = match &app.config.event_bus {
        Some(name) => Arc::new(EventBridgeBus::new(
            latchkey::app::eventbridge_client(&sdk),
            Some(name.clone()),
        )),
        None => Arc::new(LogOnlyBus),
    };
    tokio::spawn(stream_poller::run(
        app.clone(),
        bus,
        sdk,
        app.config.table.clone(),
    ));
    let address = std::env::var("LATCHKEY_DEV_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let web_dir = std::env::var("LATCHKEY_WEB_DIR").unwrap_or_else(|_| "web".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    let port = listener.local_addr()?.port();
    println!(
        "Latchkey dev server: http://localhost:{port}/ (API under /v1, web page from {web_dir})"
    );
    let router = dev_server::router(app, web_dir.into());
    dev_server::serve_on(listener, router, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
