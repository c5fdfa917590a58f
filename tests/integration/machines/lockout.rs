//! The account lock: ten failures of either login step lock it for fifteen minutes, only a
//! complete login clears the count, and attempts that all read the unlocked profile are
//! decided when they are written, so no more than ten are ever judged (password and
//! second factor alike). The bursts through the dev server on moto are in
//! `tests/integration/lockout.rs`.

use super::harness::{statuses, Machine};
use super::interleaving::{checks_a_version, spends_a_login, Plan};
use crate::support::{Response, PASSWORD};
use futures::future::join_all;

async fn wrong_password(m: &Machine, username: &str) {
    m.login(username, "wrong password")
        .await
        .expect_error(401, "invalid_credentials");
}

#[track_caller]
fn locked_for(r: Response, seconds: u64) {
    let r = r.expect_error(429, "too_many_attempts");
    assert_eq!(
        r.headers["retry-after"].to_str().unwrap(),
        seconds.to_string()
    );
}

#[tokio::test]
async fn ten_wrong_passwords_lock_the_account_for_fifteen_minutes() {
    let m = Machine::new();
    m.user_with_totp("lea").await;
    for _ in 0..10 {
        wrong_password(&m, "lea").await;
    }
    locked_for(m.login("lea", PASSWORD).await, 900);
    m.advance(899);
    locked_for(m.login("lea", PASSWORD).await, 1);
    m.advance(1);
    m.login_as("lea", "mfa_required").await;
}

#[tokio::test]
async fn failures_of_both_steps_count_toward_one_lock() {
    let m = Machine::new();
    let (_, secret, _) = m.user_with_totp("max").await;
    for _ in 0..4 {
        wrong_password(&m, "max").await;
    }
    // A right password does not clear the count; five wrong codes end this login.
    let first = m.mfa_token("max").await;
    for _ in 0..5 {
        m.totp_login(&first, &m.wrong_code(&secret))
            .await
            .expect_error(401, "invalid_code");
    }
    let second = m.mfa_token("max").await;
    m.totp_login(&second, &m.wrong_code(&secret))
        .await
        .expect_error(401, "invalid_code");
    // The tenth failure locked the account: the right code and the right password too.
    locked_for(m.totp_login(&second, &m.code(&secret)).await, 900);
    locked_for(m.login("max", PASSWORD).await, 900);
}

#[tokio::test]
async fn only_a_complete_login_clears_the_count() {
    let m = Machine::new();
    let (_, secret, _) = m.user_with_totp("ned").await;
    for _ in 0..9 {
        wrong_password(&m, "ned").await;
    }
    let mfa = m.mfa_token("ned").await;
    wrong_password(&m, "ned").await;
    locked_for(m.login("ned", PASSWORD).await, 900);
    locked_for(m.totp_login(&mfa, &m.code(&secret)).await, 900);

    m.advance(900);
    for _ in 0..9 {
        wrong_password(&m, "ned").await;
    }
    let mfa = m.mfa_token("ned").await;
    m.totp_login(&mfa, &m.code(&secret)).await.expect(200);
    for _ in 0..9 {
        wrong_password(&m, "ned").await;
    }
    m.login_as("ned", "mfa_required").await;
}

/// Uncontended, an outcome commits at the first try: a right password after nine wrong
/// ones still signs in.
#[tokio::test]
async fn nine_failures_then_the_right_password_signs_in() {
    let m = Machine::new();
    m.signup("dave").await;
    for _ in 0..9 {
        wrong_password(&m, "dave").await;
    }
    m.login_as("dave", "mfa_setup_required").await;
}

/// Twelve wrong passwords and one right one read the same unlocked profile; the right one
/// writes last. Exactly ten wrong ones are judged; the other two, and the right password,
/// answer 429, because the lock came before their outcome was written.
#[tokio::test]
async fn passwords_that_read_an_unlocked_profile_are_decided_when_written() {
    let m = Machine::new();
    m.signup("carol").await;
    let wrong = 12;
    let plan = m
        .store
        .arm(Plan::reads_together("PROFILE", wrong + 1).holding(checks_a_version, 10));
    let mut attempts: Vec<_> = (0..wrong)
        .map(|_| m.login("carol", "wrong password"))
        .collect();
    attempts.push(m.login("carol", PASSWORD));
    let mut answers = join_all(attempts).await;
    m.store.disarm();
    assert!(plan.clashes() > 0, "the attempts raced");
    let right = answers.pop().unwrap();
    assert_eq!(
        (right.status.as_u16(), right.code()),
        (429, "too_many_attempts"),
        "the right password, decided after the lock: {}",
        right.body
    );
    assert_eq!(
        statuses(&answers),
        [vec![401; 10], vec![429; 2]].concat(),
        "ten judged, then the lock"
    );
}

/// The second-factor variant: twelve wrong codes on four logins and a right code on a
/// fifth, all read against the same unlocked profile, the success written last. Ten wrong
/// codes are judged, and everything decided after them is 429.
#[tokio::test]
async fn second_factors_that_read_an_unlocked_profile_are_decided_when_written() {
    let m = Machine::new();
    let (_, secret, _) = m.user_with_totp("ezra").await;
    let mut logins = Vec::new();
    for _ in 0..5 {
        logins.push(m.mfa_token("ezra").await);
    }
    let (wrong, right) = (m.wrong_code(&secret), m.code(&secret));
    let plan = m
        .store
        .arm(Plan::reads_together("PROFILE", 13).holding(spends_a_login, 10));
    let mut attempts: Vec<_> = logins[..4]
        .iter()
        .flat_map(|mfa| [mfa, mfa, mfa])
        .map(|mfa| m.totp_login(mfa, &wrong))
        .collect();
    attempts.push(m.totp_login(&logins[4], &right));
    let mut answers = join_all(attempts).await;
    m.store.disarm();
    assert!(plan.clashes() > 0, "the attempts raced");
    let right = answers.pop().unwrap();
    assert_eq!(
        (right.status.as_u16(), right.code()),
        (429, "too_many_attempts"),
        "the right code, decided after the lock: {}",
        right.body
    );
    assert_eq!(statuses(&answers), [vec![401; 10], vec![429; 2]].concat());
    for r in answers.iter().filter(|r| r.status == 401) {
        assert_eq!(r.code(), "invalid_code");
    }
    locked_for(m.login("ezra", PASSWORD).await, 900);
}
