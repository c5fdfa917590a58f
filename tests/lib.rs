//! Shared support for the integration tests lives in `integration/support.rs`; this
//! library target exists only so the package has one.
