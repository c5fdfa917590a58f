//! The account lock under concurrency: however many attempts arrive together, at most ten
//! wrong passwords are judged (401) before the lock, and every attempt decided after it
//! answers 429, right password or not. Login and re-authentication alike.
//!
//! Two layers: a real burst through the dev server on moto (store calls one at a time, so
//! requests interleave between their read and their write, as on DynamoDB), and an
//! in-process walk on the memory store whose wrapper forces the interleaving that matters:
//! every attempt reads the same unlocked profile before any of them writes.

use crate::support::{TestEnv, PASSWORD};
use futures::future::join_all;
use latchkey::clock::{Instant, ManualClock};
use latchkey::notify::NoNotifier;
use latchkey::random::SystemRandom;
use latchkey::store::memory::MemoryStore;
use latchkey::store::{Item, Key, Store, StoreError, Write};
use latchkey::{App, Config, Operation};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

const BURST: usize = 40;

fn tally(statuses: &[u16]) -> (usize, usize, usize) {
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    (
        count(401),
        count(429),
        statuses.len() - count(401) - count(429),
    )
}

/// A burst of wrong passwords: each answered 401 (judged) or 429 (decided after the lock,
/// with its Retry-After), and no more than ten judged.
#[track_caller]
fn at_most_ten_judged(answers: &[crate::support::Response]) {
    let statuses: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    let (judged, _, other) = tally(&statuses);
    assert_eq!(other, 0, "only 401 and 429: {statuses:?}");
    assert!(
        judged <= 10,
        "{judged} wrong passwords judged: {statuses:?}"
    );
    for r in answers.iter().filter(|r| r.status == 429) {
        assert!(r.headers.contains_key("retry-after"));
    }
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_at_login_is_judged_ten_times_at_most() {
    let env = TestEnv::start().await;
    env.signup("burst-login").await;
    let answers = join_all((0..BURST).map(|_| env.login("burst-login", "wrong password"))).await;
    at_most_ten_judged(&answers);
    // Whatever the burst's order, ten failures locked the account: the right password too
    // is 429 now.
    env.login("burst-login", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_through_a_session_is_judged_ten_times_at_most() {
    let env = TestEnv::start().await;
    let token = crate::settings::user_with_totp(&env, "burst-sudo-2")
        .await
        .0;
    let answers = join_all((0..BURST).map(|_| {
        env.post_auth(
            "/v1/session/reauthenticate",
            &token,
            json!({ "password": "wrong password" }),
        )
    }))
    .await;
    at_most_ten_judged(&answers);
    env.post_auth(
        "/v1/session/reauthenticate",
        &token,
        json!({ "password": PASSWORD }),
    )
    .await
    .expect_error(429, "too_many_attempts");
    env.login("burst-sudo-2", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
}

/// The memory store which, once armed, holds every profile read until `readers` of them
/// have arrived, and any write that carries a condition check (a right password's outcome)
/// until `failures_first` other writes have landed.
struct Interleaving {
    inner: MemoryStore,
    armed: AtomicBool,
    reads: Barrier,
    reading: AtomicUsize,
    readers: usize,
    landed: AtomicUsize,
    failures_first: usize,
}

#[async_trait::async_trait]
impl Store for Interleaving {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let item = self.inner.get(key).await?;
        if self.armed.load(Ordering::SeqCst)
            && key.sk == "PROFILE"
            && self.reading.fetch_add(1, Ordering::SeqCst) < self.readers
        {
            self.reads.wait().await;
        }
        Ok(item)
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        self.inner.get_many(keys).await
    }
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let armed = self.armed.load(Ordering::SeqCst);
        if armed && writes.iter().any(|w| matches!(w, Write::Check { .. })) {
            for _ in 0..2000 {
                if self.landed.load(Ordering::SeqCst) >= self.failures_first {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let result = self.inner.write(writes).await;
        if armed && result.is_ok() {
            self.landed.fetch_add(1, Ordering::SeqCst);
        }
        result
    }
    async fn query_desc(
        &self,
        pk: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.inner.query_desc(pk, prefix, limit).await
    }
}

fn in_process_app(store: Arc<dyn Store>) -> App {
    let secret = latchkey::random::token::<32>(&SystemRandom::new()).unwrap();
    let vars = [
        ("LATCHKEY_MASTER_SECRET", secret.as_str()),
        ("LATCHKEY_ARGON2_MEMORY_KIB", "64"),
        ("LATCHKEY_ARGON2_ITERATIONS", "1"),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    App::new(
        config,
        store,
        Arc::new(NoNotifier),
        Arc::new(ManualClock::new(Instant::from_secs(crate::support::START))),
        Arc::new(SystemRandom::new()),
    )
    .unwrap()
}

async fn call(app: &App, operation: Operation, body: Value) -> (u16, Value) {
    let request = lambda_http::http::Request::builder()
        .method(operation.route().method)
        .uri(operation.route().path)
        .body(lambda_http::Body::Text(body.to_string()))
        .unwrap();
    let response = latchkey::handle(app, operation, request).await;
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (response.status().as_u16(), body)
}

/// Twelve wrong passwords and one right one read the same unlocked profile; the right one
/// writes last. Exactly ten wrong ones are judged; the other two, and the right password,
/// answer 429, because the lock came before their outcome was written.
#[tokio::test]
async fn attempts_that_read_an_unlocked_profile_are_decided_when_written() {
    let wrong = 12;
    let store = Arc::new(Interleaving {
        inner: MemoryStore::new(),
        armed: AtomicBool::new(false),
        reads: Barrier::new(wrong + 1),
        reading: AtomicUsize::new(0),
        readers: wrong + 1,
        landed: AtomicUsize::new(0),
        failures_first: 10,
    });
    let app = in_process_app(store.clone());
    let credentials = |password: &str| json!({ "username": "carol", "password": password });
    assert_eq!(
        call(&app, Operation::CreateAccount, credentials(PASSWORD))
            .await
            .0,
        201
    );
    store.armed.store(true, Ordering::SeqCst);
    let mut attempts: Vec<_> = (0..wrong)
        .map(|_| call(&app, Operation::Login, credentials("wrong password")))
        .collect();
    attempts.push(call(&app, Operation::Login, credentials(PASSWORD)));
    let answers = join_all(attempts).await;
    let right = answers.last().unwrap();
    assert_eq!(
        (right.0, right.1["error"]["code"].as_str()),
        (429, Some("too_many_attempts")),
        "the right password, decided after the lock: {}",
        right.1
    );
    let statuses: Vec<u16> = answers[..wrong].iter().map(|a| a.0).collect();
    assert_eq!(tally(&statuses), (10, 2, 0), "{statuses:?}");
}

/// Uncontended, the outcome commits at the first try: a right password after nine wrong
/// ones still signs in, and clears the count.
#[tokio::test]
async fn nine_failures_then_the_right_password_signs_in() {
    let app = in_process_app(Arc::new(MemoryStore::new()));
    let credentials = |password: &str| json!({ "username": "dave", "password": password });
    call(&app, Operation::CreateAccount, credentials(PASSWORD)).await;
    for _ in 0..9 {
        assert_eq!(
            call(&app, Operation::Login, credentials("wrong password"))
                .await
                .0,
            401
        );
    }
    let (status, body) = call(&app, Operation::Login, credentials(PASSWORD)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("mfa_setup_required"))
    );
    for _ in 0..9 {
        assert_eq!(
            call(&app, Operation::Login, credentials("wrong password"))
                .await
                .0,
            401
        );
    }
}
