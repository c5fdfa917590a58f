//! Configuration from environment variables. Every variable has a documented default
//! (README "Configuration"); only the master secret has none, so a deployment without one
//! fails at start instead of running with a guessable key.

use crate::error::{Error, Result};
use aws_sdk_dynamodb::config::Credentials;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Argon2Params {
    /// OWASP's first recommendation for argon2id: 19 MiB, 2 passes, 1 lane.
    pub const OWASP: Argon2Params = Argon2Params {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
}

#[derive(Clone)]
pub enum MasterSecretSource {
    Inline(Vec<u8>),
    File(String),
    /// A Secrets Manager secret (ARN or name), fetched once per process at start.
    SecretsManager(String),
}

impl std::fmt::Debug for MasterSecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MasterSecretSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            MasterSecretSource::File(path) => write!(f, "File({path})"),
            MasterSecretSource::SecretsManager(arn) => write!(f, "SecretsManager({arn})"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub push_topic_arn: Option<String>,
    /// The EventBridge bus the security-events function puts every event on
    /// (`LATCHKEY_EVENT_BUS`, a name or ARN).
    pub event_bus: Option<String>,
    /// Set for local stacks (moto); unset means the real AWS endpoints.
    pub aws_endpoint: Option<String>,
    pub aws_region: Option<String>,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for a role's temporary credentials,
    /// `AWS_SESSION_TOKEN`, as Lambda sets them. Their `Debug` shows the key id only.
    pub aws_credentials: Option<Credentials>,
    pub argon2: Argon2Params,
    pub issuer: String,
    /// Base URL of the API as clients reach it (no `/v1`), used in push URIs.
    pub public_url: String,
    pub webauthn_rp_id: String,
    pub webauthn_origin: String,
    pub push_digits: usize,
    pub push_ttl_secs: i64,
    pub master_secret: MasterSecretSource,
    /// A session ends after this long without a request (`LATCHKEY_SESSION_IDLE_SECONDS`,
    /// default an hour), besides its 12-hour life.
    pub session_idle_secs: i64,
    /// Proxies whose `X-Forwarded-For` is believed (`LATCHKEY_TRUSTED_PROXIES`: addresses
    /// or CIDR networks, comma-separated; default none). See [`crate::source`].
    pub trusted_proxies: Vec<crate::source::Network>,
    /// Whether every request comes through CloudFront, whose `CloudFront-Viewer-Address`
    /// then names the client (`LATCHKEY_TRUSTED_PROXY=cloudfront`; default `none`).
    pub viewer_address_from_cloudfront: bool,
    /// The value CloudFront puts in [`ORIGIN_HEADER`] on every request it forwards
    /// (`LATCHKEY_ORIGIN_SECRET`; unset or empty: no check). With it set, a request that
    /// reached API Gateway's own address around CloudFront, its WAF and its headers, is
    /// refused before anything else is read.
    pub origin_secret: Option<OriginSecret>,
}

/// The header CloudFront adds to the requests it forwards to the API.
pub const ORIGIN_HEADER: &str = "x-latchkey-origin";

/// A secret shared with CloudFront; never printed.
#[derive(Clone)]
pub struct OriginSecret(String);

impl OriginSecret {
    /// Shorter values could be guessed by whoever can reach the `execute-api` address.
    pub const MIN_LEN: usize = 32;

    pub fn admits(&self, presented: Option<&[u8]>) -> bool {
        presented.is_some_and(|value| crate::domain::secrets_equal(value, self.0.as_bytes()))
    }
}

impl std::fmt::Debug for OriginSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginSecret(<redacted>)")
    }
}

impl Config {
    pub fn from_env() -> Result<Config> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let number = |name: &str, default: u64| -> Result<u64> {
            match get(name) {
                None => Ok(default),
                Some(raw) => raw
                    .trim()
                    .parse()
                    .map_err(|_| config_error(format!("{name} must be a whole number"))),
            }
        };
        let public_url = get("LATCHKEY_PUBLIC_URL")
            .unwrap_or_else(|| "http://localhost:8080".to_owned())
            .trim_end_matches('/')
            .to_owned();
        let master_secret = if let Some(inline) = get("LATCHKEY_MASTER_SECRET") {
            MasterSecretSource::Inline(decode_secret(&inline)?)
        } else if let Some(path) = get("LATCHKEY_MASTER_SECRET_FILE") {
            MasterSecretSource::File(path)
        } else if let Some(arn) = get("LATCHKEY_MASTER_SECRET_ARN") {
            MasterSecretSource::SecretsManager(arn)
        } else {
            return Err(config_error(
                "set LATCHKEY_MASTER_SECRET, LATCHKEY_MASTER_SECRET_FILE or LATCHKEY_MASTER_SECRET_ARN"
                    .to_owned(),
            ));
        };
        let push_digits = number("LATCHKEY_PUSH_DIGITS", 6)?;
        if !(2..=8).contains(&push_digits) {
            return Err(config_error(
                "LATCHKEY_PUSH_DIGITS must be 2 to 8".to_owned(),
            ));
        }
        let to_u32 = |v: u64, name: &str| {
            u32::try_from(v).map_err(|_| config_error(format!("{name} is too large")))
        };
        Ok(Config {
            table: get("LATCHKEY_TABLE").unwrap_or_else(|| "latchkey".to_owned()),
            push_topic_arn: get("LATCHKEY_PUSH_TOPIC_ARN"),
            event_bus: get("LATCHKEY_EVENT_BUS"),
            aws_endpoint: get("LATCHKEY_AWS_ENDPOINT"),
            aws_region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
            aws_credentials: match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
                (Some(key_id), Some(secret_key)) => Some(Credentials::new(
                    key_id,
                    secret_key,
                    get("AWS_SESSION_TOKEN"),
                    None,
                    "environment",
                )),
                _ => None,
            },
            argon2: Argon2Params {
                memory_kib: to_u32(
                    number(
                        "LATCHKEY_ARGON2_MEMORY_KIB",
                        Argon2Params::OWASP.memory_kib.into(),
                    )?,
                    "LATCHKEY_ARGON2_MEMORY_KIB",
                )?,
                iterations: to_u32(
                    number(
                        "LATCHKEY_ARGON2_ITERATIONS",
                        Argon2Params::OWASP.iterations.into(),
                    )?,
                    "LATCHKEY_ARGON2_ITERATIONS",
                )?,
                parallelism: to_u32(
                    number(
                        "LATCHKEY_ARGON2_PARALLELISM",
                        Argon2Params::OWASP.parallelism.into(),
                    )?,
                    "LATCHKEY_ARGON2_PARALLELISM",
                )?,
            },
            issuer: get("LATCHKEY_ISSUER").unwrap_or_else(|| "Latchkey".to_owned()),
            webauthn_rp_id: get("LATCHKEY_WEBAUTHN_RP_ID")
                .unwrap_or_else(|| "localhost".to_owned()),
            webauthn_origin: get("LATCHKEY_WEBAUTHN_ORIGIN").unwrap_or_else(|| public_url.clone()),
            public_url,
            push_digits: push_digits as usize,
            push_ttl_secs: i64::try_from(number("LATCHKEY_PUSH_TTL_SECONDS", 120)?)
                .map_err(|_| config_error("LATCHKEY_PUSH_TTL_SECONDS is too large".to_owned()))?,
            master_secret,
            session_idle_secs: {
                let idle = number("LATCHKEY_SESSION_IDLE_SECONDS", 3600)?;
                if !(300..=12 * 3600).contains(&idle) {
                    return Err(config_error(
                        "LATCHKEY_SESSION_IDLE_SECONDS must be 300 to 43200".to_owned(),
                    ));
                }
                idle as i64
            },
            trusted_proxies: match get("LATCHKEY_TRUSTED_PROXIES") {
                None => Vec::new(),
                Some(list) => list
                    .split(',')
                    .filter(|n| !n.trim().is_empty())
                    .map(|n| {
                        crate::source::Network::parse(n).ok_or_else(|| {
                            config_error(format!(
                                "LATCHKEY_TRUSTED_PROXIES: `{}` is not an address or a CIDR network",
                                n.trim()
                            ))
                        })
                    })
                    .collect::<Result<_>>()?,
            },
            viewer_address_from_cloudfront: match get("LATCHKEY_TRUSTED_PROXY").as_deref() {
                None | Some("none") => false,
                Some("cloudfront") => true,
                Some(_) => {
                    return Err(config_error(
                        "LATCHKEY_TRUSTED_PROXY must be none or cloudfront".to_owned(),
                    ))
                }
            },
            origin_secret: match get("LATCHKEY_ORIGIN_SECRET") {
                None => None,
                Some(value) if value.len() >= OriginSecret::MIN_LEN && value.is_ascii() => {
                    Some(OriginSecret(value))
                }
                Some(_) => {
                    return Err(config_error(format!(
                        "LATCHKEY_ORIGIN_SECRET must be at least {} ASCII characters",
                        OriginSecret::MIN_LEN
                    )))
                }
            },
        })
    }

    pub fn load_master_secret(&self) -> Result<Vec<u8>> {
        match &self.master_secret {
            MasterSecretSource::Inline(bytes) => Ok(bytes.clone()),
            MasterSecretSource::File(path) => {
                let raw = std::fs::read_to_string(path).map_err(|e| {
                    config_error(format!(
                        "cannot read LATCHKEY_MASTER_SECRET_FILE {path}: {e}"
                    ))
                })?;
                decode_secret(&raw)
            }
            MasterSecretSource::SecretsManager(_) => Err(config_error(
                "the Secrets Manager master secret must be fetched before use".to_owned(),
            )),
        }
    }
}

/// Decodes a master secret as stored: base64url, at least 32 bytes. Secrets Manager's
/// generated passwords (letters and digits) are valid base64url.
pub fn decode_secret(raw: &str) -> Result<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim().trim_end_matches('='))
        .map_err(|_| config_error("the master secret must be base64url".to_owned()))?;
    if bytes.len() < 32 {
        return Err(config_error(
            "the master secret must hold at least 32 bytes".to_owned(),
        ));
    }
    Ok(bytes)
}

fn config_error(message: String) -> Error {
    tracing::error!(%message, "configuration error");
    Error::internal(format!("configuration error: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const SECRET: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    #[test]
    fn production_argon2_default_is_owasp() {
        let config = with(&[("LATCHKEY_MASTER_SECRET", SECRET)]).unwrap();
        assert_eq!(
            config.argon2,
            Argon2Params {
                memory_kib: 19456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert_eq!(config.push_digits, 6);
        assert_eq!(config.webauthn_origin, "http://localhost:8080");
        assert_eq!(config.session_idle_secs, 3600);
        assert!(config.trusted_proxies.is_empty());
    }

    #[test]
    fn idle_timeout_and_trusted_proxies_are_read_and_checked() {
        let config = with(&[
            ("LATCHKEY_MASTER_SECRET", SECRET),
            ("LATCHKEY_SESSION_IDLE_SECONDS", "900"),
            ("LATCHKEY_TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::1"),
        ])
        .unwrap();
        assert_eq!(config.session_idle_secs, 900);
        assert_eq!(config.trusted_proxies.len(), 2);
        assert!(!config.viewer_address_from_cloudfront);
        let behind_cloudfront = with(&[
            ("LATCHKEY_MASTER_SECRET", SECRET),
            ("LATCHKEY_TRUSTED_PROXY", "cloudfront"),
        ])
        .unwrap();
        assert!(behind_cloudfront.viewer_address_from_cloudfront);
        for (name, value) in [
            ("LATCHKEY_SESSION_IDLE_SECONDS", "60"),
            ("LATCHKEY_TRUSTED_PROXIES", "10.0.0.0/40"),
            ("LATCHKEY_TRUSTED_PROXY", "alb"),
            ("LATCHKEY_ORIGIN_SECRET", "too-short-to-resist-guessing"),
        ] {
            assert!(with(&[("LATCHKEY_MASTER_SECRET", SECRET), (name, value)]).is_err());
        }
    }

    #[test]
    fn the_origin_secret_admits_only_its_own_value_and_never_prints_it() {
        let value = "Zm9yIGNsb3VkZnJvbnQgb25seSwgbm90IGZvciB5b3U";
        assert!(with(&[
            ("LATCHKEY_MASTER_SECRET", SECRET),
            ("LATCHKEY_ORIGIN_SECRET", "")
        ])
        .unwrap()
        .origin_secret
        .is_none());
        let config = with(&[
            ("LATCHKEY_MASTER_SECRET", SECRET),
            ("LATCHKEY_ORIGIN_SECRET", value),
        ])
        .unwrap();
        let secret = config.origin_secret.as_ref().unwrap();
        assert!(secret.admits(Some(value.as_bytes())));
        assert!(!secret.admits(None));
        assert!(!secret.admits(Some(&value.as_bytes()[1..])));
        assert!(!secret.admits(Some(format!("{value}x").as_bytes())));
        assert!(!format!("{config:?}").contains(value));
    }

    #[test]
    fn refuses_to_start_without_a_master_secret() {
        assert!(with(&[]).is_err());
        assert!(with(&[("LATCHKEY_MASTER_SECRET", "c2hvcnQ")]).is_err());
    }

    #[test]
    fn push_digits_outside_2_to_8_are_refused() {
        assert!(with(&[
            ("LATCHKEY_MASTER_SECRET", SECRET),
            ("LATCHKEY_PUSH_DIGITS", "9")
        ])
        .is_err());
        assert!(with(&[
            ("LATCHKEY_MASTER_SECRET", SECRET),
            ("LATCHKEY_PUSH_DIGITS", "8")
        ])
        .is_ok());
    }

    #[test]
    fn environment_credentials_need_both_key_variables() {
        let secret = ("LATCHKEY_MASTER_SECRET", SECRET);
        let id = ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
        let key = ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI");
        let token = ("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLE");
        let role = with(&[secret, id, key, token])
            .unwrap()
            .aws_credentials
            .unwrap();
        assert_eq!(role.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(role.secret_access_key(), "wJalrXUtnFEMI");
        assert_eq!(role.session_token(), Some("IQoJb3JpZ2luX2VjEXAMPLE"));
        let user = with(&[secret, id, key]).unwrap().aws_credentials.unwrap();
        assert_eq!(user.session_token(), None);
        assert!(with(&[secret, id]).unwrap().aws_credentials.is_none());
        assert!(with(&[secret, key]).unwrap().aws_credentials.is_none());
        assert!(with(&[secret]).unwrap().aws_credentials.is_none());
    }

    #[test]
    fn debug_output_redacts_the_aws_secret_key_and_session_token() {
        let config = with(&[
            ("LATCHKEY_MASTER_SECRET", SECRET),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
            ("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLE"),
        ])
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(!shown.contains("IQoJb3JpZ2luX2VjEXAMPLE"), "{shown}");
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let config = with(&[("LATCHKEY_MASTER_SECRET", SECRET)]).unwrap();
        assert!(!format!("{config:?}").contains(SECRET));
    }
}
