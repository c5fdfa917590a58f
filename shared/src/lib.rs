//! Latchkey core: the account-security service behind an "Authentication settings" page.
//!
//! Layers, outermost first:
//! - [`routes`]: the one route table and the dispatcher every entry point (Lambda function,
//!   dev server, tests) goes through; it authenticates, enforces the policy table
//!   ([`policy`]: scope and re-authentication), and then calls an operation.
//! - [`http`]: request parsing and the single place where [`Error`] becomes an HTTP answer.
//! - [`ops`]: one module per API area; each operation reads, applies domain rules, and writes
//!   everything it changes in one conditional store call.
//! - [`domain`]: pure rules (validation, lockout, recovery codes, TOTP); time and randomness
//!   come in as arguments.
//! - ports [`store::Store`] and [`notify::Notifier`] with their DynamoDB and SNS adapters.

pub mod answers;
pub mod app;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod endpoints;
pub mod enrollment;
pub mod error;
pub mod http;
pub mod keys;
pub mod notice;
pub mod notify;
pub mod operation;
pub mod ops;
pub mod password;
pub mod policy;
pub mod random;
pub mod records;
pub mod routes;
pub mod schema;
pub mod second_factor;
pub mod source;
pub mod store;
pub mod stream;
pub mod telemetry;
pub mod txn;

pub use app::App;
pub use config::Config;
pub use error::Error;
pub use routes::{handle, Endpoint, Operation, Route, ROUTES};
