//! The Lambda functions' shared `main`, and the local dev server: every route of the route
//! table over plain HTTP, calling the same [`latchkey::handle`] the functions call, plus the
//! web page as static files.

#[cfg(feature = "dev-server")]
pub mod dev_server;
pub mod lambda;
#[cfg(feature = "dev-server")]
pub mod stream_poller;
