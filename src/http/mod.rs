//! The HTTP layer: routes, extractors, the error envelope and the middleware stack.
//!
//! Each feature module has a `router()`, an `OpenApiRouter` whose routes are registered
//! with `utoipa_axum::routes!` from handlers annotated with `#[utoipa::path]`, so every
//! route is documented. They are merged here, nested under the public URL's base path, and
//! wrapped in the layers every request goes through; their documentation becomes the
//! OpenAPI document served at `GET /openapi.json` (`openapi`). A 405 keeps axum's `Allow`
//! header and gets the envelope from `error::envelope_bare_errors`.

mod admin;
mod admin_keys;
mod auth;
pub mod bearer;
mod bodies;
pub mod client;
pub mod cookies;
mod csrf;
mod email_otp;
pub mod error;
mod health;
pub mod json;
mod lifecycle;
mod limits;
mod openapi;
mod pats;
pub mod server;
mod user;
mod wellknown;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware;
use axum::{Extension, Router};
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
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::domain::admin::Admin;
use crate::domain::email_otp::EmailOtp;
use crate::domain::email_password::Accounts;
use crate::domain::health::Health;
use crate::domain::links::Lifecycle;
use crate::domain::pats::PersonalAccessTokens;
use crate::domain::rate_limits::IpLimits;
use crate::domain::sessions::Sessions;
use crate::domain::tokens::TokenIssuer;
use crate::support::clock::Clock;

use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// The database's liveness and pool figures (health check, metrics).
    pub health: Arc<Health>,
    pub tokens: Arc<TokenIssuer>,
    pub sessions: Arc<Sessions>,
    pub accounts: Arc<Accounts>,
    /// Emailed links: verification, reset, email change, passwordless; anonymous users.
    pub links: Arc<Lifecycle>,
    pub email_otp: Arc<EmailOtp>,
    pub admin: Arc<Admin>,
    pub pats: Arc<PersonalAccessTokens>,
    pub ip_limits: Arc<IpLimits>,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// How long a request body may take to arrive.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The whole application: every route, nested under the base path, with its middleware.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let admin_enabled = state.admin.api_enabled();
    // Each part is split into its routes and their documentation, so that the document
    // describes each operation once while the routes are mounted as below.
    let (api, api_doc) = OpenApiRouter::new()
        .merge(auth::router())
        .merge(user::router())
        .merge(lifecycle::router())
        .merge(pats::router())
        .merge(email_otp::router())
        .split_for_parts();
    // The routes that write to or read from the database finish what they started (the
    // JWKS, discovery and health answers are from memory or a ping, and skip the task).
    let api = api.layer(middleware::from_fn(run_to_completion));
    let (public, mut document) = OpenApiRouter::new()
        .merge(health::router())
        .merge(wellknown::router())
        .split_for_parts();
    // `/metrics` is documented either way; it is mounted here unless it has a listener of
    // its own (see [`metrics_router`]).
    let (metrics_route, metrics_doc) = health::metrics_router().split_for_parts();
    document.merge(metrics_doc);
    let (openapi_route, openapi_doc) = openapi::router().split_for_parts();
    // The admin API is documented whether or not this server serves it (the document
    // describes the product; its tag says when it exists).
    let (admin_routes, admin_doc) = admin::router(state.clone()).split_for_parts();
    let admin_routes = admin_routes.layer(middleware::from_fn(run_to_completion));
    document.merge(api_doc);
    document.merge(admin_doc);
    document.merge(openapi_doc);
    let document = openapi::document(&config, admin_enabled, document);

    // Nhost clients use an auth URL ending in /v1 (the SDK's refresh logic even depends on
    // it), so the API is also served under <base>/v1.
    // Nhost serves everything under /v1, so the SDK asks there for the JWKS, discovery,
    // health and version as well.
    let mut routes = Router::new()
        .merge(public.clone())
        .merge(openapi_route.layer(Extension(document)))
        .merge(api.clone())
        .nest("/v1", api.merge(public));
    if config.server.metrics_listen.is_none() {
        routes = routes.merge(metrics_route);
    }
    // Without TESSERA_ADMIN_SECRET there is no admin API at all: /admin paths are 404s.
    if admin_enabled {
        routes = routes.merge(admin_routes);
    }
    let routes = routes
        .fallback(not_found)
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn_with_state(state.clone(), csrf::protect))
        .layer(middleware::from_fn(limits::head_changes_nothing))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::rate_limit,
        ))
        .layer(CookieManagerLayer::new())
        .with_state(state);
    let routes = match config.server.base_path() {
        "" => routes,
        base => Router::new().nest(base, routes).fallback(not_found),
    };

    let allowed_origins = Arc::new(csrf::allowed_origins(&config));
    // Outermost first. The envelope layer sits inside the request-id and trace layers (so
    // its responses carry the id and are logged) and outside the timeout and body limit
    // (so their bare responses get the envelope).
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
                csrf::strip_foreign_cors(allowed_origins.clone(), request, next)
            }))
            .layer(csrf::cors(&config))
            .layer(middleware::from_fn(error::envelope_bare_errors))
            .layer(middleware::from_fn(limits::header_size))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                config.server.request_timeout,
            ))
            // A body that trickles in slower than this is cut off with 408.
            .layer(RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT))
            .layer(RequestBodyLimitLayer::new(config.server.max_body_bytes)),
    )
}

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

/// Middleware: runs the handler as a task of its own, so that a client that hangs up (or a
/// proxy or the request timeout giving up) no longer cancels it halfway. A handler dropped
/// in the middle of a query costs its database connection (sqlx closes a connection it
/// cannot vouch for): under load, clients that gave up turned into reconnects exactly when
/// the database was busiest, and the pool was found at 5 of its 10 connections after a
/// benchmark. Finishing the work instead is bounded: every query has the pool's timeouts,
/// and every handler is short.
async fn run_to_completion(
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use tracing::Instrument;
    let task = tokio::spawn(next.run(request).instrument(tracing::Span::current()));
    match task.await {
        Ok(response) => response,
        Err(err) => {
            // A panicking handler is a bug; the client still gets the envelope.
            ApiError::internal(err).into_response()
        }
    }
}

/// Middleware: counts every answered request by route template, method and status.
async fn record_metrics(
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let response = next.run(request).await;
    crate::support::metrics::request(
        &route,
        method.as_str(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The router of the separate metrics listener (`TESSERA_METRICS_LISTEN`): `/metrics` only,
/// at the root, with the same token rule.
pub fn metrics_router(state: AppState) -> Router {
    let (routes, _) = health::metrics_router().split_for_parts();
    routes
        .fallback(not_found)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::for_status(StatusCode::NOT_FOUND)
}
