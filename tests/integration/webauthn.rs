//! Security keys and passkeys over HTTP on moto, with a software authenticator
//! (`webauthn/authenticator.rs`): registration, login, exclusion, one-time states,
//! replays, the device limit and cloned-key detection.

mod authenticator;

use crate::support::{Response, TestEnv, PASSWORD};
use authenticator::{b64, InvalidStateError, SoftAuthenticator};
use latchkey::clock::Clock;
use serde_json::{json, Value};

fn origin(env: &TestEnv) -> String {
    env.base.replace("127.0.0.1", "localhost")
}

fn authenticator(env: &TestEnv) -> SoftAuthenticator {
    SoftAuthenticator::new(&origin(env))
}

/// Starts a registration, giving the password so that a second key is let through too.
async fn start_registration(env: &TestEnv, token: &str) -> (String, Value) {
    let r = env
        .post_auth("/v1/mfa/webauthn", token, json!({ "password": PASSWORD }))
        .await
        .expect(200);
    let id = r.body["registration_id"].as_str().unwrap().to_owned();
    (id, r.body["publicKey"].clone())
}

async fn confirm(env: &TestEnv, token: &str, registration_id: &str, credential: Value) -> Response {
    env.post_auth(
        "/v1/mfa/webauthn/confirm",
        token,
        json!({ "registration_id": registration_id, "credential": credential }),
    )
    .await
}

/// Registers a new credential of `auth`; returns the confirm answer's body.
async fn register(env: &TestEnv, token: &str, auth: &mut SoftAuthenticator) -> Value {
    let (id, options) = start_registration(env, token).await;
    let credential = auth.create(&options).expect("not excluded");
    confirm(env, token, &id, credential).await.expect(201).body
}

/// A new user with one security key; returns the (now full) session token.
async fn user_with_key(env: &TestEnv, username: &str, auth: &mut SoftAuthenticator) -> String {
    let token = env.signup_and_login(username).await;
    register(env, &token, auth).await;
    token
}

async fn mfa_token(env: &TestEnv, username: &str) -> String {
    let r = env.login(username, PASSWORD).await.expect(200);
    assert_eq!(r.body["status"], "mfa_required", "{}", r.body);
    r.body["mfa_token"].as_str().unwrap().to_owned()
}

async fn login_start(env: &TestEnv, mfa: &str) -> Value {
    let r = env
        .post("/v1/login/webauthn/start", json!({ "mfa_token": mfa }))
        .await
        .expect(200);
    assert_eq!(r.body.as_object().unwrap().len(), 1, "{}", r.body);
    r.body["publicKey"].clone()
}

async fn login_finish(env: &TestEnv, mfa: &str, credential: Value) -> Response {
    env.post(
        "/v1/login/webauthn/finish",
        json!({ "mfa_token": mfa, "credential": credential }),
    )
    .await
}

async fn devices(env: &TestEnv, token: &str) -> Vec<Value> {
    env.get("/v1/mfa", token).await.expect(200).body["devices"]
        .as_array()
        .unwrap()
        .clone()
}

async fn events(env: &TestEnv, token: &str) -> Vec<Value> {
    env.get("/v1/mfa/events", token).await.expect(200).body["events"]
        .as_array()
        .unwrap()
        .clone()
}

/// Why each second factor was refused, sorted (events of one millisecond have no order).
fn failure_details(events: &[Value]) -> Vec<String> {
    let mut details: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "second_factor_failed")
        .map(|e| e["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    details.sort();
    details
}

#[tokio::test]
async fn registers_two_security_keys_and_logs_in_with_each() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("wanda").await;

    let (id, options) = start_registration(&env, &token).await;
    assert_eq!(
        options["rp"],
        json!({ "id": "localhost", "name": "Latchkey" })
    );
    assert_eq!(options["user"]["name"], "wanda");
    let user_id = authenticator::unb64(options["user"]["id"].as_str().unwrap());
    assert_eq!(user_id.len(), 16, "a random 128-bit user handle");
    assert!(authenticator::unb64(options["challenge"].as_str().unwrap()).len() >= 16);
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["attestation"], "none");
    assert!(options["excludeCredentials"]
        .as_array()
        .is_none_or(|list| list.is_empty()));

    let mut first = authenticator(&env);
    let credential = first.create(&options).unwrap();
    let body = confirm(&env, &token, &id, credential)
        .await
        .expect(201)
        .body;
    assert_eq!(body["device"]["type"], "webauthn");
    assert_eq!(body["device"]["name"], "Security key 1");
    assert_eq!(body["device"]["last_used_at"], Value::Null);
    assert!(body["device"].get("warning").is_none());
    let codes = body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    // The setup session became full with its first device.
    let me = env.get("/v1/me", &token).await.expect(200);
    assert_eq!(me.body["scope"], "full");
    env.get("/v1/mfa/events", &token).await.expect(200);

    // The second registration excludes the first credential and keeps the same user handle.
    let (id2, options2) = start_registration(&env, &token).await;
    let excluded: Vec<&str> = options2["excludeCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, vec![b64(&first.credentials[0].id)]);
    assert_eq!(options2["user"]["id"], options["user"]["id"]);
    let mut second = authenticator(&env);
    let credential = second.create(&options2).unwrap();
    let r = env
        .post_auth(
            "/v1/mfa/webauthn/confirm",
            &token,
            json!({ "registration_id": id2, "credential": credential, "name": "Backup key" }),
        )
        .await
        .expect(201);
    assert_eq!(r.body["device"]["name"], "Backup key");
    assert!(r.body.get("recovery_codes").is_none(), "{}", r.body);

    let mfa = env.get("/v1/mfa", &token).await.expect(200).body;
    assert_eq!(
        mfa["methods"][0],
        json!({"type": "webauthn", "registered": 2, "max": 10})
    );
    let ids: Vec<String> = mfa["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();

    for (index, auth) in [&mut first, &mut second].into_iter().enumerate() {
        // Events of one millisecond have no order among them.
        env.clock.advance_secs(1);
        let r = env.login("wanda", PASSWORD).await.expect(200);
        assert_eq!(r.body["methods"], json!(["webauthn", "recovery_code"]));
        let mfa = r.body["mfa_token"].as_str().unwrap().to_owned();
        let options = login_start(&env, &mfa).await;
        assert_eq!(options["rpId"], "localhost");
        assert_eq!(options["userVerification"], "required");
        assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 2);
        let assertion = auth.get(&options);
        let r = login_finish(&env, &mfa, assertion).await.expect(200);
        assert_eq!(r.body["status"], "authenticated");
        assert_eq!(r.body["session"]["scope"], "full");
        let session = r.body["session"]["token"].as_str().unwrap();
        let device = devices(&env, session)
            .await
            .into_iter()
            .find(|d| d["id"] == ids[index])
            .unwrap();
        assert_eq!(device["last_used_at"], env.clock.now().rfc3339());
        let latest = &events(&env, session).await[0];
        assert_eq!(latest["type"], "login_succeeded");
        assert_eq!(latest["device_id"], ids[index]);
    }
}

/// The user handle is stored with the first registration, under the profile's version:
/// first registrations started at once all get the one handle that was stored.
#[tokio::test]
async fn first_registrations_started_at_once_share_one_user_handle() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("wilma").await;
    let started = futures::future::join_all((0..4).map(|_| start_registration(&env, &token))).await;
    let (_, later) = start_registration(&env, &token).await;
    for (_, options) in &started {
        assert_eq!(options["user"]["id"], later["user"]["id"]);
    }
}

#[tokio::test]
async fn an_authenticator_is_registered_only_once() {
    let env = TestEnv::start().await;
    let mut auth = authenticator(&env);
    let token = user_with_key(&env, "xena", &mut auth).await;

    // A browser refuses the excluded authenticator itself...
    let (id, options) = start_registration(&env, &token).await;
    assert_eq!(auth.create(&options), Err(InvalidStateError));
    // ...and a client that ignores the exclusion is refused by the server.
    let again = auth.recreate(&options, 0);
    let r = confirm(&env, &token, &id, again)
        .await
        .expect_error(400, "invalid_request");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`credential`"));

    // Two registrations started before either was confirmed exclude nothing; confirmed
    // at once with the same authenticator, one lands and the other is refused.
    let other = env.signup_and_login("yuri").await;
    let mut shared = authenticator(&env);
    let (a, options_a) = start_registration(&env, &other).await;
    let (b, options_b) = start_registration(&env, &other).await;
    let credential_a = shared.create(&options_a).unwrap();
    let credential_b = shared.recreate(&options_b, 0);
    let (ra, rb) = tokio::join!(
        confirm(&env, &other, &a, credential_a),
        confirm(&env, &other, &b, credential_b)
    );
    let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 400], "{} / {}", ra.body, rb.body);
    assert_eq!(devices(&env, &token).await.len(), 1);
    assert_eq!(devices(&env, &other).await.len(), 1);
}

#[tokio::test]
async fn registrations_are_one_time_private_and_expire() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("zara").await;
    let mut auth = authenticator(&env);

    // A credential that does not verify is 400 and leaves the registration open.
    let (id, options) = start_registration(&env, &token).await;
    let mut wrong = options.clone();
    wrong["challenge"] = json!(b64(&[7u8; 32]));
    let bad = auth.create_ignoring_exclusions(&wrong);
    auth.credentials.clear();
    let r = confirm(&env, &token, &id, bad)
        .await
        .expect_error(400, "invalid_request");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`credential`"));
    let credential = auth.create(&options).unwrap();
    confirm(&env, &token, &id, credential.clone())
        .await
        .expect(201);

    // Used once.
    confirm(&env, &token, &id, credential)
        .await
        .expect_error(409, "registration_used");

    // Another user's registration does not exist for this one.
    let other = env.signup_and_login("zoe").await;
    let (theirs, their_options) = start_registration(&env, &other).await;
    let mut intruder = authenticator(&env);
    let credential = intruder.create(&their_options).unwrap();
    confirm(&env, &token, &theirs, credential.clone())
        .await
        .expect_error(404, "not_found");
    confirm(&env, &token, "no-such-registration", credential)
        .await
        .expect_error(404, "not_found");

    // Ten minutes, then gone.
    let (late, options) = start_registration(&env, &token).await;
    let credential = authenticator(&env).create(&options).unwrap();
    env.clock.advance_secs(10 * 60);
    confirm(&env, &token, &late, credential)
        .await
        .expect_error(410, "expired");

    // Strict bodies around the credential.
    env.post_auth("/v1/mfa/webauthn", &token, json!({ "nom": "x" }))
        .await
        .expect_error(400, "invalid_request");
    let r = env
        .post_auth(
            "/v1/mfa/webauthn/confirm",
            &token,
            json!({ "registration_id": late, "credential": { "id": "x" } }),
        )
        .await
        .expect_error(400, "invalid_request");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("credential"));
}

#[tokio::test]
async fn the_eleventh_security_key_is_one_too_many() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("yann").await;
    for n in 1..=10 {
        // One authenticator holds one credential per account: ten keys.
        let body = register(&env, &token, &mut authenticator(&env)).await;
        assert_eq!(body["device"]["name"], format!("Security key {n}"));
    }
    env.post_auth("/v1/mfa/webauthn", &token, json!({}))
        .await
        .expect_error(409, "method_limit_reached");
    let mfa = env.get("/v1/mfa", &token).await.expect(200).body;
    assert_eq!(
        mfa["methods"][0],
        json!({"type": "webauthn", "registered": 10, "max": 10})
    );
}

#[tokio::test]
async fn replayed_and_mismatched_assertions_are_refused() {
    let env = TestEnv::start().await;
    let mut auth = authenticator(&env);
    let token = user_with_key(&env, "vera", &mut auth).await;

    let mfa = mfa_token(&env, "vera").await;
    let options = login_start(&env, &mfa).await;
    let assertion = auth.get(&options);
    login_finish(&env, &mfa, assertion.clone())
        .await
        .expect(200);
    // The mfa_token is spent with its challenge.
    login_finish(&env, &mfa, assertion.clone())
        .await
        .expect_error(401, "invalid_mfa_token");

    // The same assertion against a new login's challenge.
    let mfa = mfa_token(&env, "vera").await;
    login_start(&env, &mfa).await;
    login_finish(&env, &mfa, assertion)
        .await
        .expect_error(401, "invalid_credentials");

    // An answer to a challenge that a second start replaced.
    let mfa = mfa_token(&env, "vera").await;
    let replaced = login_start(&env, &mfa).await;
    login_start(&env, &mfa).await;
    let stale = auth.get(&replaced);
    login_finish(&env, &mfa, stale)
        .await
        .expect_error(401, "invalid_credentials");

    // A genuine signature over a challenge the server never issued.
    let mfa = mfa_token(&env, "vera").await;
    login_start(&env, &mfa).await;
    let counter = auth.credentials[0].counter + 1;
    auth.credentials[0].counter = counter;
    let forged = auth.sign("localhost", &b64(&[9u8; 32]), 0, counter);
    login_finish(&env, &mfa, forged)
        .await
        .expect_error(401, "invalid_credentials");

    // A valid signature under another user's handle.
    let mfa = mfa_token(&env, "vera").await;
    let options2 = login_start(&env, &mfa).await;
    let mut imposter = auth.clone();
    imposter.credentials[0].user_handle = vec![1; 16];
    let wrong_user = imposter.get(&options2);
    login_finish(&env, &mfa, wrong_user)
        .await
        .expect_error(401, "invalid_credentials");

    // A credential the user never registered (under the user's own handle).
    let mfa = mfa_token(&env, "vera").await;
    let options3 = login_start(&env, &mfa).await;
    let mut stranger = authenticator(&env);
    stranger.create_ignoring_exclusions(&json!({
        "rp": {"id": "localhost"}, "challenge": b64(&[1; 32]),
        "user": {"id": b64(&auth.credentials[0].user_handle)},
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
    }));
    let unknown = stranger.get_with(&options3, 0);
    login_finish(&env, &mfa, unknown)
        .await
        .expect_error(401, "invalid_credentials");

    let refused = "security key: assertion refused";
    assert_eq!(
        failure_details(&events(&env, &token).await),
        [
            refused,
            refused,
            refused,
            refused,
            "security key: wrong user handle",
        ]
    );
    assert!(devices(&env, &token).await[0].get("warning").is_none());
}

#[tokio::test]
async fn a_refused_finish_spends_the_challenge_and_a_finish_wins_once() {
    let env = TestEnv::start().await;
    let mut auth = authenticator(&env);
    let token = user_with_key(&env, "uma", &mut auth).await;

    let mfa = mfa_token(&env, "uma").await;
    let options = login_start(&env, &mfa).await;
    let mut broken = auth.clone().get(&options);
    broken["response"]["signature"] = json!(b64(&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]));
    login_finish(&env, &mfa, broken)
        .await
        .expect_error(401, "invalid_credentials");
    // The challenge died with the refusal: a valid answer to it is refused too.
    let valid = auth.get(&options);
    login_finish(&env, &mfa, valid)
        .await
        .expect_error(401, "invalid_credentials");

    // A new start works on the same mfa_token.
    let options = login_start(&env, &mfa).await;
    let assertion = auth.get(&options);
    // Two finishes racing with one assertion: exactly one session.
    let (a, b) = tokio::join!(
        login_finish(&env, &mfa, assertion.clone()),
        login_finish(&env, &mfa, assertion)
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{} / {}", a.body, b.body);
    let loser = if a.status == 200 { b } else { a };
    loser.expect_error(401, "invalid_mfa_token");
    assert_eq!(
        failure_details(&events(&env, &token).await),
        [
            "security key: assertion refused",
            "security key: no challenge"
        ]
    );
}

#[tokio::test]
async fn a_cloned_authenticator_is_flagged_and_refused() {
    let env = TestEnv::start().await;
    let mut original = authenticator(&env);
    let token = user_with_key(&env, "tess", &mut original).await;
    let mut clone = original.clone();

    let mfa = mfa_token(&env, "tess").await;
    let options = login_start(&env, &mfa).await;
    let assertion = original.get(&options);
    login_finish(&env, &mfa, assertion).await.expect(200);

    // The copy signs correctly, but its counter is where the original's was.
    let mfa = mfa_token(&env, "tess").await;
    let options = login_start(&env, &mfa).await;
    let assertion = clone.get(&options);
    login_finish(&env, &mfa, assertion)
        .await
        .expect_error(401, "invalid_credentials");

    let device = devices(&env, &token).await.remove(0);
    assert_eq!(device["warning"], "possible_clone");
    let failure = events(&env, &token)
        .await
        .into_iter()
        .find(|e| e["type"] == "second_factor_failed")
        .unwrap();
    assert_eq!(failure["detail"], "possible_clone");
    assert_eq!(failure["device_id"], device["id"]);

    // A flagged key stays refused, even with a counter that moves on, until removed.
    let mfa = mfa_token(&env, "tess").await;
    let options = login_start(&env, &mfa).await;
    original.credentials[0].counter += 10;
    let assertion = original.get(&options);
    login_finish(&env, &mfa, assertion)
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(
        failure_details(&events(&env, &token).await),
        ["possible_clone", "possible_clone"]
    );
}

#[tokio::test]
async fn a_clone_is_caught_against_a_challenge_older_than_the_last_login() {
    let env = TestEnv::start().await;
    let mut original = authenticator(&env);
    let token = user_with_key(&env, "rhea", &mut original).await;
    let mut clone = original.clone();

    // The clone's login started first, so its challenge remembers the counter before
    // the original's login below moved it on.
    let early = mfa_token(&env, "rhea").await;
    let early_options = login_start(&env, &early).await;
    let late = mfa_token(&env, "rhea").await;
    let late_options = login_start(&env, &late).await;
    login_finish(&env, &late, original.get(&late_options))
        .await
        .expect(200);
    login_finish(&env, &early, clone.get(&early_options))
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(devices(&env, &token).await[0]["warning"], "possible_clone");
    assert_eq!(
        failure_details(&events(&env, &token).await),
        ["possible_clone"]
    );
}

#[tokio::test]
async fn without_a_security_key_webauthn_login_is_not_offered() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("opal").await;
    env.add_totp(&token, json!({})).await;

    let r = env.login("opal", PASSWORD).await.expect(200);
    assert_eq!(r.body["methods"], json!(["totp", "recovery_code"]));
    let mfa = r.body["mfa_token"].as_str().unwrap();
    env.post("/v1/login/webauthn/start", json!({ "mfa_token": mfa }))
        .await
        .expect_error(409, "method_not_registered");
    env.post("/v1/login/webauthn/start", json!({ "mfa_token": "nope" }))
        .await
        .expect_error(401, "invalid_mfa_token");
}

#[tokio::test]
async fn a_key_removed_while_a_login_waits_is_refused() {
    let env = TestEnv::start().await;
    let mut kept = authenticator(&env);
    let token = user_with_key(&env, "nell", &mut kept).await;
    let mut removed = authenticator(&env);
    register(&env, &token, &mut removed).await;
    let removed_id = devices(&env, &token).await[1]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The challenge was made while both keys were registered.
    let mfa = mfa_token(&env, "nell").await;
    let options = login_start(&env, &mfa).await;
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 2);
    env.call(
        reqwest::Method::DELETE,
        &format!("/v1/mfa/devices/{removed_id}"),
        Some(&token),
        Some(json!({ "password": PASSWORD })),
    )
    .await
    .expect(200);
    login_finish(&env, &mfa, removed.get(&options))
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(
        failure_details(&events(&env, &token).await),
        ["security key: unknown credential"]
    );
    // The refusal spent the challenge; a new one serves the remaining key.
    let options = login_start(&env, &mfa).await;
    assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 1);
    login_finish(&env, &mfa, kept.get(&options))
        .await
        .expect(200);
}

// Passkey sign-in without a password -------------------------------------------------------

/// `(login_id, publicKey)` of a fresh passkey sign-in.
async fn passkey_start(env: &TestEnv) -> (String, Value) {
    let r = env
        .post("/v1/login/passkey/start", json!({}))
        .await
        .expect(200);
    let login_id = r.body["login_id"].as_str().unwrap().to_owned();
    (login_id, r.body["publicKey"].clone())
}

async fn passkey_finish(env: &TestEnv, login_id: &str, credential: &Value) -> Response {
    env.post(
        "/v1/login/passkey/finish",
        json!({ "login_id": login_id, "credential": credential }),
    )
    .await
}

/// The account's failed-login count as stored.
async fn failed_attempts(env: &TestEnv, username: &str) -> u32 {
    let key = latchkey::records::profile_key(username);
    latchkey::records::load::<latchkey::records::Profile>(env.app.store.as_ref(), &key)
        .await
        .unwrap()
        .unwrap()
        .value
        .failed_attempts
}

#[tokio::test]
async fn a_passkey_signs_in_without_a_password_and_refusals_count() {
    let env = TestEnv::start().await;
    let mut key = SoftAuthenticator::with_resident_keys(&origin(&env));
    let token = env.signup_and_login("paz").await;
    let (id, options) = start_registration(&env, &token).await;
    assert_eq!(
        options["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    let credential = key.create(&options).unwrap();
    let device = confirm(&env, &token, &id, credential)
        .await
        .expect(201)
        .body;
    assert_eq!(device["device"]["passkey"], true);

    // Signed in with the passkey alone, scope full.
    let (login_id, options) = passkey_start(&env).await;
    assert!(options.get("allowCredentials").is_none(), "{options}");
    assert_eq!(options["userVerification"], "required");
    let used = key.discover(&options, 0).unwrap();
    let r = passkey_finish(&env, &login_id, &used).await.expect(200);
    assert_eq!(r.body["status"], "authenticated");
    assert_eq!(r.body["session"]["scope"], "full");
    let session = r.body["session"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        env.get("/v1/me", &session).await.expect(200).body["username"],
        "paz"
    );

    // The spent login_id, and the same assertion against a fresh challenge (a replay,
    // counted on its owner).
    passkey_finish(&env, &login_id, &used)
        .await
        .expect_error(401, "invalid_credentials");
    let (fresh, _) = passkey_start(&env).await;
    passkey_finish(&env, &fresh, &used)
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(failed_attempts(&env, "paz").await, 1);

    // A credential the account never registered, under its user handle: counted.
    let mut other = SoftAuthenticator::with_resident_keys(&origin(&env));
    other
        .create(&authenticator::creation_options(
            "localhost",
            &key.credentials[0].user_handle,
        ))
        .unwrap();
    let (login_id, options) = passkey_start(&env).await;
    passkey_finish(&env, &login_id, &other.discover(&options, 0).unwrap())
        .await
        .expect_error(401, "invalid_credentials");
    assert_eq!(failed_attempts(&env, "paz").await, 2);

    // No user verification at sign-in: refused.
    key.user_verification = false;
    let (login_id, options) = passkey_start(&env).await;
    passkey_finish(&env, &login_id, &key.discover(&options, 0).unwrap())
        .await
        .expect_error(401, "invalid_credentials");
    key.user_verification = true;
    assert_eq!(failed_attempts(&env, "paz").await, 3);

    // Seven more reach the lock; then even the right passkey gets 429.
    for _ in 0..7 {
        let (login_id, _) = passkey_start(&env).await;
        let counter = key.credentials[0].counter + 1;
        let wrong = key.sign("localhost", "c29tZSBvdGhlciBjaGFsbGVuZ2U", 0, counter);
        passkey_finish(&env, &login_id, &wrong)
            .await
            .expect_error(401, "invalid_credentials");
    }
    let (login_id, options) = passkey_start(&env).await;
    let r = passkey_finish(&env, &login_id, &key.discover(&options, 0).unwrap())
        .await
        .expect_error(429, "too_many_attempts");
    assert_eq!(r.headers["retry-after"].to_str().unwrap(), "900");

    let details: Vec<String> = events(&env, &session)
        .await
        .iter()
        .filter(|e| e["type"] == "login_failed")
        .map(|e| e["detail"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(details.len(), 10, "{details:?}");
    assert!(details.contains(&"passkey: unknown credential".to_owned()));
}

#[tokio::test]
async fn a_passkey_registered_without_user_verification_cannot_sign_in_alone() {
    let env = TestEnv::start().await;
    let mut key = SoftAuthenticator::with_resident_keys(&origin(&env));
    let token = user_with_key(&env, "quill", &mut key).await;
    // webauthn-rs refuses such a registration now: the credential is stored as one made
    // before user verification was required would be.
    let profile_key = latchkey::records::profile_key("quill");
    let mut item = env.app.store.get(&profile_key).await.unwrap().unwrap();
    let mut body: Value = serde_json::from_str(&item.body).unwrap();
    let cred = &mut body["devices"][0]["secret"]["credential"]["cred"];
    cred["user_verified"] = json!(false);
    cred["registration_policy"] = json!("preferred");
    item.body = body.to_string();
    item.version += 1;
    env.app
        .store
        .write(vec![latchkey::store::Write::Put {
            item,
            expect: latchkey::store::Expect::Anything,
        }])
        .await
        .unwrap();

    let (login_id, options) = passkey_start(&env).await;
    passkey_finish(&env, &login_id, &key.discover(&options, 0).unwrap())
        .await
        .expect_error(401, "invalid_credentials");
    // Events of one millisecond have no order: found by type.
    let failed: Vec<Value> = events(&env, &token)
        .await
        .into_iter()
        .filter(|e| e["type"] == "login_failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["detail"],
        "passkey: registered without user verification"
    );
}
