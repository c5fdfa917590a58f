//! The state machines, fast: login, the lock, registration, WebAuthn, push and sessions,
//! in process on the memory store with a manual clock. No moto, no server, no sockets:
//! each request is an `http::Request` built here and handed to `latchkey::handle`, the
//! dispatcher every entry point goes through, exactly as a Lambda function would.
//!
//! Races are not left to chance. [`interleaving::Interleaving`] wraps the memory store
//! and, once a test arms it with a [`interleaving::Plan`], holds the reads that matter
//! until every contender has made its own (so all of them judge the same state), and may
//! hold chosen writes until others have landed. Time moves only when a test moves the
//! clock, so every boundary (5 min, 10 min, 12 h, 120 s, 15 min) is hit to the second.
//!
//! The moto tests keep what only they can show: the DynamoDB and SNS adapters, the real
//! push-agent, and one walk through every route (`round_trips.rs`, `functions.rs`).
//!
//! Run alone with `cargo test -p latchkey-tests --test integration machines::`. The fault
//! injection walk (`faults.rs`, with the port wrappers of `injection.rs`) is here too.

pub(crate) mod harness;
mod injection;
mod interleaving;

mod faults;
mod lockout;
mod login;
pub(crate) mod notices;
mod origin;
mod passkey;
mod password;
mod push;
mod registration;
mod sessions;
pub(crate) mod webauthn;
