//! Security keys: registration and login with the software authenticator, a replayed
//! assertion refused, and a login challenge that answers one finish only, in turn or at
//! once.

use super::harness::{text, token, Machine, ORIGIN, RP_ID};
use super::interleaving::Plan;
use crate::support::Response;
use latchkey::Operation;
use serde_json::{json, Value};

// webauthn.rs's soft authenticator, included here too rather than made public there.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../webauthn/authenticator.rs"]
mod authenticator;

pub use authenticator::{creation_options, SoftAuthenticator};

/// Registers a new credential of `key` through `token` (with `body`: a password once the
/// account is protected); the confirm answer's body.
pub async fn register_key(
    m: &Machine,
    token: &str,
    key: &mut SoftAuthenticator,
    body: Value,
) -> Value {
    let r = m
        .call_as(Operation::StartWebauthnRegistration, token, body)
        .await
        .expect(200);
    let id = text(&r.body["registration_id"]);
    let credential = key.create(&r.body["publicKey"]).expect("not excluded");
    m.call_as(
        Operation::ConfirmWebauthnRegistration,
        token,
        json!({ "registration_id": id, "credential": credential }),
    )
    .await
    .expect(201)
    .body
}

async fn start(m: &Machine, mfa: &str) -> Value {
    let r = m
        .call(Operation::LoginWebauthnStart, json!({ "mfa_token": mfa }))
        .await
        .expect(200);
    r.body["publicKey"].clone()
}

async fn finish(m: &Machine, mfa: &str, credential: &Value) -> Response {
    m.call(
        Operation::LoginWebauthnFinish,
        json!({ "mfa_token": mfa, "credential": credential }),
    )
    .await
}

/// A new user whose first device is a security key of `key`; the (now full) session.
async fn user_with_key(m: &Machine, username: &str, key: &mut SoftAuthenticator) -> String {
    m.signup(username).await;
    let session = m.setup_session(username).await;
    register_key(m, &session, key, json!({})).await;
    session
}

#[tokio::test]
async fn a_security_key_registers_and_signs_in() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::new(ORIGIN);
    m.signup("vera").await;
    let session = m.setup_session("vera").await;

    let r = m
        .call_as(Operation::StartWebauthnRegistration, &session, json!({}))
        .await
        .expect(200);
    assert_eq!(r.body["publicKey"]["rp"]["id"], RP_ID);
    let id = text(&r.body["registration_id"]);
    let credential = key.create(&r.body["publicKey"]).unwrap();
    let confirm = json!({ "registration_id": id, "credential": credential });
    let r = m
        .call_as(
            Operation::ConfirmWebauthnRegistration,
            &session,
            confirm.clone(),
        )
        .await
        .expect(201);
    assert_eq!(r.body["device"]["type"], "webauthn");
    assert_eq!(r.body["recovery_codes"].as_array().unwrap().len(), 10);
    assert_eq!(m.scope(&session).await, "full");
    // The registration's ceremony answers once.
    m.call_as(Operation::ConfirmWebauthnRegistration, &session, confirm)
        .await
        .expect_error(409, "registration_used");

    let login = m.login_as("vera", "mfa_required").await;
    assert_eq!(login["methods"], json!(["webauthn", "recovery_code"]));
    let mfa = text(&login["mfa_token"]);
    let options = start(&m, &mfa).await;
    assert_eq!(options["rpId"], RP_ID);
    assert_eq!(options["userVerification"], "required");
    let r = finish(&m, &mfa, &key.get(&options)).await.expect(200);
    assert_eq!(r.body["status"], "authenticated");
    assert_eq!(m.scope(&token(&r.body)).await, "full");
    let devices = m.devices(&session).await;
    assert_eq!(devices[0]["last_used_at"], m.now().rfc3339());
}

#[tokio::test]
async fn a_replayed_assertion_is_refused() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::new(ORIGIN);
    user_with_key(&m, "wren", &mut key).await;
    let first = m.mfa_token("wren").await;
    let used = key.get(&start(&m, &first).await);
    finish(&m, &first, &used).await.expect(200);

    // On the spent login, and against the next login's fresh challenge.
    finish(&m, &first, &used)
        .await
        .expect_error(401, "invalid_mfa_token");
    let second = m.mfa_token("wren").await;
    start(&m, &second).await;
    finish(&m, &second, &used)
        .await
        .expect_error(401, "invalid_credentials");
    // Refused and counted, not fatal: a fresh challenge and a fresh assertion sign in.
    let options = start(&m, &second).await;
    finish(&m, &second, &key.get(&options)).await.expect(200);
}

#[tokio::test]
async fn a_login_challenge_answers_one_finish() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::new(ORIGIN);
    user_with_key(&m, "xena", &mut key).await;

    // A refused assertion spends the challenge: the right one for it comes too late.
    let mfa = m.mfa_token("xena").await;
    let options = start(&m, &mfa).await;
    let counter = key.credentials[0].counter + 1;
    let stray = key.sign(RP_ID, "c29tZSBvdGhlciBjaGFsbGVuZ2U", 0, counter);
    finish(&m, &mfa, &stray)
        .await
        .expect_error(401, "invalid_credentials");
    let right = key.get(&options);
    finish(&m, &mfa, &right)
        .await
        .expect_error(401, "invalid_credentials");
    finish(&m, &mfa, &key.get(&start(&m, &mfa).await))
        .await
        .expect(200);

    // Two valid assertions for one challenge, both read with the login before either is
    // written: one signs in, the other finds the login spent.
    let mfa = m.mfa_token("xena").await;
    let options = start(&m, &mfa).await;
    let (one, two) = (key.get(&options), key.get(&options));
    let plan = m.store.arm(Plan::reads_together("MFA", 2));
    let (a, b) = futures::join!(finish(&m, &mfa, &one), finish(&m, &mfa, &two));
    m.store.disarm();
    assert_eq!(
        plan.clashes(),
        1,
        "the loser's write found the item changed"
    );
    let mut answers = [
        (a.status.as_u16(), a.code().to_owned()),
        (b.status.as_u16(), b.code().to_owned()),
    ];
    answers.sort();
    assert_eq!(
        answers,
        [(200, String::new()), (401, "invalid_mfa_token".to_owned())],
        "{} {}",
        a.body,
        b.body
    );
}
