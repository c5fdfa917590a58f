//! Security notices: which events a user's push device hears about, and the notice id.
//!
//! A notice is about one event item, and its id is that item's key written out:
//! `<base64url(username)>.<at>.<event id>`. The stream may deliver an event more than
//! once (a retried batch), and each delivery sends the same id, so a device tells
//! duplicates apart; and `POST /v1/push/report` reads the event, the profile and the
//! report mark by key from the id alone, without a scan or an index. The id names the
//! account, which the notice names anyway; it gives nothing without the device's key.

use crate::records::Event;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The event types a push device is told about.
pub const NOTICE_EVENTS: &[&str] = &[
    "device_added",
    "device_removed",
    "recovery_codes_generated",
    "recovery_code_used",
    "mfa_disabled",
    "password_changed",
];

pub use latchkey_wire::NOTICE_LIFETIME_SECS;

/// Whether events of type `kind` are noticed.
pub fn noticed(kind: &str) -> bool {
    NOTICE_EVENTS.contains(&kind)
}

/// The longest notice id accepted: a 64-character username, a time and an event id.
const MAX_NOTICE_ID: usize = 160;

/// An event item's key, as a notice id carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRef {
    pub username: String,
    pub at: i64,
    pub id: String,
}

impl NoticeRef {
    pub fn of(event: &Event) -> NoticeRef {
        NoticeRef {
            username: event.username.clone(),
            at: event.at,
            id: event.id.clone(),
        }
    }

    pub fn notice_id(&self) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(self.username.as_bytes()),
            self.at,
            self.id
        )
    }

    /// Reads a notice id; `None` for anything no event could have produced.
    pub fn parse(notice_id: &str) -> Option<NoticeRef> {
        if notice_id.len() > MAX_NOTICE_ID {
            return None;
        }
        let mut parts = notice_id.split('.');
        let (user, at, id) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let username = String::from_utf8(URL_SAFE_NO_PAD.decode(user).ok()?).ok()?;
        let canonical = crate::domain::validate::username(&username).ok()? == username;
        let at: i64 = at.parse().ok().filter(|at| *at >= 0)?;
        let id_ok = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (canonical && id_ok).then(|| NoticeRef {
            username,
            at,
            id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_id_is_the_event_key_written_out_and_read_back() {
        let reference = NoticeRef {
            username: "alice.b+1@example.com".to_owned(),
            at: 1_795_860_015_123,
            id: "Ab-_9xYz".to_owned(),
        };
        let id = reference.notice_id();
        assert_eq!(NoticeRef::parse(&id), Some(reference));
        for bad in [
            "",
            "YWxpY2U",
            "YWxpY2U.1",
            "YWxpY2U.1.x.y",
            "YWxpY2U.-1.x",
            "YWxpY2U.1.",
            "YWxpY2U.1.a#b",
            "QUxJQ0U.1.x", // "ALICE": never stored upper-cased
            "!!.1.x",
        ] {
            assert_eq!(NoticeRef::parse(bad), None, "{bad}");
        }
        assert_eq!(
            NoticeRef::parse(&format!("YWxpY2U.1.{}", "x".repeat(200))),
            None
        );
    }
}
