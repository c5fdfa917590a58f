//! Latchkey push agent: the "phone app" of push authentication, as a CLI.
//!
//! It enrolls a P-256 device key with a Latchkey server from a
//! `latchkey-push://enroll?...` URI, receives login pushes as SNS HTTP deliveries,
//! checks them (SNS signature, then the server's Ed25519 signature, device, version,
//! expiry), shows them on the terminal or to scripts over a loopback control channel,
//! and sends answers signed with the device key. See README.md for the commands and
//! [`agent`] for the life of a delivery.

pub mod agent;
pub mod cli;
pub mod clock;
pub mod control;
pub mod crypto;
pub mod enroll;
pub mod error;
pub mod payload;
pub mod prompt;
pub mod server;
pub mod sns;
pub mod state;
pub mod uri;

pub use error::{Error, Result};

/// The property tests' case counts: bounded so CI stays fast, `PROPTEST_CASES` raises
/// them for a longer local run.
#[cfg(test)]
fn cases(n: u32) -> proptest::test_runner::Config {
    let n = std::env::var("PROPTEST_CASES").map_or(n, |v| v.parse().unwrap_or(n));
    proptest::test_runner::Config::with_cases(n)
}
