//! Each function's handler, driven with an API Gateway HTTP API (payload 2.0) event as
//! Lambda delivers it, answers exactly as the same request through the dev server.

use crate::support::{TestEnv, PASSWORD};
use base64::Engine;
use latchkey::ROUTES;
use reqwest::Method;
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("../fixtures/apigw-v2-event.json");

fn event(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
    base64: bool,
) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(FIXTURE).unwrap();
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    if let Some(token) = token {
        event["headers"]["authorization"] = json!(format!("Bearer {token}"));
    }
    if path.contains("/devices/") {
        let id = path.rsplit('/').next().unwrap();
        event["pathParameters"] = json!({ "id": id });
    }
    event["body"] = if base64 {
        json!(base64::engine::general_purpose::STANDARD.encode(body))
    } else {
        json!(body)
    };
    event["isBase64Encoded"] = json!(base64);
    lambda_http::request::from_str(&event.to_string())
        .expect("fixture parses as an API Gateway v2 event")
}

async fn via_lambda(
    env: &TestEnv,
    route: &latchkey::Route,
    request: lambda_http::Request,
) -> (u16, Value) {
    let response = latchkey::handle(&env.app, route.operation, request).await;
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (status, body)
}

/// An answer with what is new at every call (a passkey sign-in's `login_id` and
/// challenge) blanked, so that two calls can be compared.
fn without_randomness(mut body: Value) -> Value {
    for pointer in ["/login_id", "/publicKey/challenge"] {
        if let Some(value) = body.pointer_mut(pointer) {
            *value = json!("(random)");
        }
    }
    body
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "some-device-id")
}

#[tokio::test]
async fn every_route_answers_an_unauthenticated_event_as_the_dev_server_does() {
    let env = TestEnv::start().await;
    for route in ROUTES {
        let path = concrete(route.path);
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let dev = env.raw(method, &path, None, b"{}".to_vec()).await;
        let (status, body) =
            via_lambda(&env, route, event(route.method, &path, None, "{}", false)).await;
        assert_eq!(
            (status, without_randomness(body)),
            (dev.status.as_u16(), without_randomness(dev.body)),
            "{} {}",
            route.method,
            route.path
        );
        assert_ne!(status, 500, "{}", route.function);
    }
}

#[tokio::test]
async fn every_authenticated_route_answers_a_setup_session_as_the_dev_server_does() {
    let env = TestEnv::start().await;
    let token = env.signup_and_login("fixture-user").await;
    for route in ROUTES
        .iter()
        .filter(|r| r.operation.policy().access == latchkey::policy::Access::Full)
    {
        let path = concrete(route.path);
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let dev = env.raw(method, &path, Some(&token), b"{}".to_vec()).await;
        let (status, body) = via_lambda(
            &env,
            route,
            event(route.method, &path, Some(&token), "{}", false),
        )
        .await;
        assert_eq!(
            (status, &body),
            (dev.status.as_u16(), &dev.body),
            "{}",
            route.function
        );
        assert_eq!(status, 403, "{}", route.function);
    }
}

#[tokio::test]
async fn sign_up_and_login_work_from_lambda_events_including_base64_bodies() {
    let env = TestEnv::start().await;
    let create = ROUTES
        .iter()
        .find(|r| r.function == "create-account")
        .unwrap();
    let login = ROUTES.iter().find(|r| r.function == "login").unwrap();
    let body = json!({"username": "lambda-user", "password": PASSWORD}).to_string();
    let (status, answer) = via_lambda(
        &env,
        create,
        event("POST", "/v1/accounts", None, &body, true),
    )
    .await;
    assert_eq!((status, answer), (201, json!({"username": "lambda-user"})));
    let (status, _) = via_lambda(
        &env,
        create,
        event("POST", "/v1/accounts", None, &body, false),
    )
    .await;
    let dev = env
        .post("/v1/accounts", serde_json::from_str(&body).unwrap())
        .await;
    assert_eq!((status, dev.status.as_u16()), (409, 409));
    let (status, answer) =
        via_lambda(&env, login, event("POST", "/v1/login", None, &body, false)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "mfa_setup_required");
    let token = answer["session"]["token"].as_str().unwrap();
    // The session made through Lambda works through the dev server: same store, same rules.
    env.get("/v1/me", token).await.expect(200);
}
