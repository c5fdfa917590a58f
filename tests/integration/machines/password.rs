//! The password change against a login that judged the old password: whichever writes
//! first, the old password never leaves a session behind.

use super::harness::{token, Machine};
use super::interleaving::{checks_a_version, Plan};
use crate::support::PASSWORD;
use latchkey::store::Write;
use latchkey::Operation;
use serde_json::json;

const NEW_PASSWORD: &str = "a new and longer passphrase";

/// A user who opted out of MFA (a right password is a full session), and the full
/// session that did it.
async fn user_without_mfa(m: &Machine, username: &str) -> String {
    let (session, _, _) = m.user_with_totp(username).await;
    m.call_as(
        Operation::UpdateMfaSettings,
        &session,
        json!({"mfa_enabled": false, "password": PASSWORD}),
    )
    .await
    .expect(200);
    session
}

async fn change(m: &Machine, session: &str) -> crate::support::Response {
    m.call_as(
        Operation::ChangePassword,
        session,
        json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await
}

/// Picks a write that replaces a profile (the password change's).
fn replaces_a_profile(writes: &[Write]) -> bool {
    writes
        .iter()
        .any(|w| matches!(w, Write::Put { item, .. } if item.key.sk == "PROFILE"))
}

/// Both read the same profile; the login's success is written after the change. It is
/// decided again on the changed profile, where the password it judged is no longer the
/// account's: 401.
#[tokio::test]
async fn a_login_with_the_old_password_written_after_the_change_is_refused() {
    let m = Machine::new();
    let session = user_without_mfa(&m, "kim").await;
    let plan = m
        .store
        .arm(Plan::reads_together("PROFILE", 2).holding(checks_a_version, 1));
    let (login, changed) = tokio::join!(m.login("kim", PASSWORD), change(&m, &session));
    m.store.disarm();
    assert!(
        plan.clashes() > 0,
        "the login's write met the changed profile"
    );
    changed.expect(200);
    login.expect_error(401, "invalid_credentials");
    assert_eq!(m.scope(&session).await, "full");
    m.login("kim", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    let r = m.login("kim", NEW_PASSWORD).await.expect(200);
    assert_eq!(r.body["status"], "authenticated");
}

/// Both read the same profile; the login's session is written first, and the change's
/// write finds the profile as it read it (the login only checked it). The session the old
/// password made is dead all the same: it belongs to the generation the change ended.
#[tokio::test]
async fn a_session_the_old_password_made_just_before_the_change_is_ended_by_it() {
    let m = Machine::new();
    let session = user_without_mfa(&m, "lou").await;
    let plan = m
        .store
        .arm(Plan::reads_together("PROFILE", 2).holding(replaces_a_profile, 1));
    let (login, changed) = tokio::join!(m.login("lou", PASSWORD), change(&m, &session));
    m.store.disarm();
    assert_eq!(plan.clashes(), 0, "both writes landed");
    let changed = changed.expect(200);
    let raced = token(&login.expect(200).body);
    assert_eq!(m.scope(&raced).await, "unauthenticated");
    assert_eq!(m.scope(&session).await, "full");
    assert!(changed.body["revoked_sessions"].as_u64().unwrap() <= 1);
    m.login("lou", PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
}

/// "Sign out everywhere else" against a login that lands just before it: the new session
/// is ended too, found by the Query or not.
#[tokio::test]
async fn signing_out_everywhere_else_ends_a_session_made_while_it_ran() {
    let m = Machine::new();
    let session = user_without_mfa(&m, "max").await;
    let plan = m
        .store
        .arm(Plan::reads_together("PROFILE", 2).holding(replaces_a_profile, 1));
    let (login, revoked) = tokio::join!(
        m.login("max", PASSWORD),
        m.call_as(Operation::RevokeOtherSessions, &session, json!({}))
    );
    m.store.disarm();
    assert_eq!(plan.clashes(), 0);
    revoked.expect(200);
    let raced = token(&login.expect(200).body);
    assert_eq!(m.scope(&raced).await, "unauthenticated");
    assert_eq!(m.scope(&session).await, "full");
}
