//! Amazon SNS HTTP(S) deliveries and their signatures.
//!
//! SNS signs each delivery with an RSA key whose certificate it serves from
//! `https://sns.<region>.amazonaws.com/...`. The trust chain is: the certificate URL's
//! host must be an SNS host, the certificate is fetched over HTTPS (webpki roots), and
//! the RSA signature over AWS' canonical string must verify. This only proves that the
//! message came through SNS; the server's Ed25519 signature on the payload is what
//! proves it came from Latchkey, and that is checked separately, always.
//!
//! Canonical string (AWS "Verifying the signatures of Amazon SNS messages"): for each
//! field in the listed order, `name\nvalue\n`.
//! - Notification: Message, MessageId, Subject (only if present), Timestamp, TopicArn, Type
//! - SubscriptionConfirmation / UnsubscribeConfirmation: Message, MessageId,
//!   SubscribeURL, Timestamp, Token, TopicArn, Type
//!
//! Only SignatureVersion 2 (SHA256withRSA) is accepted: the push topic is created with
//! `SignatureVersion: "2"`, so a version 1 (SHA1withRSA) delivery did not come from it.
//! [`check_signature_version`] is applied to every delivery, also when signatures are
//! not verified.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::Url;
use ring::signature;
use serde::Deserialize;
use x509_cert::der::{Decode as _, DecodePem as _};
use x509_cert::Certificate;

/// An SNS delivery body. Unknown fields (MessageAttributes, ...) are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "TopicArn")]
    pub topic_arn: String,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    #[serde(rename = "Subject", default)]
    pub subject: Option<String>,
    #[serde(rename = "Token", default)]
    pub token: Option<String>,
    #[serde(rename = "SubscribeURL", default)]
    pub subscribe_url: Option<String>,
    #[serde(rename = "SignatureVersion", default)]
    pub signature_version: Option<String>,
    #[serde(rename = "Signature", default)]
    pub signature: Option<String>,
    #[serde(rename = "SigningCertURL", default)]
    pub signing_cert_url: Option<String>,
}

pub const NOTIFICATION: &str = "Notification";
pub const SUBSCRIPTION_CONFIRMATION: &str = "SubscriptionConfirmation";
pub const UNSUBSCRIBE_CONFIRMATION: &str = "UnsubscribeConfirmation";

/// The exact bytes SNS signs for this envelope.
pub fn string_to_sign(env: &Envelope) -> Result<String, String> {
    let mut out = String::new();
    let mut add = |name: &str, value: &str| {
        out.push_str(name);
        out.push('\n');
        out.push_str(value);
        out.push('\n');
    };
    match env.kind.as_str() {
        NOTIFICATION => {
            add("Message", &env.message);
            add("MessageId", &env.message_id);
            if let Some(subject) = &env.subject {
                add("Subject", subject);
            }
            add("Timestamp", &env.timestamp);
            add("TopicArn", &env.topic_arn);
            add("Type", &env.kind);
        }
        SUBSCRIPTION_CONFIRMATION | UNSUBSCRIBE_CONFIRMATION => {
            let subscribe_url = env
                .subscribe_url
                .as_deref()
                .ok_or("SubscribeURL is missing")?;
            let token = env.token.as_deref().ok_or("Token is missing")?;
            add("Message", &env.message);
            add("MessageId", &env.message_id);
            add("SubscribeURL", subscribe_url);
            add("Timestamp", &env.timestamp);
            add("Token", token);
            add("TopicArn", &env.topic_arn);
            add("Type", &env.kind);
        }
        other => return Err(format!("unknown message type {other:?}")),
    }
    Ok(out)
}

/// The only SignatureVersion accepted: SHA256withRSA.
pub const SIGNATURE_VERSION: &str = "2";

/// Ok when the envelope claims SignatureVersion 2. Version 1 (SHA1withRSA) is refused
/// even though SNS still offers it: the push topic is created with version 2.
pub fn check_signature_version(env: &Envelope) -> Result<(), String> {
    match env.signature_version.as_deref() {
        Some(SIGNATURE_VERSION) => Ok(()),
        Some("1") => {
            Err("SignatureVersion 1 (SHA1withRSA) is refused; only 2 is accepted".to_owned())
        }
        Some(_) => Err("unsupported SignatureVersion; only 2 is accepted".to_owned()),
        None => Err("SignatureVersion is missing".to_owned()),
    }
}

/// Whether `host` is an SNS endpoint host: `sns.<region>.amazonaws.com`, or the
/// China partition's `sns.<region>.amazonaws.com.cn`.
pub fn is_sns_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"));
    // One label of letters, digits and hyphens: "us-east-1", "cn-north-1", ...
    region.is_some_and(|r| {
        !r.is_empty()
            && r.len() <= 32
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// An https URL on an SNS host, default port, no credentials.
pub fn check_sns_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|_| "not an absolute URL".to_owned())?;
    if url.scheme() != "https" {
        return Err("not https".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
        return Err("must not carry credentials or a port".to_owned());
    }
    match url.host() {
        Some(url::Host::Domain(host)) if is_sns_host(host) => Ok(url),
        _ => Err(format!(
            "host {} is not an SNS host",
            url.host_str().unwrap_or("(none)")
        )),
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where signing certificates come from. Production fetches them over HTTPS; tests
/// inject their own.
pub trait CertSource: Send + Sync {
    /// PEM or DER bytes of the certificate at `url` (already checked to be an SNS URL).
    fn fetch<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<Vec<u8>, String>>;
}

const MAX_CERT_BYTES: usize = 64 * 1024;

pub struct HttpCertSource {
    client: reqwest::Client,
}

impl HttpCertSource {
    pub fn new() -> Result<Self, crate::Error> {
        let client = reqwest::Client::builder()
            // A redirect could lead off the SNS host we just vetted.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| crate::Error::network("building the HTTPS client", &e))?;
        Ok(HttpCertSource { client })
    }
}

impl CertSource for HttpCertSource {
    fn fetch<'a>(&'a self, url: &'a Url) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        Box::pin(async move {
            let mut response = self.client.get(url.clone()).send().await.map_err(|e| {
                crate::Error::network("fetching the SNS certificate", &e).to_string()
            })?;
            if !response.status().is_success() {
                return Err(format!("certificate URL answered {}", response.status()));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| crate::Error::network("reading the SNS certificate", &e).to_string())?
            {
                if body.len() + chunk.len() > MAX_CERT_BYTES {
                    return Err("certificate is too large".to_owned());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        })
    }
}

/// The RSA public key of one signing certificate and when it may be used.
struct SigningKey {
    rsa_public_key: Vec<u8>,
    not_before: SystemTime,
    not_after: SystemTime,
}

const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";
const MAX_CACHED_CERTS: usize = 32;

fn parse_certificate(bytes: &[u8]) -> Result<SigningKey, String> {
    let cert = if bytes.starts_with(b"-----BEGIN") {
        Certificate::from_pem(bytes)
    } else {
        Certificate::from_der(bytes)
    }
    .map_err(|_| "certificate does not parse as X.509".to_owned())?;
    let tbs = cert.tbs_certificate();
    let spki = tbs.subject_public_key_info();
    if spki.algorithm.oid.to_string() != RSA_ENCRYPTION_OID {
        return Err("certificate key is not RSA".to_owned());
    }
    let rsa_public_key = spki
        .subject_public_key
        .as_bytes()
        .ok_or("certificate key bit string is not whole bytes")?
        .to_vec();
    let validity = tbs.validity();
    Ok(SigningKey {
        rsa_public_key,
        not_before: validity.not_before.to_system_time(),
        not_after: validity.not_after.to_system_time(),
    })
}

/// Verifies SNS message signatures, caching certificates by URL.
pub struct Verifier {
    source: Arc<dyn CertSource>,
    cache: Mutex<HashMap<String, Arc<SigningKey>>>,
}

impl Verifier {
    pub fn new(source: Arc<dyn CertSource>) -> Self {
        Verifier {
            source,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Ok when the envelope carries a valid SNS signature at time `now`.
    pub async fn verify(&self, env: &Envelope, now: SystemTime) -> Result<(), String> {
        check_signature_version(env)?;
        let algorithm = &signature::RSA_PKCS1_2048_8192_SHA256;
        let cert_url = check_sns_url(
            env.signing_cert_url
                .as_deref()
                .ok_or("SigningCertURL is missing")?,
        )
        .map_err(|e| format!("SigningCertURL refused: {e}"))?;
        let signature = STANDARD
            .decode(env.signature.as_deref().ok_or("Signature is missing")?)
            .map_err(|_| "Signature is not base64".to_owned())?;
        let signed = string_to_sign(env)?;

        let key = self.signing_key(&cert_url).await?;
        if now < key.not_before || now > key.not_after {
            return Err("signing certificate is not valid now".to_owned());
        }
        signature::UnparsedPublicKey::new(algorithm, &key.rsa_public_key)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| "signature does not verify".to_owned())
    }

    async fn signing_key(&self, url: &Url) -> Result<Arc<SigningKey>, String> {
        if let Some(key) = self.cached(url.as_str()) {
            return Ok(key);
        }
        let bytes = self.source.fetch(url).await?;
        let key = Arc::new(parse_certificate(&bytes)?);
        if let Ok(mut cache) = self.cache.lock() {
            // AWS rotates certificates rarely; a full cache means someone is feeding us
            // URLs, and starting over is the simplest bound.
            if cache.len() >= MAX_CACHED_CERTS {
                cache.clear();
            }
            cache.insert(url.as_str().to_owned(), Arc::clone(&key));
        }
        Ok(key)
    }

    fn cached(&self, url: &str) -> Option<Arc<SigningKey>> {
        self.cache.lock().ok()?.get(url).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sns_hosts() {
        assert!(is_sns_host("sns.us-east-1.amazonaws.com"));
        assert!(is_sns_host("SNS.eu-west-3.amazonaws.com"));
        assert!(is_sns_host("sns.cn-north-1.amazonaws.com.cn"));
        assert!(!is_sns_host("sns.amazonaws.com"));
        assert!(!is_sns_host("sns.us-east-1.amazonaws.com.evil.example"));
        assert!(!is_sns_host("sns.evil.example.amazonaws.com"));
        assert!(!is_sns_host("evilsns.us-east-1.amazonaws.com"));
        assert!(!is_sns_host("sns.us-east-1.amazonaws.co"));
        assert!(!is_sns_host("s3.us-east-1.amazonaws.com"));
    }

    #[test]
    fn sns_urls() {
        assert!(check_sns_url(
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem"
        )
        .is_ok());
        assert!(check_sns_url("http://sns.us-east-1.amazonaws.com/x.pem").is_err());
        assert!(check_sns_url("https://sns.us-east-1.amazonaws.com:8443/x.pem").is_err());
        assert!(check_sns_url("https://a@sns.us-east-1.amazonaws.com/x.pem").is_err());
        assert!(check_sns_url("https://127.0.0.1/x.pem").is_err());
        assert!(check_sns_url("https://evil.example/x.pem").is_err());
    }

    #[test]
    fn canonical_strings_follow_aws_order() {
        let mut env = Envelope {
            kind: NOTIFICATION.to_owned(),
            message_id: "id".to_owned(),
            topic_arn: "arn".to_owned(),
            message: "msg".to_owned(),
            timestamp: "ts".to_owned(),
            subject: None,
            token: None,
            subscribe_url: None,
            signature_version: None,
            signature: None,
            signing_cert_url: None,
        };
        assert_eq!(
            string_to_sign(&env).unwrap(),
            "Message\nmsg\nMessageId\nid\nTimestamp\nts\nTopicArn\narn\nType\nNotification\n"
        );
        env.subject = Some("subj".to_owned());
        assert_eq!(
            string_to_sign(&env).unwrap(),
            "Message\nmsg\nMessageId\nid\nSubject\nsubj\nTimestamp\nts\nTopicArn\narn\nType\nNotification\n"
        );
        env.kind = SUBSCRIPTION_CONFIRMATION.to_owned();
        assert!(
            string_to_sign(&env).is_err(),
            "Token and SubscribeURL are required"
        );
        env.token = Some("tok".to_owned());
        env.subscribe_url = Some("https://sub".to_owned());
        assert_eq!(
            string_to_sign(&env).unwrap(),
            "Message\nmsg\nMessageId\nid\nSubscribeURL\nhttps://sub\nTimestamp\nts\nToken\ntok\nTopicArn\narn\nType\nSubscriptionConfirmation\n"
        );
        env.kind = "Other".to_owned();
        assert!(string_to_sign(&env).is_err());
    }
}
