//! The Latchkey push wire protocol, the one copy both ends use: the server
//! (`latchkey`, `ops::push`) builds and signs what is here, `push-agent` parses and
//! answers it (docs/openapi.yaml, the push operations and schemas; overview in
//! docs/design.md, "Push protocol").
//!
//! - [`RegistrationUri`]: the `latchkey-push://enroll?...` URI shown as a QR code.
//! - [`enroll_message`], [`answer_message`], [`notice_report_message`]: the exact strings
//!   a device signs with its P-256 key.
//! - [`SignedEnvelope`]: the SNS `Message`, `{"payload", "signature"}`, the signature
//!   being the server's Ed25519 one over the payload bytes.
//! - [`Payload`]: what an envelope carries, a [`LoginPush`] or a security [`Notice`].
//!
//! Everything here is byte-exact contract: a change breaks every enrolled device. The
//! crate holds no keys and does no cryptography; signing and verifying stay with the
//! holders of the keys.

pub mod base64url;
pub mod message;
pub mod payload;
pub mod uri;

pub use message::{
    answer_message, enroll_message, notice_report_message, Decision, ANSWER_CONTEXT,
    ENROLL_CONTEXT, NOTICE_REPORT_CONTEXT,
};
pub use payload::{
    LoginPush, Notice, NoticeReportRequest, Payload, PayloadError, SignedEnvelope, LOGIN_TYPE,
    NOTICE_LIFETIME_SECS, NOTICE_TYPE, PAYLOAD_VERSION,
};
pub use uri::{RegistrationUri, Secret, UriError, SCHEME};

/// The property tests' case counts: bounded so CI stays fast, `PROPTEST_CASES` raises
/// them for a longer local run.
#[cfg(test)]
fn cases(n: u32) -> proptest::test_runner::Config {
    let n = std::env::var("PROPTEST_CASES").map_or(n, |v| v.parse().unwrap_or(n));
    proptest::test_runner::Config::with_cases(n)
}
