//! Property tests of the service's request handling (proptest), in process on the
//! machines' harness: every route's request parser on arbitrary JSON and bytes
//! ([`requests`]), and the WebAuthn credentials as webauthn-rs reads them ([`webauthn`]).
//! The properties of the pure rules, the wire crate and push-agent live beside their code
//! (docs/reliability.md, "Property tests", lists them all).
//!
//! Case counts are bounded so the suite stays fast; `PROPTEST_CASES` sets them all for a
//! longer run. A failing case is saved under tests/proptest-regressions/ and run first
//! from then on.

mod requests;
mod webauthn;

use crate::machines::harness::Machine;
use lambda_http::http::header;
use lambda_http::RequestExt;
use latchkey::{Error, Operation};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

/// In every string value the tests send: an answer that echoed a value would show it.
/// `~` is in no token, id or code the service makes.
pub const MARKER: &str = "~mark3r~";

/// `n` cases, or `PROPTEST_CASES`.
pub fn cases(n: u32) -> proptest::test_runner::Config {
    let n = std::env::var("PROPTEST_CASES").map_or(n, |v| v.parse().unwrap_or(n));
    proptest::test_runner::Config::with_cases(n)
}

/// Runs `future` to its end on a runtime of its own: a property's case is synchronous.
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// A string the way the tests send one: the marker first, so even an echo cut short
/// would show it.
pub fn marked() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| format!("{MARKER}{s}"))
}

/// Any JSON value, every string in it marked; object keys from `names` or anything.
pub fn json(names: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        marked().prop_map(Value::from),
    ];
    let key = prop_oneof![
        proptest::sample::select(names),
        "[a-z_]{0,12}".prop_map(String::from),
    ];
    leaf.prop_recursive(3, 32, 5, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            proptest::collection::btree_map(key.clone(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What the properties read of an answer.
pub struct Answer {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    fn has(&self, name: header::HeaderName, value: &str) -> bool {
        self.headers.get(name).is_some_and(|v| v == value)
    }
}

/// The service's one answer to bad input, whatever the route: never a 5xx; a refusal is a
/// 4xx with the contract's error body (`{"error": {"code", "message"}}`, a code of
/// error.rs with its own status) as JSON; nothing a caller sent comes back in a refusal or
/// in any header. Success is the route's business (a device renamed shows its new name).
pub fn check_answer(what: &str, answer: &Answer) -> Result<(), TestCaseError> {
    let status = answer.status;
    prop_assert!(
        (200..300).contains(&status) || (400..500).contains(&status),
        "{}: {}",
        what,
        status
    );
    for (name, value) in &answer.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        prop_assert!(
            !value.contains(MARKER),
            "{}: header {} echoes: {}",
            what,
            name,
            value
        );
    }
    prop_assert!(answer.has(header::CACHE_CONTROL, "no-store"), "{}", what);
    prop_assert_eq!(
        answer.headers.contains_key(header::RETRY_AFTER),
        status == 429 || status == 503,
        "{}: Retry-After goes with 429 and 503 only",
        what
    );
    if status < 400 {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&answer.body);
    prop_assert!(
        !text.contains(MARKER),
        "{}: the refusal echoes: {}",
        what,
        text
    );
    prop_assert!(
        answer.has(header::CONTENT_TYPE, "application/json"),
        "{}",
        what
    );
    let body: Value = serde_json::from_slice(&answer.body)
        .map_err(|_| TestCaseError::fail(format!("{what}: not JSON: {text}")))?;
    let error = body.get("error").and_then(Value::as_object);
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_str);
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str);
    prop_assert!(
        body.as_object().map(|o| o.len()) == Some(1) && error.map(|e| e.len()) == Some(2),
        "{}: not the error body: {}",
        what,
        text
    );
    prop_assert!(message.is_some_and(|m| !m.is_empty()), "{}: {}", what, text);
    let known = every_error()
        .iter()
        .any(|(c, s)| Some(*c) == code && *s == status);
    prop_assert!(
        known,
        "{}: unknown code or status: {} {}",
        what,
        status,
        text
    );
    Ok(())
}

/// Sends `body`, any bytes, to `operation`'s route with the session `token` and the
/// `{id}` `device`, through the dispatcher every entry point goes through.
pub async fn send(
    m: &Machine,
    operation: Operation,
    token: &str,
    device: &str,
    body: Vec<u8>,
) -> Answer {
    let route = operation.route();
    let request = lambda_http::http::Request::builder()
        .method(route.method)
        // The path parameter is what the route reads; the URI only has to be one.
        .uri(route.path.replace("{id}", "_"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(lambda_http::Body::Binary(body))
        .unwrap()
        .with_path_parameters(HashMap::from([("id".to_owned(), device.to_owned())]));
    let (parts, body) = latchkey::handle(&m.app, operation, request)
        .await
        .into_parts();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: body.as_ref().to_vec(),
    }
}

/// The code and status of every error the service can answer.
fn every_error() -> &'static [(&'static str, u16)] {
    static ALL: OnceLock<Vec<(&'static str, u16)>> = OnceLock::new();
    ALL.get_or_init(|| {
        latchkey_tests::openapi::every_error()
            .iter()
            .map(|e: &Error| (e.code(), e.status()))
            .collect()
    })
}
