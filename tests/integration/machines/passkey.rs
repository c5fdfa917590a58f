//! Passkey sign-in without a password: the discoverable ceremony from start to session,
//! and every way it is refused (replay, unknown credential or handle, spent or expired
//! login, no user verification, a cloned key, the lock), plus the race of two finishes
//! with one `login_id`.

use super::harness::{text, token, Machine, ORIGIN, RP_ID};
use super::interleaving::Plan;
use super::webauthn::{creation_options, register_key, SoftAuthenticator};
use crate::support::{Response, PASSWORD};
use latchkey::records::{self, profile_key, Profile};
use latchkey::store::{Expect, Store, Write};
use latchkey::Operation;
use serde_json::{json, Value};

/// A new user whose first device is a passkey of `key`; the (now full) session.
async fn user_with_passkey(m: &Machine, username: &str, key: &mut SoftAuthenticator) -> String {
    m.signup(username).await;
    let session = m.setup_session(username).await;
    register_key(m, &session, key, json!({})).await;
    session
}

/// The creation options of another WebAuthn registration (the password given for it).
async fn another_key_options(m: &Machine, session: &str) -> Value {
    let r = m
        .call_as(
            Operation::StartWebauthnRegistration,
            session,
            json!({ "password": PASSWORD }),
        )
        .await
        .expect(200);
    r.body["publicKey"].clone()
}

/// `(login_id, publicKey)` of a fresh passkey sign-in.
async fn start(m: &Machine) -> (String, Value) {
    let r = m
        .call(Operation::LoginPasskeyStart, json!({}))
        .await
        .expect(200);
    (text(&r.body["login_id"]), r.body["publicKey"].clone())
}

async fn finish(m: &Machine, login_id: &str, credential: &Value) -> Response {
    m.call(
        Operation::LoginPasskeyFinish,
        json!({ "login_id": login_id, "credential": credential }),
    )
    .await
}

/// A whole passkey sign-in with credential `index` of `key`.
async fn sign_in(m: &Machine, key: &mut SoftAuthenticator, index: usize) -> Response {
    let (login_id, options) = start(m).await;
    let assertion = key.discover(&options, index).expect("a resident key");
    finish(m, &login_id, &assertion).await
}

/// The password, then `key` as the second factor: signed in.
async fn second_factor_login(m: &Machine, username: &str, key: &mut SoftAuthenticator) {
    let mfa = m.mfa_token(username).await;
    let r = m
        .call(Operation::LoginWebauthnStart, json!({ "mfa_token": mfa }))
        .await
        .expect(200);
    let assertion = key.get(&r.body["publicKey"]);
    m.call(
        Operation::LoginWebauthnFinish,
        json!({ "mfa_token": mfa, "credential": assertion }),
    )
    .await
    .expect(200);
}

async fn events(m: &Machine, token: &str) -> Vec<Value> {
    let r = m
        .send(Operation::ListEvents, Some(token), None, Value::Null)
        .await
        .expect(200);
    r.body["events"].as_array().unwrap().clone()
}

/// `(type, detail)` of the account's sign-in events, sorted (the manual clock stands
/// still, and events of one millisecond have no order).
async fn sign_ins(m: &Machine, token: &str) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = events(m, token)
        .await
        .iter()
        .filter(|e| e["type"] == "login_succeeded" || e["type"] == "login_failed")
        .map(|e| {
            (
                text(&e["type"]),
                e["detail"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    all.sort();
    all
}

/// Rewrites `username`'s stored profile as JSON, bypassing the service.
async fn edit_profile(m: &Machine, username: &str, edit: impl FnOnce(&mut Value)) {
    let key = profile_key(username);
    let mut item = m.store.get(&key).await.unwrap().unwrap();
    let mut body: Value = serde_json::from_str(&item.body).unwrap();
    edit(&mut body);
    item.body = body.to_string();
    item.version += 1;
    m.store
        .write(vec![Write::Put {
            item,
            expect: Expect::Anything,
        }])
        .await
        .unwrap();
}

async fn profile(m: &Machine, username: &str) -> Profile {
    records::load::<Profile>(m.store.as_ref(), &profile_key(username))
        .await
        .unwrap()
        .unwrap()
        .value
}

#[tokio::test]
async fn a_passkey_signs_in_alone() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::with_resident_keys(ORIGIN);
    let session = user_with_passkey(&m, "pia", &mut key).await;
    assert_eq!(m.devices(&session).await[0]["passkey"], true);
    // Registrations ask for a discoverable credential, with user verification.
    let options = another_key_options(&m, &session).await;
    let selection = &options["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "preferred", "{selection}");
    assert_eq!(selection["userVerification"], "required");

    // Start: one login, no credentials named, user verification required.
    let r = m
        .call(Operation::LoginPasskeyStart, Value::Null)
        .await
        .expect(200);
    let mut fields: Vec<&str> = r
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    fields.sort();
    assert_eq!(fields, ["expires_at", "login_id", "publicKey"]);
    assert_eq!(r.body["expires_at"], m.now().plus_secs(300).rfc3339());
    let options = &r.body["publicKey"];
    assert!(options.get("allowCredentials").is_none(), "{options}");
    assert_eq!(options["userVerification"], "required");
    assert_eq!(options["rpId"], RP_ID);

    let assertion = key.discover(options, 0).unwrap();
    let r = finish(&m, &text(&r.body["login_id"]), &assertion)
        .await
        .expect(200);
    assert_eq!(r.body["status"], "authenticated");
    assert_eq!(r.body["session"]["scope"], "full");
    let signed_in = token(&r.body);
    assert_eq!(m.scope(&signed_in).await, "full");
    let devices = m.devices(&signed_in).await;
    assert_eq!(devices[0]["last_used_at"], m.now().rfc3339());
    let events = events(&m, &signed_in).await;
    let event = events
        .iter()
        .find(|e| e["type"] == "login_succeeded" && e["detail"] == "passkey")
        .expect("the sign-in is in the security log");
    assert_eq!(event["device_id"], devices[0]["id"]);
}

#[tokio::test]
async fn replayed_unknown_and_spent_are_refused_and_counted_on_the_owner() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::with_resident_keys(ORIGIN);
    let session = user_with_passkey(&m, "quin", &mut key).await;

    let (login_id, options) = start(&m).await;
    let used = key.discover(&options, 0).unwrap();
    finish(&m, &login_id, &used).await.expect(200);
    // The same login again: spent.
    finish(&m, &login_id, &used)
        .await
        .expect_error(401, "invalid_credentials");
    // The same assertion for a fresh challenge: refused, and counted on its owner.
    let (fresh, _) = start(&m).await;
    finish(&m, &fresh, &used)
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(profile(&m, "quin").await.failed_attempts, 1);
    // That refusal spent the fresh login too: its right answer comes too late.
    let (login_id, options) = start(&m).await;
    let right = key.discover(&options, 0).unwrap();
    finish(&m, &login_id, &right).await.expect(200);
    finish(&m, &login_id, &right)
        .await
        .expect_error(401, "invalid_credentials");

    // A key this account never registered, presenting its user handle: counted.
    let mut other = SoftAuthenticator::with_resident_keys(ORIGIN);
    other
        .create(&creation_options(RP_ID, &key.credentials[0].user_handle))
        .unwrap();
    let (login_id, options) = start(&m).await;
    finish(&m, &login_id, &other.discover(&options, 0).unwrap())
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(
        profile(&m, "quin").await.failed_attempts,
        1,
        "a success cleared it"
    );
    // A handle no account has: refused, nobody to count it on.
    let mut nobody = SoftAuthenticator::with_resident_keys(ORIGIN);
    nobody.create(&creation_options(RP_ID, &[7; 16])).unwrap();
    let (login_id, options) = start(&m).await;
    finish(&m, &login_id, &nobody.discover(&options, 0).unwrap())
        .await
        .expect_error(401, "invalid_credentials");
    // Unknown and expired logins.
    finish(&m, "no-such-login", &right)
        .await
        .expect_error(401, "invalid_credentials");
    let (login_id, options) = start(&m).await;
    m.advance(300);
    finish(&m, &login_id, &key.discover(&options, 0).unwrap())
        .await
        .expect_error(401, "invalid_credentials");

    // Only what named this account was counted on it: a handle of nobody's, an unknown or
    // expired login were not.
    assert_eq!(
        sign_ins(&m, &session).await,
        [
            ("login_failed", "passkey: assertion refused"),
            ("login_failed", "passkey: unknown credential"),
            ("login_succeeded", "passkey"),
            ("login_succeeded", "passkey"),
            ("login_succeeded", "setup required"),
        ]
        .map(|(kind, detail)| (kind.to_owned(), detail.to_owned()))
    );
}

#[tokio::test]
async fn failures_lock_the_owner_and_a_locked_account_answers_429() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::with_resident_keys(ORIGIN);
    user_with_passkey(&m, "rhea", &mut key).await;
    let counter = key.credentials[0].counter + 1;
    for _ in 0..10 {
        let (login_id, _) = start(&m).await;
        // Signed over another challenge: a bad signature for this login.
        let wrong = key.sign(RP_ID, "c29tZSBvdGhlciBjaGFsbGVuZ2U", 0, counter);
        finish(&m, &login_id, &wrong)
            .await
            .expect_error(401, "invalid_credentials");
    }
    let r = sign_in(&m, &mut key, 0)
        .await
        .expect_error(429, "too_many_attempts");
    assert_eq!(r.headers["retry-after"].to_str().unwrap(), "900");
    // The password is locked out too: one lock for the account.
    m.login("rhea", PASSWORD)
        .await
        .expect_error(429, "too_many_attempts");
    m.advance(900);
    sign_in(&m, &mut key, 0).await.expect(200);
    assert_eq!(profile(&m, "rhea").await.failed_attempts, 0);
}

#[tokio::test]
async fn user_verification_is_required_at_registration_and_at_sign_in() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::with_resident_keys(ORIGIN);
    user_with_passkey(&m, "sage", &mut key).await;

    // An assertion without the UV flag.
    key.user_verification = false;
    sign_in(&m, &mut key, 0)
        .await
        .expect_error(401, "invalid_credentials");
    key.user_verification = true;
    sign_in(&m, &mut key, 0).await.expect(200);

    // A credential stored as registered without user verification (as one registered
    // before user verification was required would be): refused, even with UV now.
    edit_profile(&m, "sage", |profile| {
        profile["devices"][0]["secret"]["credential"]["cred"]["user_verified"] = json!(false);
        profile["devices"][0]["secret"]["credential"]["cred"]["registration_policy"] =
            json!("preferred");
    })
    .await;
    sign_in(&m, &mut key, 0)
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(profile(&m, "sage").await.failed_attempts, 1);
}

#[tokio::test]
async fn a_counter_that_went_back_flags_the_key_and_refuses_it() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::with_resident_keys(ORIGIN);
    let session = user_with_passkey(&m, "tara", &mut key).await;
    sign_in(&m, &mut key, 0).await.expect(200);
    sign_in(&m, &mut key, 0).await.expect(200);

    // A copy of the key, one signature behind.
    let (login_id, options) = start(&m).await;
    let stale = key.credentials[0].counter - 1;
    let cloned = key.sign(RP_ID, options["challenge"].as_str().unwrap(), 0, stale);
    finish(&m, &login_id, &cloned)
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(m.devices(&session).await[0]["warning"], "possible_clone");
    // Refused from now on, whatever the counter.
    sign_in(&m, &mut key, 0)
        .await
        .expect_error(401, "invalid_credentials");
    let failures: Vec<_> = sign_ins(&m, &session)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "login_failed")
        .collect();
    assert_eq!(
        failures,
        vec![
            (
                "login_failed".to_owned(),
                "passkey: possible_clone".to_owned()
            );
            2
        ]
    );
}

#[tokio::test]
async fn an_account_without_mfa_signs_in_with_its_passkey() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::with_resident_keys(ORIGIN);
    let session = user_with_passkey(&m, "uma", &mut key).await;
    m.call_as(
        Operation::UpdateMfaSettings,
        &session,
        json!({ "mfa_enabled": false, "password": PASSWORD }),
    )
    .await
    .expect(200);
    let r = sign_in(&m, &mut key, 0).await.expect(200);
    assert_eq!(r.body["session"]["scope"], "full");
}

#[tokio::test]
async fn a_key_without_resident_credentials_is_no_passkey_but_a_second_factor() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::new(ORIGIN);
    let session = user_with_passkey(&m, "vida", &mut key).await;
    assert_eq!(m.devices(&session).await[0]["passkey"], false);
    let (_, options) = start(&m).await;
    assert!(key.discover(&options, 0).is_none(), "nothing to discover");

    second_factor_login(&m, "vida", &mut key).await;
}

#[tokio::test]
async fn a_handle_made_before_passkey_sign_in_gets_its_lookup_at_the_next_key_login() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::with_resident_keys(ORIGIN);
    user_with_passkey(&m, "wynn", &mut key).await;
    forget_lookup(&m, "wynn").await;
    sign_in(&m, &mut key, 0)
        .await
        .expect_error(401, "invalid_credentials");

    // The key as a second factor writes the lookup; from then on it signs in alone.
    second_factor_login(&m, "wynn", &mut key).await;
    assert!(profile(&m, "wynn").await.webauthn_user_indexed);
    sign_in(&m, &mut key, 0).await.expect(200);
}

#[tokio::test]
async fn a_handle_made_before_passkey_sign_in_gets_its_lookup_at_the_next_registration() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::with_resident_keys(ORIGIN);
    let session = user_with_passkey(&m, "yara", &mut key).await;
    let handle = forget_lookup(&m, "yara").await;
    // Starting a registration writes it, and keeps the handle the keys already carry.
    assert_eq!(
        another_key_options(&m, &session).await["user"]["id"],
        creation_options(RP_ID, &handle)["user"]["id"]
    );
    assert!(profile(&m, "yara").await.webauthn_user_indexed);
    sign_in(&m, &mut key, 0).await.expect(200);
}

/// Makes `username` as an account stored before handle lookups existed: its handle, no
/// lookup item, and a profile that says so. Returns the handle's bytes.
async fn forget_lookup(m: &Machine, username: &str) -> Vec<u8> {
    let handle = profile(m, username).await.webauthn_user_id.unwrap();
    m.store
        .write(vec![Write::Delete {
            key: records::webauthn_user_key(&handle),
            expect: Expect::Anything,
        }])
        .await
        .unwrap();
    edit_profile(m, username, |p| p["webauthn_user_indexed"] = json!(false)).await;
    handle.as_bytes().to_vec()
}

#[tokio::test]
async fn two_finishes_with_one_login_id_exactly_one_wins() {
    let m = Machine::new();
    let mut key = SoftAuthenticator::with_resident_keys(ORIGIN);
    user_with_passkey(&m, "xavi", &mut key).await;
    let (login_id, options) = start(&m).await;
    let (one, two) = (
        key.discover(&options, 0).unwrap(),
        key.discover(&options, 0).unwrap(),
    );
    // Both read the login before either writes.
    let plan = m.store.arm(Plan::reads_together("PASSKEY", 2));
    let (a, b) = futures::join!(finish(&m, &login_id, &one), finish(&m, &login_id, &two));
    m.store.disarm();
    assert!(
        plan.clashes() >= 1,
        "the loser's write found the login changed"
    );
    let mut answers = [
        (a.status.as_u16(), a.code().to_owned()),
        (b.status.as_u16(), b.code().to_owned()),
    ];
    answers.sort();
    assert_eq!(
        answers,
        [
            (200, String::new()),
            (401, "invalid_credentials".to_owned())
        ],
        "{} {}",
        a.body,
        b.body
    );
}
