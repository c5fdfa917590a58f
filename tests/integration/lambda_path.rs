//! One user's journey through the real function binaries under `cargo lambda watch`:
//! sign-up, login, authenticator-app setup, a second-factor login, the settings page
//! (devices, rename, new recovery codes, the security log) and logout. The other tests
//! call the dev server, which links every operation into one process; this one goes
//! through the emulator's router (`[workspace.metadata.lambda.watch.router]`), the API
//! Gateway event each function receives, and each function's own `main`.
//!
//! Runs only when `LATCHKEY_LAMBDA_URL` names a running `cargo lambda watch`; otherwise it
//! passes with a printed reason. `scripts/lambda-journey` starts moto and watch, runs it,
//! checks that it ran, and checks watch's log for each function's own record of the
//! requests this test printed (`lambda-journey: <function> <status>`).

use crate::support::PASSWORD;
use latchkey::clock::{Clock, SystemClock};
use latchkey::Operation;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use totp_rs::{Algorithm, Secret, TOTP};

const URL_VAR: &str = "LATCHKEY_LAMBDA_URL";

struct Lambda {
    base: String,
    http: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    #[track_caller]
    fn expect(self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self.body
    }

    #[track_caller]
    fn expect_error(self, status: u16, code: &str) {
        let body = self.expect(status);
        assert_eq!(body["error"]["code"], code, "body: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error message: {body}"
        );
        assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");
        assert_eq!(
            body["error"].as_object().map(|o| o.len()),
            Some(2),
            "{body}"
        );
    }
}

impl Lambda {
    /// Calls `operation` at its route's path (`{id}` filled with `id`), as a browser would.
    async fn call(
        &self,
        operation: Operation,
        id: Option<&str>,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let route = operation.route();
        let path = match id {
            Some(id) => route.path.replace("{id}", id),
            None => route.path.to_owned(),
        };
        assert!(!path.contains('{'), "{path} needs a path parameter");
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("user-agent", "latchkey-lambda-journey");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {path}: no answer from watch: {e}", route.method));
        let status = response.status();
        let no_store = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let json = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = response.bytes().await.unwrap();
        // What scripts/lambda-journey matches against the functions' own log lines.
        println!("lambda-journey: {} {}", route.function, status.as_u16());
        assert_eq!(
            no_store.as_deref(),
            Some("no-store"),
            "{} {path}: Cache-Control",
            route.method
        );
        let body = if status == StatusCode::NO_CONTENT {
            assert!(
                bytes.is_empty(),
                "{} {path}: a 204 with a body",
                route.method
            );
            Value::Null
        } else {
            assert!(json, "{} {path}: not JSON ({status})", route.method);
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{} {path}: {e}: {}",
                    route.method,
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Answer { status, body }
    }
}

fn now_secs() -> i64 {
    SystemClock.now().secs()
}

fn totp_code(secret_base32: &str, step: i64) -> String {
    let bytes = Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .unwrap();
    assert_eq!(bytes.len(), 20, "a 160-bit secret");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, String::new())
        .generate(step as u64 * 30)
}

#[track_caller]
fn timestamp(value: &Value) -> &str {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    assert!(text.ends_with('Z'), "{text} is not in UTC");
    text
}

#[track_caller]
fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

#[track_caller]
fn session<'a>(answer: &'a Value, scope: &str) -> &'a str {
    let session = &answer["session"];
    assert_eq!(
        keys(session),
        BTreeSet::from(["token", "expires_at", "scope"])
    );
    assert_eq!(session["scope"], scope);
    timestamp(&session["expires_at"]);
    let token = session["token"].as_str().unwrap();
    assert!(token.len() >= 43, "a 256-bit token: {token}");
    token
}

#[track_caller]
fn recovery_codes(codes: &Value) -> BTreeSet<String> {
    let codes: BTreeSet<String> = codes
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {codes}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "ten distinct codes");
    for code in &codes {
        let groups: Vec<&str> = code.split('-').collect();
        assert!(
            groups.len() == 4
                && groups.iter().all(|g| g.len() == 5
                    && g.bytes()
                        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())),
            "recovery code format: {code}"
        );
    }
    codes
}

#[track_caller]
fn totp_device(device: &Value, name: &str) -> String {
    assert_eq!(
        keys(device),
        BTreeSet::from(["id", "type", "name", "created_at", "last_used_at"])
    );
    assert_eq!(device["type"], "totp");
    assert_eq!(device["name"], name);
    timestamp(&device["created_at"]);
    device["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn journey_through_the_function_binaries() {
    let Ok(base) = std::env::var(URL_VAR) else {
        println!(
            "skipped: {URL_VAR} is not set (scripts/lambda-journey starts cargo lambda watch and sets it)"
        );
        return;
    };
    let lambda = Lambda {
        base: base.trim_end_matches('/').to_owned(),
        // A function's first call under watch may compile it.
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(900))
            .build()
            .unwrap(),
    };
    // Fresh on each run, so a long-lived watch and table can be reused.
    let username = format!("journey-{}-{}", std::process::id(), SystemClock.now().0);

    // Sign-up, and the first login: MFA is on with no device yet.
    let created = lambda
        .call(
            Operation::CreateAccount,
            None,
            None,
            Some(json!({"username": username, "password": PASSWORD})),
        )
        .await
        .expect(201);
    assert_eq!(created, json!({"username": username}));
    let credentials = json!({"username": username, "password": PASSWORD});
    let first = lambda
        .call(Operation::Login, None, None, Some(credentials.clone()))
        .await
        .expect(200);
    assert_eq!(keys(&first), BTreeSet::from(["status", "session"]));
    assert_eq!(first["status"], "mfa_setup_required");
    let setup = session(&first, "setup").to_owned();

    // The authenticator app, registered by the setup session.
    let start = lambda
        .call(
            Operation::StartTotpRegistration,
            None,
            Some(&setup),
            Some(json!({"name": "Phone"})),
        )
        .await
        .expect(200);
    assert_eq!(
        keys(&start),
        BTreeSet::from([
            "registration_id",
            "secret",
            "otpauth_uri",
            "qr_svg",
            "expires_at"
        ])
    );
    let secret = start["secret"].as_str().unwrap().to_owned();
    let uri = start["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(start["qr_svg"].as_str().unwrap().contains("<svg"));
    timestamp(&start["expires_at"]);
    let confirm_step = now_secs().div_euclid(30);
    let confirmed = lambda
        .call(
            Operation::ConfirmTotpRegistration,
            None,
            Some(&setup),
            Some(json!({
                "registration_id": start["registration_id"],
                "code": totp_code(&secret, confirm_step),
            })),
        )
        .await
        .expect(201);
    assert_eq!(
        keys(&confirmed),
        BTreeSet::from(["device", "recovery_codes"])
    );
    let device_id = totp_device(&confirmed["device"], "Phone");
    assert_eq!(confirmed["device"]["last_used_at"], Value::Null);
    let first_codes = recovery_codes(&confirmed["recovery_codes"]);

    // Login with the second factor. The confirming code's step is spent, so the code is the
    // next step's when the clock has not moved on (one step of skew is allowed).
    let challenged = lambda
        .call(Operation::Login, None, None, Some(credentials.clone()))
        .await
        .expect(200);
    assert_eq!(
        keys(&challenged),
        BTreeSet::from(["status", "mfa_token", "expires_at", "methods"])
    );
    assert_eq!(challenged["status"], "mfa_required");
    assert_eq!(challenged["methods"], json!(["totp", "recovery_code"]));
    timestamp(&challenged["expires_at"]);
    let step = now_secs().div_euclid(30).max(confirm_step + 1);
    let signed_in = lambda
        .call(
            Operation::LoginTotp,
            None,
            None,
            Some(json!({
                "mfa_token": challenged["mfa_token"],
                "code": totp_code(&secret, step),
            })),
        )
        .await
        .expect(200);
    assert_eq!(keys(&signed_in), BTreeSet::from(["status", "session"]));
    assert_eq!(signed_in["status"], "authenticated");
    let token = session(&signed_in, "full").to_owned();
    assert_ne!(token, setup);

    // The settings page, with the new session.
    let settings = lambda
        .call(Operation::GetMfa, None, Some(&token), None)
        .await
        .expect(200);
    assert_eq!(settings["mfa_enabled"], true);
    assert_eq!(settings["mfa_setup_required"], false);
    let devices = settings["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{settings}");
    assert_eq!(totp_device(&devices[0], "Phone"), device_id);
    timestamp(&devices[0]["last_used_at"]);
    assert_eq!(settings["recovery_codes"]["remaining"], 10);
    timestamp(&settings["recovery_codes"]["generated_at"]);
    assert_eq!(
        settings["methods"],
        json!([
            {"type": "webauthn", "registered": 0, "max": 10},
            {"type": "totp", "registered": 1, "max": 1},
            {"type": "push", "registered": 0, "max": 1},
        ])
    );
    assert!(!settings.to_string().contains(&secret));

    let renamed = lambda
        .call(
            Operation::RenameDevice,
            Some(&device_id),
            Some(&token),
            Some(json!({"name": "Work phone"})),
        )
        .await
        .expect(200);
    assert_eq!(totp_device(&renamed, "Work phone"), device_id);

    // New recovery codes need the password again: signing in does not count.
    lambda
        .call(
            Operation::RegenerateRecoveryCodes,
            None,
            Some(&token),
            Some(json!({})),
        )
        .await
        .expect_error(403, "reauthentication_required");
    let regenerated = lambda
        .call(
            Operation::RegenerateRecoveryCodes,
            None,
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await
        .expect(200);
    assert_eq!(
        keys(&regenerated),
        BTreeSet::from(["codes", "generated_at"])
    );
    timestamp(&regenerated["generated_at"]);
    let new_codes = recovery_codes(&regenerated["codes"]);
    assert!(first_codes.is_disjoint(&new_codes));

    let log = lambda
        .call(Operation::ListEvents, None, Some(&token), None)
        .await
        .expect(200);
    let events = log["events"].as_array().unwrap();
    let mut seen: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["device_id"].as_str()))
        .collect();
    // The confirmation's two events share their second; their order in the log is not
    // part of the contract.
    if let Some(confirmation) = seen.get_mut(3..5) {
        confirmation.sort();
    }
    let device = Some(device_id.as_str());
    assert_eq!(
        seen,
        [
            ("recovery_codes_generated", None),
            ("device_renamed", device),
            ("login_succeeded", device),
            ("device_added", device),
            ("recovery_codes_generated", None),
            ("login_succeeded", None),
        ],
        "{log}"
    );
    for event in events {
        timestamp(&event["at"]);
        assert_eq!(event["user_agent"], "latchkey-lambda-journey", "{event}");
        assert!(event["ip"].is_string(), "{event}");
    }

    // Logout ends that session at once, and no other: the one that confirmed the app (full
    // since then) still answers.
    let out = lambda
        .call(Operation::Logout, None, Some(&token), None)
        .await
        .expect(204);
    assert_eq!(out, Value::Null);
    lambda
        .call(Operation::GetMfa, None, Some(&token), None)
        .await
        .expect_error(401, "unauthenticated");
    let other = lambda
        .call(Operation::GetMfa, None, Some(&setup), None)
        .await
        .expect(200);
    assert_eq!(other["devices"][0]["name"], "Work phone");
    println!("lambda-journey: complete");
}
