//! Login pushes as the server signs them (docs/openapi.yaml, `PushMessage`), read with
//! the wire crate (`latchkey_wire`, the server's own types) and then checked for this
//! device.
//!
//! Everything in a push is trusted only after the server's Ed25519 signature over the
//! exact payload bytes checks out; SNS' own signature says nothing about who published
//! to the topic. The order of checks matters: nothing inside the payload is parsed
//! before the signature verifies.

use latchkey_wire::{Payload, PayloadError, SignedEnvelope};
use reqwest::Url;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::crypto::verify_server_signature;
use crate::uri::check_transport;

/// A login push whose signature, version, device and expiry have been checked.
#[derive(Clone)]
pub struct LoginPush {
    pub push_id: String,
    /// Never displayed or logged: it only goes into the answer signature.
    pub challenge: String,
    pub device_id: String,
    pub username: String,
    pub issuer: String,
    pub ip: String,
    pub user_agent: String,
    pub created_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    pub respond_url: Url,
}

impl std::fmt::Debug for LoginPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginPush")
            .field("push_id", &self.push_id)
            .field("device_id", &self.device_id)
            .field("username", &self.username)
            .field("issuer", &self.issuer)
            .field("ip", &self.ip)
            .field("user_agent", &self.user_agent)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a push was dropped. The text goes to logs, so it names no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DropReason {
    #[error("message is not a signed push envelope")]
    NotAnEnvelope,
    #[error("server signature does not verify")]
    BadSignature,
    #[error("payload is malformed: {0}")]
    Malformed(String),
    #[error("unsupported payload version {0}")]
    UnsupportedVersion(String),
    #[error("unsupported push type {0:?}")]
    UnsupportedType(String),
    #[error("push is for another device")]
    ForeignDevice,
    #[error("push expired at {0}")]
    Expired(String),
    #[error("respond_url or report_url is not usable: {0}")]
    BadRespondUrl(String),
}

impl From<PayloadError> for DropReason {
    fn from(error: PayloadError) -> Self {
        match error {
            PayloadError::NotAnEnvelope => DropReason::NotAnEnvelope,
            PayloadError::Malformed(why) => DropReason::Malformed(why),
            PayloadError::UnsupportedVersion(v) => DropReason::UnsupportedVersion(v),
            PayloadError::UnsupportedType(kind) => DropReason::UnsupportedType(kind),
        }
    }
}

/// A security notice whose signature, version, device and expiry have been checked:
/// something changed on the account, and the user may report it ("this wasn't me").
#[derive(Debug, Clone)]
pub struct Notice {
    /// The notice as the server signed it.
    pub signed: latchkey_wire::Notice,
    pub created_at: Option<OffsetDateTime>,
    /// Until when it may be reported.
    pub expires_at: OffsetDateTime,
    pub report_url: Url,
}

/// A checked message: a login push to answer, or a notice to show.
#[derive(Debug, Clone)]
pub enum Message {
    Login(LoginPush),
    Notice(Notice),
}

/// Checks a push `Message` (the SNS Message field, as text) for this device at `now`.
pub fn verify(
    message: &str,
    server_key: &[u8],
    device_id: &str,
    now: OffsetDateTime,
) -> Result<Message, DropReason> {
    let signed = SignedEnvelope::parse(message)?;
    if !verify_server_signature(server_key, signed.payload.as_bytes(), &signed.signature) {
        return Err(DropReason::BadSignature);
    }
    match Payload::parse(&signed.payload)? {
        Payload::Login(push) => login(push, device_id, now).map(Message::Login),
        Payload::Notice(notice) => self::notice(notice, device_id, now).map(Message::Notice),
    }
}

/// The device, expiry and answer URL checks every message type shares.
fn checked(
    for_device: &str,
    device_id: &str,
    expires_at: &str,
    url: &str,
    now: OffsetDateTime,
) -> Result<(OffsetDateTime, Url), DropReason> {
    if for_device != device_id {
        return Err(DropReason::ForeignDevice);
    }
    let expires = OffsetDateTime::parse(expires_at, &Rfc3339)
        .map_err(|_| DropReason::Malformed("expires_at is not RFC 3339".to_owned()))?;
    if now >= expires {
        return Err(DropReason::Expired(expires_at.to_owned()));
    }
    let url =
        Url::parse(url).map_err(|_| DropReason::BadRespondUrl("not an absolute URL".to_owned()))?;
    check_transport(&url).map_err(DropReason::BadRespondUrl)?;
    Ok((expires, url))
}

fn login(
    raw: latchkey_wire::LoginPush,
    device_id: &str,
    now: OffsetDateTime,
) -> Result<LoginPush, DropReason> {
    let (expires_at, respond_url) = checked(
        &raw.device_id,
        device_id,
        &raw.expires_at,
        &raw.respond_url,
        now,
    )?;
    if raw.push_id.is_empty() || raw.challenge.is_empty() {
        return Err(DropReason::Malformed(
            "push_id or challenge is empty".to_owned(),
        ));
    }
    Ok(LoginPush {
        created_at: OffsetDateTime::parse(&raw.created_at, &Rfc3339).ok(),
        push_id: raw.push_id,
        challenge: raw.challenge,
        device_id: raw.device_id,
        username: raw.username,
        issuer: raw.issuer,
        ip: raw.ip,
        user_agent: raw.user_agent,
        expires_at,
        respond_url,
    })
}

fn notice(
    raw: latchkey_wire::Notice,
    device_id: &str,
    now: OffsetDateTime,
) -> Result<Notice, DropReason> {
    let (expires_at, report_url) = checked(
        &raw.device_id,
        device_id,
        &raw.expires_at,
        &raw.report_url,
        now,
    )?;
    if raw.notice_id.is_empty() {
        return Err(DropReason::Malformed("notice_id is empty".to_owned()));
    }
    Ok(Notice {
        created_at: OffsetDateTime::parse(&raw.created_at, &Rfc3339).ok(),
        signed: raw,
        expires_at,
        report_url,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::b64url;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};
    use time::macros::datetime;

    pub(crate) fn server_key() -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[42u8; 32]).unwrap()
    }

    pub(crate) fn payload_json(device_id: &str, expires_at: &str) -> serde_json::Value {
        serde_json::json!({
            "v": 1, "type": "login", "push_id": "push_1",
            "challenge": b64url(&[9u8; 32]), "device_id": device_id,
            "username": "alice", "issuer": "Latchkey", "ip": "203.0.113.9",
            "user_agent": "Firefox/140", "created_at": "2026-11-28T10:00:00Z",
            "expires_at": expires_at, "respond_url": "http://localhost:8080/v1/push/respond"
        })
    }

    pub(crate) fn sign_message(key: &Ed25519KeyPair, payload: &str) -> String {
        SignedEnvelope::new(payload.to_owned(), key.sign(payload.as_bytes()).as_ref())
            .to_json()
            .unwrap()
    }

    fn as_login(message: Message) -> LoginPush {
        match message {
            Message::Login(push) => push,
            other => panic!("not a login push: {other:?}"),
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-11-28 10:00:30 UTC);

    #[test]
    fn accepts_a_good_push() {
        let key = server_key();
        let payload = payload_json("dev_1", "2026-11-28T10:02:00Z").to_string();
        let push = as_login(
            verify(
                &sign_message(&key, &payload),
                key.public_key().as_ref(),
                "dev_1",
                NOW,
            )
            .unwrap(),
        );
        assert_eq!(push.push_id, "push_1");
        assert_eq!(push.username, "alice");
        assert_eq!(push.expires_at, datetime!(2026-11-28 10:02:00 UTC));
        assert!(!format!("{push:?}").contains(&push.challenge));
    }

    #[test]
    fn reads_what_the_server_builds_pushes_and_notices() {
        let key = server_key();
        let pk = key.public_key().as_ref().to_vec();
        let built = latchkey_wire::LoginPush {
            push_id: "push_2".to_owned(),
            challenge: b64url(&[9u8; 32]),
            device_id: "dev_1".to_owned(),
            username: "alice".to_owned(),
            issuer: "Latchkey".to_owned(),
            ip: "203.0.113.9".to_owned(),
            user_agent: "Firefox/140".to_owned(),
            created_at: "2026-11-28T10:00:00Z".to_owned(),
            expires_at: "2026-11-28T10:02:00Z".to_owned(),
            respond_url: "https://mfa.example.com/v1/push/respond".to_owned(),
        };
        let push = as_login(
            verify(
                &sign_message(&key, &built.to_json().unwrap()),
                &pk,
                "dev_1",
                NOW,
            )
            .unwrap(),
        );
        assert_eq!(push.push_id, built.push_id);
        assert_eq!(push.challenge, built.challenge);
        assert_eq!(push.created_at, Some(datetime!(2026-11-28 10:00:00 UTC)));
        assert_eq!(
            push.respond_url.as_str(),
            "https://mfa.example.com/v1/push/respond"
        );

        let notice = latchkey_wire::Notice {
            notice_id: "ntc_1".to_owned(),
            device_id: "dev_1".to_owned(),
            username: "alice".to_owned(),
            issuer: "Latchkey".to_owned(),
            event: "device_added".to_owned(),
            device_name: None,
            ip: Some("203.0.113.9".to_owned()),
            user_agent: None,
            created_at: "2026-11-28T10:00:00Z".to_owned(),
            expires_at: "2026-12-05T10:00:00Z".to_owned(),
            report_url: "https://mfa.example.com/v1/push/report".to_owned(),
        };
        let signed = sign_message(&key, &notice.to_json().unwrap());
        let Message::Notice(read) = verify(&signed, &pk, "dev_1", NOW).unwrap() else {
            panic!("a notice reads as a notice");
        };
        assert_eq!(read.signed, notice);
        assert_eq!(read.expires_at, datetime!(2026-12-05 10:00:00 UTC));
        // For another device, or past its seven days: dropped.
        assert_eq!(
            verify(&signed, &pk, "dev_2", NOW).unwrap_err(),
            DropReason::ForeignDevice
        );
        assert!(matches!(
            verify(&signed, &pk, "dev_1", datetime!(2026-12-05 10:00:00 UTC)),
            Err(DropReason::Expired(_))
        ));
    }

    #[test]
    fn drops_bad_pushes() {
        let key = server_key();
        let pk = key.public_key().as_ref().to_vec();
        let good = payload_json("dev_1", "2026-11-28T10:02:00Z").to_string();

        // Tampered: signature over the original, payload changed afterwards.
        let mut tampered: serde_json::Value =
            serde_json::from_str(&sign_message(&key, &good)).unwrap();
        tampered["payload"] = good.replace("203.0.113.9", "198.51.100.1").into();
        assert_eq!(
            verify(&tampered.to_string(), &pk, "dev_1", NOW).unwrap_err(),
            DropReason::BadSignature
        );

        // Signed by someone else.
        let other = Ed25519KeyPair::from_seed_unchecked(&[1u8; 32]).unwrap();
        assert_eq!(
            verify(&sign_message(&other, &good), &pk, "dev_1", NOW).unwrap_err(),
            DropReason::BadSignature
        );

        // Expired (exactly at expiry counts as expired).
        let expired = payload_json("dev_1", "2026-11-28T10:00:30Z").to_string();
        assert!(matches!(
            verify(&sign_message(&key, &expired), &pk, "dev_1", NOW),
            Err(DropReason::Expired(_))
        ));

        // For another device.
        assert_eq!(
            verify(&sign_message(&key, &good), &pk, "dev_2", NOW).unwrap_err(),
            DropReason::ForeignDevice
        );

        // Wrong version, wrong type, missing field.
        let mut v2 = payload_json("dev_1", "2026-11-28T10:02:00Z");
        v2["v"] = 2.into();
        assert!(matches!(
            verify(&sign_message(&key, &v2.to_string()), &pk, "dev_1", NOW),
            Err(DropReason::UnsupportedVersion(_))
        ));
        let mut enroll = payload_json("dev_1", "2026-11-28T10:02:00Z");
        enroll["type"] = "other".into();
        assert!(matches!(
            verify(&sign_message(&key, &enroll.to_string()), &pk, "dev_1", NOW),
            Err(DropReason::UnsupportedType(_))
        ));
        let mut missing = payload_json("dev_1", "2026-11-28T10:02:00Z");
        missing.as_object_mut().unwrap().remove("challenge");
        assert!(matches!(
            verify(&sign_message(&key, &missing.to_string()), &pk, "dev_1", NOW),
            Err(DropReason::Malformed(_))
        ));

        // Plain http answers to a remote host.
        let mut remote = payload_json("dev_1", "2026-11-28T10:02:00Z");
        remote["respond_url"] = "http://evil.example/v1/push/respond".into();
        assert!(matches!(
            verify(&sign_message(&key, &remote.to_string()), &pk, "dev_1", NOW),
            Err(DropReason::BadRespondUrl(_))
        ));

        assert_eq!(
            verify("not json", &pk, "dev_1", NOW).unwrap_err(),
            DropReason::NotAnEnvelope
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::sample::Index;

        /// A bit of `bytes` flipped, or `bytes` cut short; `None` when there is nothing
        /// to change.
        fn changed(mut bytes: Vec<u8>, flip: bool, at: Index) -> Option<Vec<u8>> {
            if bytes.is_empty() {
                return None;
            }
            if flip {
                let bit = at.index(bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            } else {
                bytes.truncate(at.index(bytes.len()));
            }
            Some(bytes)
        }

        /// A payload as the server would send it, or any text at all: the signature
        /// covers bytes, whatever they say.
        fn any_payload() -> impl Strategy<Value = String> {
            let push = (proptest::collection::vec(any::<String>(), 3), 0i64..100_000).prop_map(
                |(s, secs)| {
                    let mut v = payload_json(&s[0], "2026-11-28T10:02:00Z");
                    v["push_id"] = s[1].clone().into();
                    v["username"] = s[2].clone().into();
                    v["ip"] = secs.to_string().into();
                    v.to_string()
                },
            );
            prop_oneof![push, any::<String>()]
        }

        proptest! {
            #![proptest_config(crate::cases(256))]

            /// The server's Ed25519 signature verifies over exactly the bytes it signed:
            /// a bit flipped or a byte cut from either the payload or the signature, or
            /// another key, and it does not.
            #[test]
            fn a_signed_payload_verifies_and_any_change_to_it_fails(
                payload in any_payload(),
                in_payload in any::<bool>(),
                flip in any::<bool>(),
                at in any::<Index>(),
            ) {
                let key = server_key();
                let pk = key.public_key().as_ref().to_vec();
                let signature = key.sign(payload.as_bytes()).as_ref().to_vec();
                prop_assert!(verify_server_signature(&pk, payload.as_bytes(), &b64url(&signature)));
                let other = Ed25519KeyPair::from_seed_unchecked(&[1u8; 32]).unwrap();
                prop_assert!(!verify_server_signature(other.public_key().as_ref(), payload.as_bytes(), &b64url(&signature)));
                if in_payload {
                    if let Some(bytes) = changed(payload.into_bytes(), flip, at) {
                        prop_assert!(!verify_server_signature(&pk, &bytes, &b64url(&signature)));
                    }
                } else if let Some(bytes) = changed(signature, flip, at) {
                    prop_assert!(!verify_server_signature(&pk, payload.as_bytes(), &b64url(&bytes)));
                }
            }

            /// Through the agent's whole check of a message: a payload changed after it
            /// was signed is dropped for its signature, before anything in it is read.
            #[test]
            fn a_changed_payload_is_dropped_for_its_signature(
                payload in any_payload(),
                at in any::<Index>(),
                replacement in any::<char>(),
                cut in any::<bool>(),
            ) {
                let key = server_key();
                let mut envelope: serde_json::Value =
                    serde_json::from_str(&sign_message(&key, &payload)).unwrap();
                let mut chars: Vec<char> = payload.chars().collect();
                prop_assume!(!chars.is_empty());
                let i = at.index(chars.len());
                if cut {
                    chars.truncate(i);
                } else {
                    prop_assume!(chars[i] != replacement);
                    chars[i] = replacement;
                }
                envelope["payload"] = chars.into_iter().collect::<String>().into();
                let pk = key.public_key().as_ref().to_vec();
                prop_assert_eq!(
                    verify(&envelope.to_string(), &pk, "dev_1", NOW).unwrap_err(),
                    DropReason::BadSignature
                );
            }

            /// Whatever the message, the agent's check ends in a push or a drop; a
            /// correctly signed payload of any content is judged on its content.
            #[test]
            fn any_message_is_read_or_dropped(
                text in any_payload(),
                signed in any::<bool>(),
            ) {
                let key = server_key();
                let pk = key.public_key().as_ref().to_vec();
                let message = if signed { sign_message(&key, &text) } else { text };
                let result = verify(&message, &pk, "dev_1", NOW);
                if !signed {
                    prop_assert!(result.is_err());
                }
                prop_assert!(!matches!(result, Err(DropReason::BadSignature)) || !signed);
            }
        }
    }
}
