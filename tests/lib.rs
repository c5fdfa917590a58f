//! Shared support for the integration tests lives in `integration/support.rs`; this
//! library target exists only so the package has one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "openapi/mod.rs"]
pub mod openapi;
