//! Input rules of the API (docs/openapi.yaml): usernames, passwords, device names.

use crate::error::{Error, Result};

/// Lower-cases and checks a username: 3–64 characters of `a-z 0-9 . _ - @ +`.
pub fn username(raw: &str) -> Result<String> {
    let lowered = raw.to_lowercase();
    let count = lowered.chars().count();
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_@+".contains(c);
    if (3..=64).contains(&count) && lowered.chars().all(allowed) {
        Ok(lowered)
    } else {
        Err(Error::InvalidUsername)
    }
}

/// 8–256 characters and not the username (ignoring case).
pub fn new_password(password: &str, username: &str) -> Result<()> {
    let count = password.chars().count();
    if count < 8 {
        return Err(Error::WeakPassword(
            "the password must be at least 8 characters",
        ));
    }
    if count > 256 {
        return Err(Error::WeakPassword(
            "the password must be at most 256 characters",
        ));
    }
    if password.to_lowercase() == username.to_lowercase() {
        return Err(Error::WeakPassword("the password must not be the username"));
    }
    Ok(())
}

/// Ids handed out are 22 characters of base64url; anything longer than this cannot exist.
/// Keys built from ids must stay far below DynamoDB's key-size limits, where an oversized
/// key is a ValidationException (an outage-looking 503) rather than "not found".
pub const MAX_ID_LEN: usize = 128;

/// Whether `id` could be one handed out: callers answer "unknown" (404 / 401) for one that
/// cannot, without a read.
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN
}

/// A device name: 1–64 characters after trimming, no control characters.
pub fn device_name(raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > 64 {
        return Err(Error::invalid(
            "field `name` must be 1 to 64 characters after trimming",
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(
            "field `name` must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(
            username("Alice.B+1@Example.com").unwrap(),
            "alice.b+1@example.com"
        );
        assert_eq!(username("abc").unwrap(), "abc");
        assert!(username("ab").is_err());
        assert!(username(&"a".repeat(65)).is_err());
        assert!(username(&"a".repeat(64)).is_ok());
        for bad in ["a b c", "abc!", "ab:c", "ümlaut", "abc/"] {
            assert!(
                matches!(username(bad), Err(Error::InvalidUsername)),
                "{bad}"
            );
        }
    }

    #[test]
    fn passwords_need_8_to_256_chars_and_not_the_username() {
        assert!(new_password("12345678", "alice").is_ok());
        assert!(new_password("1234567", "alice").is_err());
        assert!(new_password(&"x".repeat(256), "alice").is_ok());
        assert!(new_password(&"x".repeat(257), "alice").is_err());
        assert!(new_password("Alice.Smith", "alice.smith").is_err());
        // characters, not bytes
        assert!(new_password("ééééééé", "alice").is_err());
        assert!(new_password("éééééééé", "alice").is_ok());
    }

    #[test]
    fn device_names_are_trimmed_and_bounded() {
        assert_eq!(device_name("  My key ").unwrap(), "My key");
        assert!(device_name("   ").is_err());
        assert!(device_name(&"k".repeat(65)).is_err());
        assert!(device_name(&"k".repeat(64)).is_ok());
        assert!(device_name("bad\u{7}name").is_err());
        assert!(device_name("tab\tname").is_err());
    }
}
