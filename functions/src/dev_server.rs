//! Mounts [`latchkey::ROUTES`] on an axum router. Each request is turned into the same
//! `lambda_http::Request` API Gateway would produce (path parameters, source IP, user
//! agent), so the handlers cannot tell the dev server from Lambda.

use axum::body::Body as AxumBody;
use axum::extract::{ConnectInfo, RawPathParams, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, MethodFilter, MethodRouter};
use axum::Router;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use latchkey::http::{error_response, not_found, MAX_BODY_BYTES};
use latchkey::{App, Error, Operation, ROUTES};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::services::ServeDir;

pub fn router(app: Arc<App>, web_dir: PathBuf) -> Router {
    let mut by_path: BTreeMap<&'static str, MethodRouter> = BTreeMap::new();
    for route in ROUTES {
        let Some(filter) = method_filter(route.method) else {
            continue;
        };
        let app = app.clone();
        let operation = route.operation;
        let handler = move |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                            params: RawPathParams,
                            request: Request| {
            let app = app.clone();
            async move { serve(&app, operation, peer, params, request).await }
        };
        let entry = by_path.remove(route.path).unwrap_or_default();
        by_path.insert(route.path, entry.on(filter, handler));
    }
    let mut router = Router::new();
    for (path, methods) in by_path {
        router = router.route(path, methods);
    }
    router
        .route("/v1/{*rest}", any(|| async { lambda_to_axum(not_found()) }))
        .fallback_service(ServeDir::new(web_dir))
}

fn method_filter(method: &str) -> Option<MethodFilter> {
    Some(match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        _ => return None,
    })
}

async fn serve(
    app: &App,
    operation: Operation,
    peer: SocketAddr,
    params: RawPathParams,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await else {
        return lambda_to_axum(error_response(&Error::PayloadTooLarge));
    };
    let user_agent = parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The event types are non-exhaustive: build from defaults, then fill in.
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = parts.method.clone();
    http.path = Some(parts.uri.path().to_owned());
    http.source_ip = Some(peer.ip().to_string());
    http.user_agent = user_agent;
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.http = http;
    let path_parameters: HashMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        lambda_http::Body::Binary(bytes.to_vec())
    };
    let request = lambda_http::Request::from_parts(parts, body)
        .with_path_parameters(path_parameters)
        .with_request_context(RequestContext::ApiGatewayV2(context));
    lambda_to_axum(latchkey::handle(app, operation, request).await)
}

fn lambda_to_axum(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let body = match body {
        lambda_http::Body::Empty => AxumBody::empty(),
        lambda_http::Body::Text(text) => AxumBody::from(text),
        lambda_http::Body::Binary(bytes) => AxumBody::from(bytes),
        _ => AxumBody::empty(),
    };
    Response::from_parts(parts, body).into_response()
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
