//! The account lock under concurrency: however many attempts arrive together, at most ten
//! wrong passwords are judged (401) before the lock, and every attempt decided after it
//! answers 429, right password or not. Login and re-authentication alike.
//!
//! Here, a real burst through the dev server on moto (store calls one at a time, so
//! requests interleave between their read and their write, as on DynamoDB). The
//! interleaving that matters, every attempt reading the same unlocked profile before any
//! of them writes, is forced in process in `machines/lockout.rs`, for passwords and second
//! factors.

use crate::support::{TestEnv, PASSWORD};
use futures::future::join_all;
use serde_json::json;

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
