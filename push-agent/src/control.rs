//! The control channel: a loopback-only HTTP API through which `push-agent pending`,
//! `approve` and `deny` reach the running agent.
//!
//! Anyone who can answer pushes can approve logins, so the channel is closed to other
//! local users twice over: it binds loopback only, and every request must carry a
//! 256-bit bearer token that the agent draws afresh at each start and writes beside
//! the state file with mode 0600 (`<state>.control`, JSON `{"addr", "token"}`). A
//! client that can read that file is the same user as the agent (or root).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use axum::extract::State as AxumState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::agent::{server_error, Agent, AnswerStatus, NoticeView, PendingView, ReportStatus};
use crate::crypto::{constant_time_eq, random_token, system_random, Decision};
use crate::error::{Error, Result};
use crate::state;

pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7071);

#[derive(Clone, Serialize, Deserialize)]
pub struct ControlFile {
    pub addr: SocketAddr,
    pub token: String,
}

impl std::fmt::Debug for ControlFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlFile")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Parses a control address and refuses anything but loopback. `localhost:PORT` is
/// taken as 127.0.0.1 rather than resolved, so no resolver can turn it into a
/// network address.
pub fn parse_addr(text: &str) -> Result<SocketAddr> {
    let addr = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
            .map_err(|_| Error::InvalidArgument(format!("bad control port in {text:?}"))),
        None => text.parse::<SocketAddr>().map_err(|_| {
            Error::InvalidArgument(format!("control address {text:?} is not IP:PORT"))
        }),
    }?;
    if !addr.ip().is_loopback() {
        return Err(Error::InvalidArgument(format!(
            "control address {addr} is not a loopback address"
        )));
    }
    Ok(addr)
}

/// Writes a fresh token for `addr` beside the state file.
pub fn write_control_file(state_path: &Path, addr: SocketAddr) -> Result<ControlFile> {
    let file = ControlFile {
        addr,
        token: random_token(&system_random())?,
    };
    let text =
        serde_json::to_vec(&file).map_err(|_| Error::Control("could not serialise".to_owned()))?;
    state::write_private(&state::control_path(state_path), &text)?;
    Ok(file)
}

pub fn read_control_file(state_path: &Path) -> Result<ControlFile> {
    let path = state::control_path(state_path);
    let text = state::read_private(&path).map_err(|e| match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Error::Control(format!(
                "{} does not exist: is the agent running with this state file?",
                path.display()
            ))
        }
        other => other,
    })?;
    serde_json::from_str(&text)
        .map_err(|_| Error::Control(format!("{} is not a control file", path.display())))
}

/// Removes the control file if it still holds our token (another agent may have
/// started on the same state file since).
pub fn remove_control_file(state_path: &Path, ours: &ControlFile) {
    if let Ok(current) = read_control_file(state_path) {
        if constant_time_eq(current.token.as_bytes(), ours.token.as_bytes()) {
            let _ = std::fs::remove_file(state::control_path(state_path));
        }
    }
}

#[derive(Clone)]
struct ServerState {
    agent: Agent,
    token: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct AnswerRequest {
    push_id: Option<String>,
    decision: Decision,
    number: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ReportRequest {
    notice_id: Option<String>,
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
}

fn unauthorized() -> Response {
    error_response(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "the control token is missing or wrong",
    )
}

async fn pending_handler(AxumState(s): AxumState<ServerState>, headers: HeaderMap) -> Response {
    listing(&s, &headers, Agent::pending)
}

/// The request body of an authorized caller: authenticated before anything is parsed.
fn authorized_body<T: serde::de::DeserializeOwned>(
    s: &ServerState,
    headers: &HeaderMap,
    body: &[u8],
    expected: &str,
) -> std::result::Result<T, Box<Response>> {
    if !authorized(headers, &s.token) {
        return Err(Box::new(unauthorized()));
    }
    serde_json::from_slice::<T>(body).map_err(|_| {
        Box::new(error_response(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            expected,
        ))
    })
}

async fn answer_handler(
    AxumState(s): AxumState<ServerState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request: AnswerRequest = match authorized_body(
        &s,
        &headers,
        &body,
        "expected {push_id?, decision, number?}",
    ) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    match s
        .agent
        .answer(
            request.push_id.as_deref(),
            request.decision,
            request.number.as_deref(),
        )
        .await
    {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => agent_error(e),
    }
}

async fn notices_handler(AxumState(s): AxumState<ServerState>, headers: HeaderMap) -> Response {
    listing(&s, &headers, Agent::notices)
}

/// A list the agent keeps, to an authorized caller.
fn listing<T: Serialize>(s: &ServerState, headers: &HeaderMap, list: fn(&Agent) -> T) -> Response {
    if !authorized(headers, &s.token) {
        return unauthorized();
    }
    Json(list(&s.agent)).into_response()
}

async fn report_handler(
    AxumState(s): AxumState<ServerState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let request: ReportRequest = match authorized_body(&s, &headers, &body, "expected {notice_id?}")
    {
        Ok(request) => request,
        Err(response) => return *response,
    };
    match s.agent.report(request.notice_id.as_deref()).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => agent_error(e),
    }
}

/// An error of the agent as the control channel's answer: the server's own status and
/// error body are relayed unchanged.
fn agent_error(error: Error) -> Response {
    match error {
        Error::Server {
            status,
            code,
            message,
        } => error_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            &code,
            &message,
        ),
        e @ Error::NoPending(_) => {
            error_response(StatusCode::NOT_FOUND, "no_pending_push", &e.to_string())
        }
        e @ Error::NoNotice(_) => {
            error_response(StatusCode::NOT_FOUND, "no_notice", &e.to_string())
        }
        e @ Error::InvalidArgument(_) => {
            error_response(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string())
        }
        e => error_response(StatusCode::BAD_GATEWAY, "agent_error", &e.to_string()),
    }
}

pub fn router(agent: Agent, token: String) -> Router {
    Router::new()
        .route("/v1/pending", get(pending_handler))
        .route("/v1/answer", post(answer_handler))
        .route("/v1/notices", get(notices_handler))
        .route("/v1/report", post(report_handler))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024))
        .with_state(ServerState { agent, token })
}

/// Client side, used by the `pending`, `approve` and `deny` commands.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// `addr` overrides the address the agent wrote into the control file.
    pub fn new(state_path: &Path, addr: Option<SocketAddr>) -> Result<Self> {
        let file = read_control_file(state_path)?;
        let addr = addr.unwrap_or(file.addr);
        if !addr.ip().is_loopback() {
            return Err(Error::InvalidArgument(format!(
                "control address {addr} is not a loopback address"
            )));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(3))
            // An answer waits for the Latchkey server behind the agent.
            .timeout(Duration::from_secs(40))
            .build()
            .map_err(|e| Error::network("building the control client", &e))?;
        Ok(Client {
            http,
            base: format!("http://{addr}"),
            token: file.token,
        })
    }

    pub async fn pending(&self) -> Result<Vec<PendingView>> {
        self.get("/v1/pending").await
    }

    pub async fn notices(&self) -> Result<Vec<NoticeView>> {
        self.get("/v1/notices").await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| Error::network("reaching the agent", &e))?;
        read_answer(response).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| Error::network("reaching the agent", &e))?;
        read_answer(response).await
    }

    pub async fn report(&self, notice_id: Option<&str>) -> Result<ReportStatus> {
        let request = ReportRequest {
            notice_id: notice_id.map(str::to_owned),
        };
        self.post("/v1/report", &request).await
    }

    pub async fn answer(
        &self,
        push_id: Option<&str>,
        decision: Decision,
        number: Option<&str>,
    ) -> Result<AnswerStatus> {
        let request = AnswerRequest {
            push_id: push_id.map(str::to_owned),
            decision,
            number: number.map(str::to_owned),
        };
        self.post("/v1/answer", &request).await
    }
}

async fn read_answer<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    if !response.status().is_success() {
        return Err(server_error(response).await);
    }
    response
        .json()
        .await
        .map_err(|e| Error::network("reading the agent's answer", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_addresses_must_be_loopback() {
        assert_eq!(parse_addr("127.0.0.1:7071").unwrap(), DEFAULT_ADDR);
        assert_eq!(parse_addr("localhost:7071").unwrap(), DEFAULT_ADDR);
        assert!(parse_addr("[::1]:7071").is_ok());
        assert!(parse_addr("0.0.0.0:7071").is_err());
        assert!(parse_addr("192.0.2.1:7071").is_err());
        assert!(parse_addr("[::]:7071").is_err());
        assert!(parse_addr("example.com:7071").is_err());
    }
}
