//! HTTP glue over `lambda_http`: strict JSON bodies, bearer tokens, client facts, and
//! [`error_response`], the one place an [`Error`] becomes a status and a JSON body.

use crate::error::{Error, Result};
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, RequestExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use lambda_http::{Request, Response};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parses the body as `T`, refusing unknown fields (the request types say
/// `deny_unknown_fields`), missing fields and wrong types with a message naming the field.
/// Messages never echo a value: the value might be a password.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid("the request body must be a JSON object"));
    }
    // serde would also read a struct from a JSON array; the contract speaks of objects.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
                Error::invalid("the request body must be a JSON object")
            } else {
                Error::invalid("the request body is not valid JSON")
            },
        );
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(describe)?;
    deserializer
        .end()
        .map_err(|_| Error::invalid("the request body has trailing characters after the JSON"))?;
    Ok(value)
}

fn describe(error: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = error.path().to_string();
    let inner = error.inner();
    if !inner.is_data() {
        return Error::invalid("the request body is not valid JSON");
    }
    let text = inner.to_string();
    let within = if path == "." || path.is_empty() {
        String::new()
    } else {
        format!(" in `{path}`")
    };
    for prefix in ["unknown field", "missing field"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let name = rest
                .split('`')
                .nth(1)
                .map(|n| n.chars().take(64).collect::<String>())
                .unwrap_or_default();
            let within = if prefix == "unknown field" {
                match path
                    .strip_suffix(name.as_str())
                    .map(|p| p.trim_end_matches('.'))
                {
                    Some("") | None => String::new(),
                    Some(parent) => format!(" in `{parent}`"),
                }
            } else {
                within
            };
            return Error::invalid(format!("{prefix} `{name}`{within}"));
        }
    }
    if path == "." || path.is_empty() {
        Error::invalid("the request body must be a JSON object")
    } else {
        Error::invalid(format!("field `{path}` has the wrong type or value"))
    }
}

/// The bearer token of the `Authorization` header, if there is one.
pub fn bearer_token(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn path_parameter(request: &Request, name: &str) -> Option<String> {
    request
        .path_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned)
}

/// Who is asking, as shown on the push prompt: the request being served
/// ([`crate::source`]).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    pub fn current() -> ClientInfo {
        let source = crate::source::current();
        ClientInfo {
            ip: source.ip.unwrap_or_else(|| "unknown".into()),
            user_agent: source
                .user_agent
                .unwrap_or_default()
                .chars()
                .take(256)
                .collect(),
        }
    }
}

fn base(status: u16, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    // Answers carry tokens and codes: no cache may keep them.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response<Body>> {
    let text = serde_json::to_string(value)
        .map_err(|_| Error::internal("an answer does not serialise"))?;
    let mut response = base(status, Body::Text(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

pub fn no_content() -> Response<Body> {
    base(204, Body::Empty)
}

/// The one mapping from [`Error`] to an HTTP answer.
pub fn error_response(error: &Error) -> Response<Body> {
    let body = serde_json::json!({
        "error": { "code": error.code(), "message": error.to_string() }
    });
    let mut response = base(error.status(), Body::Text(body.to_string()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = error.retry_after() {
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            headers.insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// A response for a route the table does not know (only the dev server can get here).
pub fn not_found() -> Response<Body> {
    error_response(&Error::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        username: String,
        password: String,
    }

    fn request(body: &str) -> Request {
        lambda_http::http::Request::builder()
            .body(Body::Text(body.to_owned()))
            .unwrap()
    }

    fn message(result: Result<Login>) -> String {
        match result.unwrap_err() {
            Error::InvalidRequest(m) => m.into_owned(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn names_unknown_missing_and_mistyped_fields_without_echoing_values() {
        let m = message(json_body(&request(
            r#"{"username":"a","password":"b","admin":true}"#,
        )));
        assert_eq!(m, "unknown field `admin`");
        let m = message(json_body(&request(r#"{"username":"a"}"#)));
        assert_eq!(m, "missing field `password`");
        let m = message(json_body(&request(
            r#"{"username":"a","password":12345678}"#,
        )));
        assert_eq!(m, "field `password` has the wrong type or value");
        assert!(!m.contains("12345678"));
        let m = message(json_body(&request("{not json")));
        assert_eq!(m, "the request body is not valid JSON");
        let m = message(json_body(&request("[]")));
        assert_eq!(m, "the request body must be a JSON object");
    }

    #[test]
    fn oversize_bodies_are_413() {
        let big = format!(
            r#"{{"username":"{}","password":"x"}}"#,
            "a".repeat(MAX_BODY_BYTES)
        );
        assert!(matches!(
            json_body::<Login>(&request(&big)),
            Err(Error::PayloadTooLarge)
        ));
    }

    #[test]
    fn errors_become_the_contract_body_with_retry_after() {
        let response = error_response(&Error::TooManyAttempts {
            retry_after_secs: 42,
        });
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["error"]["code"], "too_many_attempts");
        assert!(body["error"]["message"].as_str().unwrap().len() > 5);
    }

    #[test]
    fn an_internal_error_answers_500_without_its_cause() {
        let response = error_response(&Error::internal("sealed seed abc123 does not open"));
        assert_eq!(response.status(), 500);
        let text = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        assert!(text.contains("internal_error"), "{text}");
        assert!(!text.contains("abc123") && !text.contains("seed"), "{text}");
    }

    #[test]
    fn bearer_tokens_are_parsed_case_insensitively() {
        let req = lambda_http::http::Request::builder()
            .header("authorization", "bearer abc")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(bearer_token(&req), Some("abc"));
        let req = lambda_http::http::Request::builder()
            .header("authorization", "Basic abc")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(bearer_token(&req), None);
    }
}
