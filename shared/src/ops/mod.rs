//! Operations, one module per API area. Each reads what it needs, applies domain rules,
//! and commits every change (records, one-time items spent, events) in one store call,
//! through the layers below: [`crate::auth`] (sessions), [`crate::txn`] (conditional
//! writes and retries), [`crate::second_factor`], [`crate::enrollment`], [`crate::audit`].
//! Operations never call one another.

pub mod accounts;
pub mod admin;
pub mod events;
pub mod login;
pub mod mfa;
pub mod push;
pub mod session;
pub mod sudo;
pub mod totp;
pub mod webauthn;
