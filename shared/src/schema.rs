//! What the API's JSON looks like where a Rust type does not say it: the patterns of the
//! values the service reads and writes, and stand-ins for the types whose JSON another
//! crate defines (webauthn-rs's credentials and options). They exist for the generated
//! API reference, docs/openapi.yaml (`cargo run -p latchkey-tests --bin openapi`): the
//! request and answer types name them with `#[schema(value_type = ...)]`. Nothing here is
//! ever built, and no function binary reaches it.
//!
//! Every pattern is written for both regex dialects that read it, ECMA-262 (JSON Schema)
//! and Python's `re` (schemathesis, scripts/conformance): no `\p{..}`, no `\s` (the two
//! disagree on what is white space), code points as `\uXXXX`.
#![allow(dead_code)] // doc-only types: named by schema attributes, never constructed

use utoipa::ToSchema;

/// RFC 3339 in UTC, whole seconds (`2026-11-28T10:00:00Z`).
#[derive(ToSchema)]
#[schema(
    format = DateTime,
    pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
    example = "2026-11-28T10:00:00Z"
)]
pub struct Timestamp(String);

/// A 128-bit random id, base64url without padding, never starting with `-` (so a command
/// line cannot take one for an option).
#[derive(ToSchema)]
#[schema(
    pattern = "^[A-Za-z0-9_][A-Za-z0-9_-]{21}$",
    example = "3q2-7wAAAAAAAAAAAAAAAA"
)]
pub struct Id(String);

/// A 256-bit random token, base64url without padding; only its SHA-256 is stored.
#[derive(ToSchema)]
#[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
pub struct Token(String);

/// A session token: the account's username in base64url, a dot, then a 256-bit random
/// secret in base64url (only its SHA-256 is stored). Opaque to clients; the prefix lets
/// the server read session and account in one round trip.
#[derive(ToSchema)]
#[schema(pattern = "^[A-Za-z0-9_-]{4,86}\\.[A-Za-z0-9_-]{43}$")]
pub struct SessionToken(String);

/// A session's public id: 32 hex digits, a one-way function of the token's hash; not the
/// token, never usable as one.
#[derive(ToSchema)]
#[schema(pattern = "^[0-9a-f]{32}$")]
pub struct SessionId(String);

/// 1-64 characters after trimming surrounding white space, no control characters; else
/// `400 invalid_request`. Stored trimmed.
/// The pattern: white space around the name (Unicode White_Space, as Rust's `str::trim`),
/// then 1 to 64 characters, none a control character (U+0000-U+001F, U+007F-U+009F), the
/// first and last not white space.
#[derive(ToSchema)]
#[schema(
    pattern = "^[\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000](?:[^\\u0000-\\u001f\\u007f-\\u009f]{0,62}[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?[\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$",
    example = "Security key 1"
)]
pub struct DeviceName(String);

/// Canonical base64url, without padding or with the padding it would have (the last
/// character carries no stray bits): what webauthn-rs reads.
#[derive(ToSchema)]
#[schema(
    pattern = "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]={0,2}|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048]=?)?$"
)]
pub struct Base64Url(String);

/// A recovery code: 20 characters of Crockford's base32 alphabet in lower case (no `i`,
/// `l`, `o`, `u`; 100 bits), shown as four groups of five joined by hyphens.
#[derive(ToSchema)]
#[schema(
    pattern = "^[0-9a-hjkmnp-tv-z]{5}(-[0-9a-hjkmnp-tv-z]{5}){3}$",
    example = "ab0c1-defgh-jkmnp-qrstv"
)]
pub struct RecoveryCode(String);

/// An SVG document (`<?xml ...`) of a QR code, at least 200x200 px.
#[derive(ToSchema)]
pub struct QrSvg(String);

/// The kinds of device.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    Webauthn,
    Totp,
    Push,
}

/// A session's scope: `full`, or `setup` while MFA is on and no device is registered (it
/// may only reach the routes that register a first device).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Full,
    Setup,
}

/// A second factor the user can use now.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    Webauthn,
    Totp,
    Push,
    RecoveryCode,
}

/// What a device answered to a push; `denied` also for an approval with the wrong number.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    Approved,
    Denied,
}

/// `POST /v1/login`'s body: any strings. A username that cannot exist is looked up as an
/// unknown one (`401 invalid_credentials`), never `400`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Case is ignored.
    username: String,
    password: String,
}

// ------------------------------------------------------------------------------ WebAuthn

/// A `PublicKeyCredential` from `navigator.credentials.get()`, as JSON with base64url
/// binary fields (webauthn-rs's `PublicKeyCredential`). Members beyond these are ignored.
#[derive(ToSchema)]
pub struct AuthenticationCredential {
    id: String,
    #[schema(value_type = Base64Url)]
    #[serde(rename = "rawId")]
    raw_id: String,
    response: AssertionResponse,
    #[serde(rename = "type")]
    #[schema(example = "public-key")]
    kind: String,
    /// Not `null`: an object, or absent.
    #[serde(rename = "clientExtensionResults", default)]
    extensions: AuthenticationExtensions,
}

#[derive(ToSchema)]
pub struct AssertionResponse {
    #[schema(value_type = Base64Url)]
    #[serde(rename = "authenticatorData")]
    authenticator_data: String,
    #[schema(value_type = Base64Url)]
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    #[schema(value_type = Base64Url)]
    signature: String,
    /// When present and not empty it must be the user's handle, else the assertion is
    /// refused.
    #[schema(value_type = Option<Base64Url>)]
    #[serde(rename = "userHandle", default)]
    user_handle: Option<String>,
}

/// The client extension outputs webauthn-rs reads from an assertion.
#[derive(ToSchema)]
pub struct AuthenticationExtensions {
    #[serde(default)]
    appid: Option<bool>,
    #[serde(default)]
    hmac_get_secret: Option<HmacGetSecret>,
}

#[derive(ToSchema)]
pub struct HmacGetSecret {
    #[schema(value_type = Base64Url)]
    output1: String,
    #[schema(value_type = Option<Base64Url>)]
    #[serde(default)]
    output2: Option<String>,
}

/// A `PublicKeyCredential` from `navigator.credentials.create()`, as JSON with base64url
/// binary fields (webauthn-rs's `RegisterPublicKeyCredential`). Members beyond these are
/// ignored.
#[derive(ToSchema)]
pub struct RegistrationCredential {
    id: String,
    #[schema(value_type = Base64Url)]
    #[serde(rename = "rawId")]
    raw_id: String,
    response: AttestationResponse,
    #[serde(rename = "type")]
    #[schema(example = "public-key")]
    kind: String,
    /// Not `null`: an object, or absent.
    #[serde(rename = "clientExtensionResults", default)]
    extensions: RegistrationExtensions,
}

#[derive(ToSchema)]
pub struct AttestationResponse {
    #[schema(value_type = Base64Url)]
    #[serde(rename = "attestationObject")]
    attestation_object: String,
    #[schema(value_type = Base64Url)]
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    /// Transport names; ones webauthn-rs does not know are ignored.
    #[serde(default)]
    transports: Option<Vec<String>>,
}

/// The client extension outputs webauthn-rs reads from an attestation.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationExtensions {
    #[serde(default)]
    appid: Option<bool>,
    #[serde(default)]
    cred_props: Option<CredProps>,
    #[serde(default)]
    hmac_secret: Option<bool>,
    #[serde(default)]
    cred_protect: Option<CredProtect>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 4294967295_u64)]
    min_pin_length: Option<u32>,
}

#[derive(ToSchema)]
pub struct CredProps {
    #[serde(default)]
    rk: Option<bool>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum CredProtect {
    UserVerificationOptional,
    UserVerificationOptionalWithCredentialIDList,
    UserVerificationRequired,
}

/// `{"publicKey": ...}`: the options for `navigator.credentials.create()`.
#[derive(ToSchema)]
pub struct CreationOptions {
    #[serde(rename = "publicKey")]
    public_key: PublicKeyCredentialCreationOptionsJson,
}

/// `{"publicKey": ...}`: the options for `navigator.credentials.get()`.
#[derive(ToSchema)]
pub struct RequestOptions {
    #[serde(rename = "publicKey")]
    public_key: PublicKeyCredentialRequestOptionsJson,
}

/// WebAuthn Level 3 `PublicKeyCredentialCreationOptionsJSON` as webauthn-rs serialises it:
/// binary fields base64url. Members beyond those listed may appear.
#[derive(ToSchema)]
#[schema(as = PublicKeyCredentialCreationOptionsJSON)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyCredentialCreationOptionsJson {
    rp: RelyingParty,
    user: WebauthnUser,
    #[schema(value_type = Base64Url)]
    challenge: String,
    pub_key_cred_params: Vec<CredentialParameter>,
    #[serde(default)]
    timeout: Option<u32>,
    /// The user's registered credentials.
    #[serde(default)]
    exclude_credentials: Option<Vec<CredentialDescriptor>>,
    /// `userVerification: required`: the passkey ceremony, for security keys too.
    #[serde(default)]
    authenticator_selection: Option<serde_json::Value>,
    #[serde(default)]
    attestation: Option<String>,
    #[serde(default)]
    extensions: Option<serde_json::Value>,
}

/// WebAuthn Level 3 `PublicKeyCredentialRequestOptionsJSON` as webauthn-rs serialises it:
/// binary fields base64url. Members beyond those listed may appear.
#[derive(ToSchema)]
#[schema(as = PublicKeyCredentialRequestOptionsJSON)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyCredentialRequestOptionsJson {
    #[schema(value_type = Base64Url)]
    challenge: String,
    #[serde(default)]
    timeout: Option<u32>,
    #[serde(default)]
    rp_id: Option<String>,
    /// The user's registered credentials.
    #[serde(default)]
    allow_credentials: Option<Vec<CredentialDescriptor>>,
    /// Always `required`.
    #[serde(default)]
    user_verification: Option<String>,
    #[serde(default)]
    hints: Option<Vec<String>>,
    #[serde(default)]
    extensions: Option<serde_json::Value>,
}

#[derive(ToSchema)]
pub struct RelyingParty {
    id: String,
    name: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebauthnUser {
    #[schema(value_type = Base64Url)]
    id: String,
    name: String,
    display_name: String,
}

#[derive(ToSchema)]
pub struct CredentialParameter {
    #[serde(rename = "type")]
    kind: String,
    alg: i64,
}

#[derive(ToSchema)]
#[schema(as = PublicKeyCredentialDescriptorJSON)]
pub struct CredentialDescriptor {
    #[serde(rename = "type")]
    #[schema(example = "public-key")]
    kind: String,
    #[schema(value_type = Base64Url)]
    id: String,
    #[serde(default)]
    transports: Option<Vec<String>>,
}

/// A device's answer to a push.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushDecision {
    Approve,
    Deny,
}

/// `latchkey-push://enroll?api=<API base URL>&rid=<registration_id>&secret=<one-time
/// secret, base64url>&user=<username>&issuer=<issuer>&server_key=<server Ed25519 public
/// key, base64url>`
///
/// `api` is the base URL without `/v1`; the agent calls `<api>/v1/push/enroll`. The
/// parameters come in this order and every value is RFC 3986 percent-encoded (all but
/// `A-Z a-z 0-9 - . _ ~`; a space is `%20`, never `+`). The secret is 256-bit random; the
/// server keeps only its SHA-256. `server_key` is the raw 32-byte Ed25519 public key.
#[derive(ToSchema)]
#[schema(
    pattern = "^latchkey-push://enroll\\?api=[^&]+&rid=[^&]+&secret=[^&]+&user=[^&]+&issuer=[^&]+&server_key=[^&]+$",
    example = "latchkey-push://enroll?api=http%3A%2F%2Flocalhost%3A8080&rid=q1w2e3r4t5y6u7i8o9p0aa&secret=c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I&user=alice%40example.com&issuer=Latchkey&server_key=11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
)]
pub struct PushRegistrationUri(String);

#[cfg(test)]
mod tests {
    //! The patterns the reference states, against the rules the server applies: a client
    //! that follows the document is never refused, and what the document calls invalid is.
    use super::*;
    use crate::domain::validate;
    use utoipa::PartialSchema;

    fn pattern<T: PartialSchema>() -> regex_lite::Regex {
        let schema = serde_json::to_value(T::schema()).unwrap();
        regex_lite::Regex::new(schema["pattern"].as_str().unwrap()).unwrap()
    }

    /// Strings of the characters the rules treat specially, from a fixed seed.
    fn samples(alphabet: &[char], count: usize, max_len: usize) -> Vec<String> {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = (next() % (max_len as u64 + 1)) as usize;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_device_name_pattern_is_the_servers_rule() {
        let re = pattern::<DeviceName>();
        let tricky = [
            'a', 'Z', ' ', '\t', '\n', '\u{7}', '\u{1c}', '\u{7f}', '\u{85}', '\u{9f}', '\u{a0}',
            '\u{2003}', '\u{3000}', '\u{feff}', '\u{200b}', 'é',
        ];
        let mut cases = samples(&tricky, 4000, 8);
        cases.extend(samples(&['k', ' ', '\u{85}'], 300, 70));
        cases.extend([
            "k".repeat(64),
            "k".repeat(65),
            format!(" \t{}\u{3000}", "k".repeat(64)),
        ]);
        for name in cases {
            assert_eq!(
                re.is_match(&name),
                validate::device_name(&name).is_ok(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn the_username_pattern_is_the_servers_rule() {
        let schema = serde_json::to_value(crate::auth::Credentials::schema()).unwrap();
        let re = regex_lite::Regex::new(
            schema["properties"]["username"]["pattern"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let tricky = [
            'a', 'Q', '0', '.', '_', '-', '@', '+', ' ', '!', 'ü', '\u{212a}', 'İ',
        ];
        let mut cases = samples(&tricky, 3000, 6);
        cases.extend(samples(&['a', 'B'], 200, 70));
        for name in cases {
            assert_eq!(
                re.is_match(&name),
                validate::username(&name).is_ok(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn the_base64url_pattern_is_what_webauthn_rs_reads() {
        use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
        use base64::Engine as _;
        let lenient = GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let re = pattern::<Base64Url>();
        let alphabet = ['A', 'B', 'Q', 'g', 'w', 'E', 'z', '_', '-', '=', '+'];
        for text in samples(&alphabet, 6000, 10) {
            assert_eq!(
                re.is_match(&text),
                lenient.decode(&text).is_ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_public_key_pattern_takes_every_uncompressed_point_encoding() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        let schema = serde_json::to_value(crate::ops::push::EnrollRequest::schema()).unwrap();
        let re = regex_lite::Regex::new(
            schema["properties"]["public_key"]["pattern"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        for fill in [0u8, 0x0f, 0x10, 0x7f, 0xff] {
            let mut key = vec![fill; 65];
            key[0] = 4;
            assert!(re.is_match(&URL_SAFE_NO_PAD.encode(&key)), "{fill}");
            key[0] = 2;
            assert!(!re.is_match(&URL_SAFE_NO_PAD.encode(&key)), "{fill}");
            assert!(!re.is_match(&URL_SAFE_NO_PAD.encode(&key[..33])), "{fill}");
        }
    }

    mod properties {
        //! The same comparisons on generated text: any Unicode, not only the characters
        //! chosen above.
        use super::*;
        use base64::Engine as _;
        use proptest::prelude::*;

        fn property_pattern(
            schema: utoipa::openapi::RefOr<utoipa::openapi::Schema>,
            field: &str,
        ) -> regex_lite::Regex {
            let schema = serde_json::to_value(schema).unwrap();
            regex_lite::Regex::new(schema["properties"][field]["pattern"].as_str().unwrap())
                .unwrap()
        }

        proptest! {
            #![proptest_config(crate::domain::cases(256))]

            #[test]
            fn the_device_name_pattern_is_the_servers_rule_for_any_text(
                name in prop_oneof![any::<String>(), "\\s{0,3}[^\\p{Cc}]{0,66}\\s{0,3}"],
            ) {
                prop_assert_eq!(pattern::<DeviceName>().is_match(&name), validate::device_name(&name).is_ok(), "{:?}", name);
            }

            #[test]
            fn the_username_pattern_is_the_servers_rule_for_any_text(
                name in prop_oneof![any::<String>(), "[A-Za-z0-9._@+\\-\u{212a}\u{130}]{0,66}"],
            ) {
                let re = property_pattern(crate::auth::Credentials::schema(), "username");
                prop_assert_eq!(re.is_match(&name), validate::username(&name).is_ok(), "{:?}", name);
            }

            #[test]
            fn the_base64url_pattern_is_what_webauthn_rs_reads_for_any_text(
                text in prop_oneof![any::<String>(), "[A-Za-z0-9_=+/-]{0,16}"],
            ) {
                use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
                let lenient = GeneralPurpose::new(
                    &base64::alphabet::URL_SAFE,
                    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
                );
                prop_assert_eq!(pattern::<Base64Url>().is_match(&text), lenient.decode(&text).is_ok(), "{:?}", text);
            }

            /// Exactly the base64url (no padding) of 65 bytes starting with 4.
            #[test]
            fn the_public_key_pattern_is_every_uncompressed_point_and_nothing_else(
                bytes in prop_oneof![
                    any::<[u8; 64]>().prop_map(|p| [&[4u8][..], &p[..]].concat()),
                    proptest::collection::vec(any::<u8>(), 0..70),
                ],
            ) {
                let re = property_pattern(crate::ops::push::EnrollRequest::schema(), "public_key");
                let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
                prop_assert_eq!(re.is_match(&text), bytes.len() == 65 && bytes[0] == 4);
            }
        }
    }
}

// The schema of `latchkey_wire::NoticeReportRequest`: the wire crate, shared with
// push-agent, carries no schema dependency.
/// The push device's "this wasn't me" about a security notice.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NoticeReportRequest {
    /// The `notice_id` of a `NoticePayload`.
    notice_id: String,
    device_id: Id,
    /// ECDSA P-256 SHA-256, ASN.1 DER, base64url, by the device key over
    /// `NoticeReportSignedString`. A bad one is `401 invalid_signature`.
    signature: String,
}

/// The state a reported notice answers.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum NoticeStatus {
    Reported,
}
