//! Integration and end-to-end tests: one binary. Every test starts the real dev server
//! in-process on a free port, over a fresh table and topic in moto (DynamoDB and SNS
//! through the real AWS SDK), with a clock the test controls.
//!
//! Needs `LATCHKEY_TEST_AWS_ENDPOINT` (moto's URL); `./scripts/test` starts moto and sets it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod account_security;
mod accounts;
mod admin;
mod fixtures;
mod functions;
mod lambda_path;
mod lockout;
pub(crate) mod machines;
mod notices;
mod openapi;
mod properties;
mod push;
mod races;
mod round_trips;
mod route_table;
mod sessions;
mod settings;
mod setup_sessions;
mod sudo;
mod support;
mod webauthn;
