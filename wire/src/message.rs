//! The exact strings a push device signs (ECDSA P-256, SHA-256) and the server checks.
//! Each starts with its own context line, so a signature for one purpose is never valid
//! for another.

use serde::{Deserialize, Serialize};

/// First line of the enrollment signature.
pub const ENROLL_CONTEXT: &str = "latchkey-enroll-v1";
/// First line of the answer to a login push.
pub const ANSWER_CONTEXT: &str = "latchkey-push-v1";
/// First line of the report of a security notice ("this was not me").
pub const NOTICE_REPORT_CONTEXT: &str = "latchkey-notice-v1";

/// The answer a device gives to a login push, `"approve"` or `"deny"` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Deny => "deny",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `latchkey-enroll-v1\n{registration_id}\n{public_key}`, the public key as sent
/// (base64url of the uncompressed SEC1 point).
pub fn enroll_message(registration_id: &str, public_key_b64: &str) -> String {
    format!("{ENROLL_CONTEXT}\n{registration_id}\n{public_key_b64}")
}

/// `latchkey-push-v1\n{push_id}\n{challenge}\n{decision}\n{number or empty}`
pub fn answer_message(
    push_id: &str,
    challenge: &str,
    decision: Decision,
    number: Option<&str>,
) -> String {
    format!(
        "{ANSWER_CONTEXT}\n{push_id}\n{challenge}\n{decision}\n{}",
        number.unwrap_or("")
    )
}

/// `latchkey-notice-v1\n{notice_id}\n{device_id}`
pub fn notice_report_message(notice_id: &str, device_id: &str) -> String {
    format!("{NOTICE_REPORT_CONTEXT}\n{notice_id}\n{device_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enroll_message_is_exact() {
        assert_eq!(
            enroll_message("reg-123", "BPk3"),
            "latchkey-enroll-v1\nreg-123\nBPk3"
        );
    }

    #[test]
    fn answer_messages_are_exact() {
        assert_eq!(
            answer_message("p1", "Y2hhbGxlbmdl", Decision::Approve, Some("123456")),
            "latchkey-push-v1\np1\nY2hhbGxlbmdl\napprove\n123456"
        );
        assert_eq!(
            answer_message("p1", "Y2hhbGxlbmdl", Decision::Deny, None),
            "latchkey-push-v1\np1\nY2hhbGxlbmdl\ndeny\n"
        );
        // An empty number and no number sign the same string: the server reads an
        // absent `number` as empty.
        assert_eq!(
            answer_message("p1", "c", Decision::Approve, Some("")),
            answer_message("p1", "c", Decision::Approve, None)
        );
    }

    #[test]
    fn notice_report_message_is_exact() {
        assert_eq!(
            notice_report_message("ntc_1", "dev_1"),
            "latchkey-notice-v1\nntc_1\ndev_1"
        );
    }

    #[test]
    fn decisions_are_lowercase_words() {
        assert_eq!(
            serde_json::to_string(&Decision::Approve).unwrap(),
            "\"approve\""
        );
        assert_eq!(
            serde_json::from_str::<Decision>("\"deny\"").unwrap(),
            Decision::Deny
        );
        assert!(serde_json::from_str::<Decision>("\"Approve\"").is_err());
        assert_eq!(Decision::Deny.to_string(), "deny");
    }
}
