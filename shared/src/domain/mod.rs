//! Pure domain rules. Nothing here touches the store, the clock or the OS's randomness:
//! time and randomness arrive as arguments.

pub mod devices;
pub mod lockout;
pub mod recovery;
pub mod totp;
pub mod validate;

/// The property tests' case counts: bounded so CI stays fast, `PROPTEST_CASES` raises
/// them for a longer local run (docs/reliability.md, "Property tests").
#[cfg(test)]
pub(crate) fn cases(n: u32) -> proptest::test_runner::Config {
    let n = std::env::var("PROPTEST_CASES").map_or(n, |v| v.parse().unwrap_or(n));
    proptest::test_runner::Config::with_cases(n)
}

/// Sessions live 12 hours.
pub const SESSION_SECS: i64 = 12 * 3600;
/// A login between password and second factor lives 5 minutes...
pub const MFA_TOKEN_SECS: i64 = 5 * 60;
/// ...and dies after this many wrong second factors.
pub const MFA_TOKEN_MAX_FAILURES: u32 = 5;
/// A passkey sign-in's challenge lives 5 minutes, and answers one finish.
pub const PASSKEY_LOGIN_SECS: i64 = 5 * 60;
/// A pending device registration lives 10 minutes.
pub const REGISTRATION_SECS: i64 = 10 * 60;
/// How long a right password vouches for the session it came through (sudo).
pub const REAUTHENTICATION_SECS: i64 = 5 * 60;

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

/// Constant-time equality for secrets.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
