//! SNS signature verification against a test certificate (see fixtures/make-sns-fixtures.py).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use push_agent::sns::{self, BoxFuture, CertSource, Envelope, Verifier};
use reqwest::Url;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

const CERT: &[u8] = include_bytes!("fixtures/sns-test-cert.pem");
const KEY_PEM: &str = include_str!("fixtures/sns-test-key.pem");
const NOTIFICATION_V1: &str = include_str!("fixtures/sns-notification-v1.json");
const NOTIFICATION_V2: &str = include_str!("fixtures/sns-notification-v2.json");
const CONFIRMATION_V2: &str = include_str!("fixtures/sns-subscription-confirmation-v2.json");

/// Serves the test certificate for any (already vetted) URL, counting fetches.
#[derive(Default)]
struct FixtureCert {
    fetches: AtomicUsize,
}

impl CertSource for FixtureCert {
    fn fetch<'a>(&'a self, _url: &'a Url) -> BoxFuture<'a, Result<Vec<u8>, String>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(CERT.to_vec()) })
    }
}

fn verifier() -> (Verifier, Arc<FixtureCert>) {
    let source = Arc::new(FixtureCert::default());
    (Verifier::new(source.clone()), source)
}

fn envelope(text: &str) -> Envelope {
    serde_json::from_str(text).unwrap()
}

fn now() -> SystemTime {
    SystemTime::from(push_agent::clock::Clock::now(
        &push_agent::clock::SystemClock,
    ))
}

fn test_rsa_key() -> RsaKeyPair {
    let body: String = KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    RsaKeyPair::from_pkcs8(&STANDARD.decode(body).unwrap()).unwrap()
}

#[tokio::test]
async fn accepts_a_v2_notification_signed_by_openssl() {
    let (v, source) = verifier();
    v.verify(&envelope(NOTIFICATION_V2), now()).await.unwrap();
    // A second message with the same certificate URL comes from the cache.
    v.verify(&envelope(NOTIFICATION_V2), now()).await.unwrap();
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refuses_a_v1_notification_though_its_sha1_signature_is_valid() {
    let (v, source) = verifier();
    let err = v
        .verify(&envelope(NOTIFICATION_V1), now())
        .await
        .unwrap_err();
    assert!(err.contains("SignatureVersion 1"), "{err}");
    assert_eq!(source.fetches.load(Ordering::SeqCst), 0, "refused up front");
}

#[tokio::test]
async fn accepts_a_v2_subscription_confirmation_signed_by_openssl() {
    let (v, _) = verifier();
    v.verify(&envelope(CONFIRMATION_V2), now()).await.unwrap();
}

#[tokio::test]
async fn rejects_tampered_messages() {
    let (v, _) = verifier();

    let mut env = envelope(NOTIFICATION_V2);
    env.message = env.message.replace("c2ln", "c2lo");
    assert!(v.verify(&env, now()).await.is_err(), "Message changed");

    let mut env = envelope(NOTIFICATION_V2);
    env.subject = None;
    assert!(v.verify(&env, now()).await.is_err(), "Subject removed");

    let mut env = envelope(NOTIFICATION_V2);
    env.topic_arn.push('x');
    assert!(v.verify(&env, now()).await.is_err(), "TopicArn changed");

    let mut env = envelope(NOTIFICATION_V1);
    env.signature_version = Some("2".to_owned());
    assert!(
        v.verify(&env, now()).await.is_err(),
        "v1 signature checked as v2"
    );

    let mut env = envelope(NOTIFICATION_V2);
    env.signature_version = Some("3".to_owned());
    assert!(v.verify(&env, now()).await.is_err(), "unknown version");

    let mut env = envelope(CONFIRMATION_V2);
    env.token = env.token.map(|t| t.replace('2', "3"));
    assert!(v.verify(&env, now()).await.is_err(), "Token changed");

    let mut env = envelope(CONFIRMATION_V2);
    env.subscribe_url = Some("https://sns.us-east-1.amazonaws.com/?Action=Other".to_owned());
    assert!(v.verify(&env, now()).await.is_err(), "SubscribeURL changed");

    let mut env = envelope(CONFIRMATION_V2);
    env.signature = None;
    assert!(v.verify(&env, now()).await.is_err(), "no signature");
}

#[tokio::test]
async fn rejects_certificate_urls_off_sns_hosts_without_fetching() {
    let (v, source) = verifier();
    for url in [
        "https://evil.example/SimpleNotificationService-test.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
        "https://s3.amazonaws.com/sns.us-east-1.amazonaws.com/cert.pem",
    ] {
        let mut env = envelope(NOTIFICATION_V2);
        env.signing_cert_url = Some(url.to_owned());
        let err = v.verify(&env, now()).await.unwrap_err();
        assert!(err.contains("SigningCertURL"), "{url}: {err}");
    }
    assert_eq!(source.fetches.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn accepts_a_v2_notification_signed_with_ring_and_the_china_partition() {
    let (v, _) = verifier();
    let mut env = envelope(NOTIFICATION_V2);
    env.subject = None;
    env.message = "{\"payload\":\"x\",\"signature\":\"y\"}".to_owned();
    env.signing_cert_url =
        Some("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-x.pem".to_owned());
    env.signature_version = Some("2".to_owned());

    let key = test_rsa_key();
    let mut sig = vec![0u8; key.public().modulus_len()];
    let signed = sns::string_to_sign(&env).unwrap();
    key.sign(
        &RSA_PKCS1_SHA256,
        &push_agent::crypto::system_random(),
        signed.as_bytes(),
        &mut sig,
    )
    .unwrap();
    env.signature = Some(STANDARD.encode(&sig));
    v.verify(&env, now()).await.unwrap();

    env.message.push(' ');
    assert!(v.verify(&env, now()).await.is_err());
}

#[tokio::test]
async fn rejects_a_certificate_outside_its_validity() {
    let (v, _) = verifier();
    let far_future = now() + Duration::from_secs(200 * 365 * 24 * 3600);
    let err = v
        .verify(&envelope(NOTIFICATION_V2), far_future)
        .await
        .unwrap_err();
    assert!(err.contains("not valid"), "{err}");
}

#[tokio::test]
async fn rejects_garbage_certificates() {
    struct Garbage;
    impl CertSource for Garbage {
        fn fetch<'a>(&'a self, _url: &'a Url) -> BoxFuture<'a, Result<Vec<u8>, String>> {
            Box::pin(async {
                Ok(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec())
            })
        }
    }
    let v = Verifier::new(Arc::new(Garbage));
    assert!(v.verify(&envelope(NOTIFICATION_V2), now()).await.is_err());
}
