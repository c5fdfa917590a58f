//! The registration URI, shown as a QR code when a push device is added:
//!
//! ```text
//! latchkey-push://enroll?api=<API base URL>&rid=<registration id>&secret=<one-time secret>
//!                       &user=<username>&issuer=<issuer>&server_key=<Ed25519 public key>
//! ```
//!
//! The secret and the server key are base64url; every value is percent-encoded (RFC 3986:
//! all but the unreserved characters, so no `+` for a space), which any URI parser reads
//! back unchanged. [`RegistrationUri::parse`] reads the query as a form would, `+` as a
//! space included, so a hand-written URI works too.

use std::borrow::Cow;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::base64url;

/// The URI scheme.
pub const SCHEME: &str = "latchkey-push";
/// The longest value [`RegistrationUri::parse`] accepts, in bytes.
const MAX_FIELD: usize = 512;
/// RFC 3986 unreserved characters stay, everything else is encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The one-time enrollment secret (base64url). Debug is redacted; it is only ever sent
/// to the enrollment endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A `latchkey-push://enroll?...` URI. Debug redacts the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationUri {
    /// Base URL of the API (no `/v1`), as written. Whether it is a usable URL is for
    /// the device to judge: this crate does not parse URLs.
    pub api: String,
    pub registration_id: String,
    pub secret: Secret,
    pub username: String,
    pub issuer: String,
    /// The server's Ed25519 public key, which signs every push.
    pub server_key: [u8; 32],
}

/// Why a registration URI was refused. The text names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UriError(String);

impl UriError {
    fn new(why: impl Into<String>) -> Self {
        UriError(why.into())
    }
}

impl RegistrationUri {
    /// The URI text. It carries the secret: hand it only to the user it is for.
    pub fn to_uri(&self) -> String {
        let server_key = base64url::encode(&self.server_key);
        let pairs = [
            ("api", self.api.as_str()),
            ("rid", self.registration_id.as_str()),
            ("secret", self.secret.expose()),
            ("user", self.username.as_str()),
            ("issuer", self.issuer.as_str()),
            ("server_key", server_key.as_str()),
        ];
        let mut uri = format!("{SCHEME}://enroll");
        for (i, (key, value)) in pairs.into_iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(key);
            uri.push('=');
            uri.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        uri
    }

    /// Reads a registration URI. Every field must be present once (two values for one
    /// field would make a device sign one thing and show another), non-empty, at most
    /// 512 bytes and free of control characters; the secret must be base64url and the
    /// server key 32 bytes of it. Parameters this version does not know are ignored.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        // As a URL parser would: surrounding blanks go, and so do tabs and line breaks
        // anywhere (a URI wrapped when pasted); encoded ones stay and are refused below.
        let text: String = text
            .trim()
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        let (scheme, rest) = text
            .split_once(':')
            .ok_or_else(|| UriError::new("not a URI"))?;
        if !scheme.eq_ignore_ascii_case(SCHEME) {
            return Err(UriError::new(format!("scheme must be {SCHEME}")));
        }
        let not_enroll = || UriError::new(format!("must start with {SCHEME}://enroll?"));
        let rest = rest.strip_prefix("//").ok_or_else(not_enroll)?;
        // The fragment is no part of the query.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (target, query) = rest.split_once('?').unwrap_or((rest, ""));
        // Also refuses a port or credentials ("enroll:1", "u@enroll").
        if !matches!(target, "enroll" | "enroll/") {
            return Err(not_enroll());
        }

        let (mut api, mut rid, mut secret, mut user, mut issuer, mut server_key) =
            (None, None, None, None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(key) = form_decode(key) else {
                continue;
            };
            let slot = match key.as_ref() {
                "api" => &mut api,
                "rid" => &mut rid,
                "secret" => &mut secret,
                "user" => &mut user,
                "issuer" => &mut issuer,
                "server_key" => &mut server_key,
                // Later versions may add parameters; the ones we know are all we need.
                _ => continue,
            };
            let value = form_decode(value)
                .ok_or_else(|| UriError::new(format!("{key} is not UTF-8")))?
                .into_owned();
            if slot.replace(value).is_some() {
                return Err(UriError::new(format!("{key} appears more than once")));
            }
        }
        let field = |name: &str, value: Option<String>| -> Result<String, UriError> {
            let value = value.ok_or_else(|| UriError::new(format!("{name} is missing")))?;
            if value.is_empty() {
                return Err(UriError::new(format!("{name} is empty")));
            }
            if value.len() > MAX_FIELD {
                return Err(UriError::new(format!("{name} is too long")));
            }
            if value.chars().any(char::is_control) {
                return Err(UriError::new(format!("{name} contains control characters")));
            }
            Ok(value)
        };

        let api = field("api", api)?;
        let registration_id = field("rid", rid)?;
        let secret = field("secret", secret)?;
        if base64url::decode(&secret).is_none_or(|b| b.is_empty()) {
            return Err(UriError::new("secret is not base64url"));
        }
        let username = field("user", user)?;
        let issuer = field("issuer", issuer)?;
        let server_key: [u8; 32] = base64url::decode(&field("server_key", server_key)?)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| UriError::new("server_key is not a base64url Ed25519 public key"))?;

        Ok(RegistrationUri {
            api,
            registration_id,
            secret: Secret(secret),
            username,
            issuer,
            server_key,
        })
    }
}

/// `application/x-www-form-urlencoded` decoding of one name or value: `+` is a space,
/// then percent-decoding; `None` when the result is not UTF-8.
fn form_decode(text: &str) -> Option<Cow<'_, str>> {
    if text.contains('+') {
        let spaced = text.replace('+', " ");
        let decoded = percent_decode_str(&spaced).decode_utf8().ok()?;
        Some(Cow::Owned(decoded.into_owned()))
    } else {
        percent_decode_str(text).decode_utf8().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RegistrationUri {
        RegistrationUri {
            api: "http://localhost:8080".to_owned(),
            registration_id: "reg_01".to_owned(),
            secret: Secret::new("c2VjcmV0LXNlY3JldA"),
            username: "alice".to_owned(),
            issuer: "Latchkey Dev".to_owned(),
            server_key: [7u8; 32],
        }
    }

    fn key() -> String {
        base64url::encode(&[7u8; 32])
    }

    #[test]
    fn builds_the_exact_uri() {
        assert_eq!(
            sample().to_uri(),
            format!(
                "latchkey-push://enroll?api=http%3A%2F%2Flocalhost%3A8080&rid=reg_01&secret=c2VjcmV0LXNlY3JldA&user=alice&issuer=Latchkey%20Dev&server_key={}",
                key()
            )
        );
    }

    #[test]
    fn values_are_percent_encoded_per_rfc_3986() {
        let encode = |s: &str| utf8_percent_encode(s, QUERY_VALUE).to_string();
        assert_eq!(encode("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(
            encode("http://localhost:8080"),
            "http%3A%2F%2Flocalhost%3A8080"
        );
        assert_eq!(encode("Latchkey Dev"), "Latchkey%20Dev");
        assert_eq!(encode("a+b@c"), "a%2Bb%40c");
        assert_eq!(encode("zoë"), "zo%C3%AB");
    }

    #[test]
    fn round_trips() {
        let uri = sample();
        assert_eq!(RegistrationUri::parse(&uri.to_uri()).unwrap(), uri);
    }

    #[test]
    fn special_characters_in_user_and_issuer_round_trip() {
        let mut uri = sample();
        for (user, issuer) in [
            ("alice+tag@example.com", "ACME & Sons, Inc."),
            ("a=b&rid=evil", "50% off #1?"),
            ("zoë 東京", "Latchkey/Dev\\Ops ~ 'quoted' \"too\""),
            ("  spaced  ", "+"),
        ] {
            uri.username = user.to_owned();
            uri.issuer = issuer.to_owned();
            let text = uri.to_uri();
            assert!(!text.contains(' ') && !text.contains('+'), "{text}");
            assert_eq!(text.matches('&').count(), 5, "{text}");
            let back = RegistrationUri::parse(&text).unwrap();
            assert_eq!(back.username, user);
            assert_eq!(back.issuer, issuer);
            assert_eq!(back, uri);
        }
    }

    #[test]
    fn reads_hand_written_uris() {
        // Unencoded values, `+` for a space, padding, an unknown parameter, a fragment,
        // an upper-case scheme and a line break from pasting.
        let text = format!(
            "  LATCHKEY-PUSH://enroll/?api=https://api.example.com/prod&rid=r&secret=AAAA&user=u&issuer=Latchkey+Dev&later=1&server_key={}=#x\n",
            key()
        );
        let parsed = RegistrationUri::parse(&text).unwrap();
        assert_eq!(parsed.api, "https://api.example.com/prod");
        assert_eq!(parsed.issuer, "Latchkey Dev");
        assert_eq!(parsed.server_key, [7u8; 32]);
        let wrapped = sample().to_uri().replace("&user", "\n&user");
        assert_eq!(RegistrationUri::parse(&wrapped).unwrap(), sample());
    }

    #[test]
    fn refuses_malformed_uris() {
        let good = sample().to_uri();
        let cases = [
            ("not a uri", "not a URI".to_owned()),
            ("scheme", good.replace("latchkey-push://", "https://")),
            (
                "no slashes",
                good.replace("latchkey-push://", "latchkey-push:"),
            ),
            ("host", good.replace("//enroll?", "//register?")),
            ("port", good.replace("//enroll?", "//enroll:1?")),
            ("credentials", good.replace("//enroll?", "//u:p@enroll?")),
            ("path", good.replace("//enroll?", "//enroll/x?")),
            ("missing rid", good.replace("rid=reg_01&", "")),
            (
                "missing secret",
                good.replace("secret=c2VjcmV0LXNlY3JldA&", ""),
            ),
            ("empty user", good.replace("user=alice", "user=")),
            ("bare user", good.replace("user=alice", "user")),
            ("duplicate rid", format!("{good}&rid=other")),
            (
                "short key",
                good.replace(&key(), &base64url::encode(&[7u8; 31])),
            ),
            ("bad key", good.replace(&key(), "!!!")),
            (
                "bad secret",
                good.replace("c2VjcmV0LXNlY3JldA", "not/base64+"),
            ),
            (
                "control chars",
                good.replace("Latchkey%20Dev", "Latchkey%0ADev"),
            ),
            ("not utf-8", good.replace("user=alice", "user=%FF")),
            (
                "too long",
                good.replace("user=alice", &format!("user={}", "a".repeat(513))),
            ),
        ];
        for (name, text) in cases {
            assert!(
                RegistrationUri::parse(&text).is_err(),
                "{name} should be refused"
            );
        }
        let error = RegistrationUri::parse(&good.replace("secret=c2VjcmV0LXNlY3JldA", "secret=x!"))
            .unwrap_err()
            .to_string();
        assert_eq!(error, "secret is not base64url");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// A field value the format carries: 1 to 64 characters, none a control one.
        fn value() -> impl Strategy<Value = String> {
            proptest::string::string_regex("[^\\p{Cc}]{1,64}").unwrap()
        }

        fn any_uri() -> impl Strategy<Value = RegistrationUri> {
            let secret = proptest::collection::vec(any::<u8>(), 1..48);
            (
                value(),
                value(),
                secret,
                value(),
                value(),
                any::<[u8; 32]>(),
            )
                .prop_map(
                    |(api, registration_id, secret, username, issuer, server_key)| {
                        RegistrationUri {
                            api,
                            registration_id,
                            secret: Secret::new(base64url::encode(&secret)),
                            username,
                            issuer,
                            server_key,
                        }
                    },
                )
        }

        /// A well-formed URI with some characters changed, removed or added: text that
        /// gets past the first checks.
        fn near_miss() -> impl Strategy<Value = String> {
            let edit = (any::<proptest::sample::Index>(), 0u8..3, any::<char>());
            (any_uri(), proptest::collection::vec(edit, 1..4)).prop_map(|(uri, edits)| {
                let mut chars: Vec<char> = uri.to_uri().chars().collect();
                for (at, kind, c) in edits {
                    let i = at.index(chars.len());
                    match kind {
                        0 => chars[i] = c,
                        1 => {
                            chars.remove(i);
                        }
                        _ => chars.insert(i, c),
                    }
                }
                chars.into_iter().collect()
            })
        }

        proptest! {
            #![proptest_config(crate::cases(256))]

            #[test]
            fn a_formatted_uri_parses_back_to_itself(uri in any_uri()) {
                let text = uri.to_uri();
                prop_assert_eq!(RegistrationUri::parse(&text), Ok(uri));
            }

            /// Whatever the text, parsing ends in an answer, and what it accepts formats
            /// to a URI that reads back the same: a device never shows one thing and
            /// signs another.
            #[test]
            fn any_text_parses_to_nothing_or_to_what_it_formats(
                text in prop_oneof![any::<String>(), near_miss()],
            ) {
                if let Ok(uri) = RegistrationUri::parse(&text) {
                    let formatted = uri.to_uri();
                    prop_assert_eq!(RegistrationUri::parse(&formatted), Ok(uri));
                    let again = RegistrationUri::parse(&formatted).unwrap().to_uri();
                    prop_assert_eq!(again, formatted);
                }
            }
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let uri = sample();
        assert!(!format!("{uri:?}").contains(uri.secret.expose()));
    }
}
