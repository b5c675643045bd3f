//! The HTTP layer: routes, extractors, the error envelope and the middleware stack.
//!
//! Each resource's module under `routes/` (and `admin/`) has a router, an `OpenApiRouter`
//! whose routes are registered with `utoipa_axum::routes!` from handlers annotated with
//! `#[utoipa::path]`, so every route is documented. They are merged here, nested under the
//! public URL's base path, and wrapped in the layers every request goes through
//! (`layers`); their documentation becomes the OpenAPI document served at
//! `GET /openapi.json` (`routes::openapi`). A 405 keeps axum's `Allow` header and gets the
//! envelope from `error::envelope_bare_errors`.
//!
//! - `extract/`: what handlers read from requests (bearer token, client, JSON bodies);
//! - `middleware/`: what runs around them (CSRF, CORS, rate limits, ...);
//! - `cookies`: cookie transport (names, attributes, reading and writing);
//! - `views`: the JSON shapes answered; `error`: the error envelope;
//! - `server`: the listener loop.

mod admin;
pub mod cookies;
pub mod error;
pub mod extract;
mod layers;
mod middleware;
mod routes;
pub mod server;
mod views;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::{Extension, Router};

use crate::config::Config;
use crate::domain::admin::Admin;
use crate::domain::anonymous::AnonymousUsers;
use crate::domain::email_otp::EmailOtp;
use crate::domain::email_password::EmailPassword;
use crate::domain::health::Health;
use crate::domain::links::EmailLinks;
use crate::domain::mfa::SecondFactor;
use crate::domain::oauth2::OAuthProvider;
use crate::domain::passkeys::Passkeys;
use crate::domain::pats::PersonalAccessTokens;
use crate::domain::providers::Providers;
use crate::domain::rate_limits::IpLimits;
use crate::domain::sessions::Sessions;
use crate::domain::tokens::TokenIssuer;
use crate::support::clock::Clock;

use error::ApiError;
pub use layers::BODY_READ_TIMEOUT;
use middleware::run_to_completion::run_to_completion;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    /// The database's liveness and pool figures (health check, metrics).
    pub health: Arc<Health>,
    pub tokens: Arc<TokenIssuer>,
    pub sessions: Arc<Sessions>,
    pub email_password: Arc<EmailPassword>,
    /// Emailed links: verification, reset, email change, passwordless, code exchange.
    pub links: Arc<EmailLinks>,
    pub anonymous: Arc<AnonymousUsers>,
    pub email_otp: Arc<EmailOtp>,
    /// The TOTP second factor.
    pub mfa: Arc<SecondFactor>,
    /// Passkeys (WebAuthn).
    pub passkeys: Arc<Passkeys>,
    /// Sign-in with OpenID Connect providers and GitHub.
    pub providers: Arc<Providers>,
    /// Tessera as an OAuth 2.1 / OpenID provider for other apps.
    pub oauth2: Arc<OAuthProvider>,
    pub admin: Arc<Admin>,
    pub pats: Arc<PersonalAccessTokens>,
    pub ip_limits: Arc<IpLimits>,
}

/// The whole application: every route, nested under the base path, with its middleware.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let admin_enabled = state.admin.api_enabled();
    let oauth2_enabled = state.oauth2.enabled();
    // Each part is split into its routes and their documentation, so that the document
    // describes each operation once while the routes are mounted as below.
    let (api, api_doc) = routes::api().split_for_parts();
    // The routes that write to or read from the database finish what they started (the
    // JWKS, discovery and health answers are from memory or a ping, and skip the task).
    let api = api.layer(axum::middleware::from_fn(run_to_completion));
    let (public, mut document) = routes::public().split_for_parts();
    // `/metrics` is documented either way; it is mounted here unless it has a listener of
    // its own (see [`metrics_router`]).
    let (metrics_route, metrics_doc) = routes::health::metrics_router().split_for_parts();
    document.merge(metrics_doc);
    let (openapi_route, openapi_doc) = routes::openapi::router().split_for_parts();
    // The admin API is documented whether or not this server serves it (the document
    // describes the product; its tag says when it exists).
    let (admin_routes, admin_doc) = admin::router(state.clone()).split_for_parts();
    let admin_routes = admin_routes.layer(axum::middleware::from_fn(run_to_completion));
    // The OAuth provider's routes are documented whether or not they are served, like the
    // admin API; they run to completion like the API.
    // The protocol routes are served with the API (under /v1 too, where the Nhost SDK
    // calls them); the shipped pages only at the base path, where the browser-binding
    // cookie (path `<base>/oauth2`) reaches them.
    let (oauth2_routes, oauth2_doc) = routes::oauth2::router()
        .merge(routes::oauth2::user_router())
        .split_for_parts();
    let oauth2_routes = oauth2_routes.layer(axum::middleware::from_fn(run_to_completion));
    let (pages_routes, pages_doc) = routes::oauth2::pages::router().split_for_parts();
    let pages_routes = pages_routes.layer(axum::middleware::from_fn(run_to_completion));
    let api = if oauth2_enabled {
        api.merge(oauth2_routes)
    } else {
        api
    };
    document.merge(api_doc);
    document.merge(oauth2_doc);
    document.merge(pages_doc);
    document.merge(admin_doc);
    document.merge(openapi_doc);
    let document = routes::openapi::document(&config, admin_enabled, document);

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
    // Without TESSERA_OAUTH2_PROVIDER=true, /oauth2 paths are 404s.
    if oauth2_enabled {
        routes = routes.merge(pages_routes);
    }
    let routes = layers::guards(routes.fallback(not_found), state);
    let routes = match config.server.base_path() {
        "" => routes,
        base => Router::new().nest(base, routes).fallback(not_found),
    };
    layers::envelope(routes, &config)
}

/// The router of the separate metrics listener (`TESSERA_METRICS_LISTEN`): `/metrics` only,
/// at the root, with the same token rule.
pub fn metrics_router(state: AppState) -> Router {
    let (routes, _) = routes::health::metrics_router().split_for_parts();
    layers::request_id(routes.fallback(not_found)).with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::for_status(StatusCode::NOT_FOUND)
}
