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

/// Signs `env` as SNS does (SHA256withRSA over its canonical string), with the test key.
fn sign(env: &mut Envelope) {
    let key = test_rsa_key();
    let mut sig = vec![0u8; key.public().modulus_len()];
    let signed = sns::string_to_sign(env).unwrap();
    key.sign(
        &RSA_PKCS1_SHA256,
        &push_agent::crypto::system_random(),
        signed.as_bytes(),
        &mut sig,
    )
    .unwrap();
    env.signature = Some(STANDARD.encode(&sig));
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

    sign(&mut env);
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

mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, FileFailurePersistence};
    use serde_json::{json, Value};

    /// Within the test certificate's validity.
    fn when() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    /// `n` cases (`PROPTEST_CASES` overrides); failures kept beside this file (tests/
    /// has no lib.rs for proptest's default place).
    fn cases(n: u32) -> Config {
        let n = std::env::var("PROPTEST_CASES").map_or(n, |v| v.parse().unwrap_or(n));
        Config {
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
                "tests/proptest-regressions/sns_signatures.txt",
            ))),
            ..Config::with_cases(n)
        }
    }

    fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// A notification as SNS would sign it, with the test key.
    fn signed(
        message: String,
        id: String,
        subject: Option<String>,
        timestamp: String,
        topic: String,
    ) -> Envelope {
        let mut env = envelope(NOTIFICATION_V2);
        (
            env.message,
            env.message_id,
            env.subject,
            env.timestamp,
            env.topic_arn,
        ) = (message, id, subject, timestamp, topic);
        sign(&mut env);
        env
    }

    fn any_signed() -> impl Strategy<Value = Envelope> {
        let text = || any::<String>();
        (text(), text(), proptest::option::of(text()), text(), text())
            .prop_map(|(m, id, subject, ts, topic)| signed(m, id, subject, ts, topic))
    }

    /// One change: a character of one signed field replaced by another, or the field cut
    /// short; or a bit of the signature flipped, or the signature cut short.
    #[derive(Debug, Clone)]
    enum Change {
        Replace(usize, proptest::sample::Index, char),
        Truncate(usize, proptest::sample::Index),
        FlipSignatureBit(proptest::sample::Index),
        TruncateSignature(proptest::sample::Index),
        ToggleSubject,
    }

    fn any_change() -> impl Strategy<Value = Change> {
        let index = any::<proptest::sample::Index>;
        prop_oneof![
            (0usize..5, index(), any::<char>()).prop_map(|(f, i, c)| Change::Replace(f, i, c)),
            (0usize..5, index()).prop_map(|(f, i)| Change::Truncate(f, i)),
            index().prop_map(Change::FlipSignatureBit),
            index().prop_map(Change::TruncateSignature),
            Just(Change::ToggleSubject),
        ]
    }

    /// The signed field `f` (0 to 4), where present.
    fn field(env: &mut Envelope, f: usize) -> Option<&mut String> {
        match f {
            0 => Some(&mut env.message),
            1 => Some(&mut env.message_id),
            2 => env.subject.as_mut(),
            3 => Some(&mut env.timestamp),
            _ => Some(&mut env.topic_arn),
        }
    }

    /// `env` changed by `change`; `None` when the change changes nothing (an empty field
    /// has nothing to replace or cut, a character replaced by itself).
    fn changed(mut env: Envelope, change: Change) -> Option<Envelope> {
        let mut signature = STANDARD.decode(env.signature.as_deref()?).ok()?;
        match change {
            Change::Replace(f, at, c) => {
                let text = field(&mut env, f)?;
                let mut chars: Vec<char> = text.chars().collect();
                if chars.is_empty() {
                    return None;
                }
                let i = at.index(chars.len());
                if chars[i] == c {
                    return None;
                }
                chars[i] = c;
                *text = chars.into_iter().collect();
            }
            Change::Truncate(f, at) => {
                let text = field(&mut env, f)?;
                let chars: Vec<char> = text.chars().collect();
                if chars.is_empty() {
                    return None;
                }
                *text = chars[..at.index(chars.len())].iter().collect();
            }
            Change::FlipSignatureBit(at) => {
                let bit = at.index(signature.len() * 8);
                signature[bit / 8] ^= 1 << (bit % 8);
                env.signature = Some(STANDARD.encode(&signature));
            }
            Change::TruncateSignature(at) => {
                signature.truncate(at.index(signature.len()));
                env.signature = Some(STANDARD.encode(&signature));
            }
            Change::ToggleSubject => {
                env.subject = match env.subject {
                    Some(_) => None,
                    None => Some(String::new()),
                }
            }
        }
        Some(env)
    }

    /// Any JSON value; strings only sometimes.
    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 12, 3, |inner| {
            proptest::collection::vec(inner, 0..3).prop_map(Value::from)
        })
    }

    /// An object with some of a delivery's members, each a string or any JSON, and the
    /// version and certificate URL right half the time, so verification gets as far as
    /// the RSA check.
    fn delivery_like() -> impl Strategy<Value = Vec<u8>> {
        let names = vec![
            "Type",
            "MessageId",
            "TopicArn",
            "Message",
            "Timestamp",
            "Subject",
            "Token",
            "SubscribeURL",
            "Signature",
        ];
        let member = prop_oneof![3 => any::<String>().prop_map(Value::from), 1 => json()];
        let kind = proptest::sample::select(vec![
            "Notification",
            "SubscriptionConfirmation",
            "UnsubscribeConfirmation",
            "Other",
        ]);
        (
            proptest::collection::btree_map(proptest::sample::select(names), member, 0..10),
            kind,
            any::<bool>(),
        )
            .prop_map(|(members, kind, vetted)| {
                let mut object: serde_json::Map<String, Value> = members
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                object.entry("Type").or_insert_with(|| kind.into());
                if vetted {
                    object.insert("SignatureVersion".to_owned(), json!("2"));
                    object.insert(
                        "SigningCertURL".to_owned(),
                        json!(
                            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem"
                        ),
                    );
                }
                Value::Object(object).to_string().into_bytes()
            })
    }

    proptest! {
        #![proptest_config(cases(128))]

        #[test]
        fn a_signed_delivery_verifies_and_any_change_to_it_fails(
            env in any_signed(),
            change in any_change(),
        ) {
            let (v, _) = verifier();
            prop_assert_eq!(block_on(v.verify(&env, when())), Ok(()));
            if let Some(env) = changed(env, change) {
                prop_assert!(block_on(v.verify(&env, when())).is_err());
            }
        }
    }

    proptest! {
        #![proptest_config(cases(256))]

        /// What reaches the agent's SNS port is read as the server reads it (axum's body,
        /// `serde_json::from_slice`); whatever it is, reading and verifying end in an
        /// answer, and nothing unsigned verifies.
        #[test]
        fn any_bytes_are_refused_or_read_and_never_verify(
            body in prop_oneof![proptest::collection::vec(any::<u8>(), 0..256), delivery_like()],
        ) {
            if let Ok(env) = serde_json::from_slice::<Envelope>(&body) {
                let _ = sns::string_to_sign(&env);
                let (v, _) = verifier();
                prop_assert!(block_on(v.verify(&env, when())).is_err());
            }
        }
    }
}
