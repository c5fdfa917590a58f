//! The `latchkey-push://enroll?...` registration URI.

use reqwest::Url;

use crate::crypto::b64url_decode;
use crate::error::{Error, Result};

pub const SCHEME: &str = "latchkey-push";
const MAX_FIELD: usize = 512;

/// The one-time enrollment secret. Debug is redacted; it is only ever sent to the
/// enrollment endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentUri {
    /// Base URL of the API, without `/v1` and without a trailing slash.
    pub api: Url,
    pub registration_id: String,
    pub secret: Secret,
    pub username: String,
    pub issuer: String,
    /// Ed25519 public key of the server that signs push messages.
    pub server_key: [u8; 32],
}

impl EnrollmentUri {
    /// `{api}/v1/push/enroll`
    pub fn enroll_url(&self) -> Result<Url> {
        api_url(&self.api, "v1/push/enroll")
    }
}

/// Joins `path` (relative, no leading slash) under the API base, keeping any path
/// prefix the base has (a stage name behind API Gateway, say).
pub fn api_url(base: &Url, path: &str) -> Result<Url> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let with_slash = format!("{}/", base.path());
        base.set_path(&with_slash);
    }
    base.join(path)
        .map_err(|_| Error::InvalidUri("api cannot be joined with a path".to_owned()))
}

/// Whether the agent may talk to `url` at all: HTTPS anywhere, plain HTTP only on
/// loopback (a dev server). The enrollment secret and the answers must not cross a
/// network in clear text.
pub fn check_transport(url: &Url) -> std::result::Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".to_owned());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_url(url) => Ok(()),
        "http" => Err("plain http is only allowed to a loopback host".to_owned()),
        other => Err(format!("unsupported scheme {other:?}")),
    }
}

pub fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn text_field(name: &str, value: String) -> Result<String> {
    if value.is_empty() {
        return Err(Error::InvalidUri(format!("{name} is empty")));
    }
    if value.len() > MAX_FIELD {
        return Err(Error::InvalidUri(format!("{name} is too long")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidUri(format!(
            "{name} contains control characters"
        )));
    }
    Ok(value)
}

pub fn parse(text: &str) -> Result<EnrollmentUri> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|e| Error::InvalidUri(format!("not a URI ({e})")))?;
    if url.scheme() != SCHEME {
        return Err(Error::InvalidUri(format!("scheme must be {SCHEME}")));
    }
    if url.host_str() != Some("enroll") || !matches!(url.path(), "" | "/") {
        return Err(Error::InvalidUri(
            "must start with latchkey-push://enroll?".to_owned(),
        ));
    }
    if url.port().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InvalidUri(
            "must not carry a port or credentials".to_owned(),
        ));
    }

    let (mut api, mut rid, mut secret, mut user, mut issuer, mut server_key) =
        (None, None, None, None, None, None);
    for (key, value) in url.query_pairs() {
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
        if slot.replace(value.into_owned()).is_some() {
            // Two different values for one field would make us sign one thing and
            // show another: refuse rather than pick.
            return Err(Error::InvalidUri(format!("{key} appears more than once")));
        }
    }
    let missing = |name: &str| Error::InvalidUri(format!("{name} is missing"));

    let api_text = text_field("api", api.ok_or_else(|| missing("api"))?)?;
    let mut api = Url::parse(&api_text)
        .map_err(|_| Error::InvalidUri("api is not an absolute URL".to_owned()))?;
    if api.host_str().is_none_or(str::is_empty) {
        return Err(Error::InvalidUri("api has no host".to_owned()));
    }
    if api.query().is_some() || api.fragment().is_some() {
        return Err(Error::InvalidUri(
            "api must not have a query or fragment".to_owned(),
        ));
    }
    check_transport(&api).map_err(|e| Error::InvalidUri(format!("api {e}")))?;
    let trimmed = api.path().trim_end_matches('/').to_owned();
    api.set_path(&trimmed);

    let registration_id = text_field("rid", rid.ok_or_else(|| missing("rid"))?)?;

    let secret = text_field("secret", secret.ok_or_else(|| missing("secret"))?)?;
    if b64url_decode(&secret).is_none_or(|b| b.is_empty()) {
        return Err(Error::InvalidUri("secret is not base64url".to_owned()));
    }

    let username = text_field("user", user.ok_or_else(|| missing("user"))?)?;
    let issuer = text_field("issuer", issuer.ok_or_else(|| missing("issuer"))?)?;

    let key_text = text_field(
        "server_key",
        server_key.ok_or_else(|| missing("server_key"))?,
    )?;
    let server_key: [u8; 32] = b64url_decode(&key_text)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            Error::InvalidUri("server_key is not a base64url Ed25519 public key".to_owned())
        })?;

    Ok(EnrollmentUri {
        api,
        registration_id,
        secret: Secret(secret),
        username,
        issuer,
        server_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::b64url;

    fn key() -> String {
        b64url(&[7u8; 32])
    }

    fn uri(api: &str) -> String {
        format!(
            "latchkey-push://enroll?api={}&rid=reg_01&secret=c2VjcmV0LXNlY3JldA&user=alice%40example.com&issuer=Latchkey%20Dev&server_key={}",
            url::form_urlencoded::byte_serialize(api.as_bytes()).collect::<String>(),
            key()
        )
    }

    #[test]
    fn parses_a_good_uri() {
        let parsed = parse(&uri("http://localhost:8080")).unwrap();
        assert_eq!(parsed.api.as_str(), "http://localhost:8080/");
        assert_eq!(
            parsed.enroll_url().unwrap().as_str(),
            "http://localhost:8080/v1/push/enroll"
        );
        assert_eq!(parsed.registration_id, "reg_01");
        assert_eq!(parsed.secret.expose(), "c2VjcmV0LXNlY3JldA");
        assert_eq!(parsed.username, "alice@example.com");
        assert_eq!(parsed.issuer, "Latchkey Dev");
        assert_eq!(parsed.server_key, [7u8; 32]);
        assert!(!format!("{parsed:?}").contains("c2VjcmV0LXNlY3JldA"));
    }

    #[test]
    fn keeps_an_api_path_prefix() {
        let parsed = parse(&uri("https://api.example.com/prod/")).unwrap();
        assert_eq!(
            parsed.enroll_url().unwrap().as_str(),
            "https://api.example.com/prod/v1/push/enroll"
        );
        // Unencoded api values are what a hand-written URI would have.
        let raw = format!(
            "latchkey-push://enroll?api=https://api.example.com&rid=r&secret=AAAA&user=u&issuer=i&server_key={}",
            key()
        );
        assert_eq!(
            parse(&raw).unwrap().enroll_url().unwrap().as_str(),
            "https://api.example.com/v1/push/enroll"
        );
    }

    #[test]
    fn refuses_malformed_uris() {
        let good = uri("http://127.0.0.1:8080");
        let cases = [
            ("not a uri", "not a URI".to_owned()),
            ("scheme", good.replace("latchkey-push://", "https://")),
            ("host", good.replace("//enroll?", "//register?")),
            ("missing rid", good.replace("rid=reg_01&", "")),
            (
                "missing secret",
                good.replace("secret=c2VjcmV0LXNlY3JldA&", ""),
            ),
            (
                "empty user",
                good.replace("user=alice%40example.com", "user="),
            ),
            ("duplicate rid", format!("{good}&rid=other")),
            ("short key", good.replace(&key(), &b64url(&[7u8; 31]))),
            ("bad key", good.replace(&key(), "!!!")),
            (
                "bad secret",
                good.replace("c2VjcmV0LXNlY3JldA", "not/base64+"),
            ),
            ("remote http api", uri("http://api.example.com")),
            ("ftp api", uri("ftp://localhost")),
            ("relative api", uri("/v1")),
            ("api with query", uri("https://api.example.com/?x=1")),
            ("api with credentials", uri("https://u:p@api.example.com")),
            (
                "control chars",
                good.replace("Latchkey%20Dev", "Latchkey%0ADev"),
            ),
        ];
        for (name, text) in cases {
            assert!(
                matches!(parse(&text), Err(Error::InvalidUri(_))),
                "{name} should be refused"
            );
        }
    }

    #[test]
    fn transport_policy() {
        let ok = |s: &str| check_transport(&Url::parse(s).unwrap()).is_ok();
        assert!(ok("https://example.com/x"));
        assert!(ok("http://localhost:8080/x"));
        assert!(ok("http://127.0.0.2/x"));
        assert!(ok("http://[::1]:1/x"));
        assert!(!ok("http://10.0.0.1/x"));
        assert!(!ok("http://localhost.example.com/x"));
        assert!(!ok("file:///etc/passwd"));
    }
}
