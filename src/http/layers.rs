//! The middleware stacks every request goes through, outermost last in each function:
//! [`guards`] runs inside routing and needs the state (request metrics, CSRF, HEAD, rate
//! limits, cookies); [`envelope`] wraps the whole router (sensitive headers, request id,
//! trace, CORS, the envelope of bare errors, the header size, timeouts, the body limit).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware;
use tower::ServiceBuilder;
use tower_cookies::CookieManagerLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::AppState;
use super::error;
use super::middleware::{cors, csrf, head, header_size, metrics, rate_limit};
use crate::config::Config;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long a request body may take to arrive.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The span of one request: method, path (never the query, which may hold a ticket),
/// request id and client address. Headers are not recorded.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
        peer,
    )
}

/// The middleware inside routing, around every route and the fallback, given the state.
pub fn guards(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .layer(middleware::from_fn(metrics::record_metrics))
        .layer(middleware::from_fn_with_state(state.clone(), csrf::protect))
        .layer(middleware::from_fn(head::head_changes_nothing))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::rate_limit,
        ))
        .layer(CookieManagerLayer::new())
        .with_state(state)
}

/// The middleware around the whole router (base path included). Outermost first. The
/// envelope layer sits inside the request-id and trace layers (so its responses carry the
/// id and are logged) and outside the timeout and body limit (so their bare responses get
/// the envelope).
pub fn envelope(routes: Router, config: &Config) -> Router {
    let allowed_origins = Arc::new(cors::allowed_origins(config));
    let public_allowed = allowed_origins.clone();
    let base = Arc::new(config.server.base_path().to_owned());
    routes.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
            ]))
            .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(middleware::from_fn(move |request, next| {
                cors::public_cors(base.clone(), public_allowed.clone(), request, next)
            }))
            .layer(middleware::from_fn(move |request, next| {
                cors::strip_foreign_cors(allowed_origins.clone(), request, next)
            }))
            .layer(cors::cors(config))
            .layer(middleware::from_fn(error::envelope_bare_errors))
            .layer(middleware::from_fn(header_size::header_size))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                config.server.request_timeout,
            ))
            // A body that trickles in slower than this is cut off with 408.
            .layer(RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT))
            .layer(RequestBodyLimitLayer::new(config.server.max_body_bytes)),
    )
}

/// The request id alone, for the separate metrics listener.
pub fn request_id(routes: Router<AppState>) -> Router<AppState> {
    routes
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
}
