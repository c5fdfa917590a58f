//! The local dev server: `LATCHKEY_DEV_ADDR` (default 127.0.0.1:8080), web page from
//! `LATCHKEY_WEB_DIR` (default `web`), everything else as the functions read it.

use latchkey::App;
use latchkey_functions::dev_server;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    latchkey::telemetry::init();
    let app = Arc::new(App::from_env().await?);
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
