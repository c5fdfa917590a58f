//! The `latchkey-push://enroll?...` registration URI, as the agent uses it: the wire
//! crate reads it (`latchkey_wire::RegistrationUri`, the server's own builder's
//! counterpart), and the agent then judges the `api` URL by its transport rule.

use latchkey_wire::RegistrationUri;
use reqwest::Url;

use crate::error::{Error, Result};

pub use latchkey_wire::{Secret, SCHEME};

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

pub fn parse(text: &str) -> Result<EnrollmentUri> {
    let uri = RegistrationUri::parse(text).map_err(|e| Error::InvalidUri(e.to_string()))?;
    Ok(EnrollmentUri {
        api: api_base(&uri.api)?,
        registration_id: uri.registration_id,
        secret: uri.secret,
        username: uri.username,
        issuer: uri.issuer,
        server_key: uri.server_key,
    })
}

/// The `api` parameter: an absolute URL the agent may talk to, without query or
/// fragment; its path loses any trailing slash.
fn api_base(text: &str) -> Result<Url> {
    let mut api =
        Url::parse(text).map_err(|_| Error::InvalidUri("api is not an absolute URL".to_owned()))?;
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
    Ok(api)
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
    fn reads_what_the_server_builds() {
        let built = RegistrationUri {
            api: "https://mfa.example.com/prod".to_owned(),
            registration_id: "reg_01".to_owned(),
            secret: Secret::new("c2VjcmV0LXNlY3JldA"),
            username: "alice+tag@example.com".to_owned(),
            issuer: "ACME & Sons".to_owned(),
            server_key: [7u8; 32],
        };
        let parsed = parse(&built.to_uri()).unwrap();
        assert_eq!(
            parsed.enroll_url().unwrap().as_str(),
            "https://mfa.example.com/prod/v1/push/enroll"
        );
        assert_eq!(parsed.registration_id, built.registration_id);
        assert_eq!(parsed.secret, built.secret);
        assert_eq!(parsed.username, built.username);
        assert_eq!(parsed.issuer, built.issuer);
        assert_eq!(parsed.server_key, built.server_key);
    }

    #[test]
    fn refuses_malformed_uris() {
        let good = uri("http://127.0.0.1:8080");
        let cases = [
            // The wire crate's checks (its own tests have the full list)...
            ("not a uri", "not a URI".to_owned()),
            ("scheme", good.replace("latchkey-push://", "https://")),
            ("missing rid", good.replace("rid=reg_01&", "")),
            ("duplicate rid", format!("{good}&rid=other")),
            ("short key", good.replace(&key(), &b64url(&[7u8; 31]))),
            // ...and the agent's, on the api URL.
            ("remote http api", uri("http://api.example.com")),
            ("ftp api", uri("ftp://localhost")),
            ("relative api", uri("/v1")),
            ("api with query", uri("https://api.example.com/?x=1")),
            ("api with credentials", uri("https://u:p@api.example.com")),
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
