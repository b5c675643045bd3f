//! CSRF protection for cookie-authenticated requests, and CORS for the allowed origins.
//!
//! A request that changes state (not GET/HEAD/OPTIONS) and either carries a credential
//! cookie or asks for cookie transport must be `application/json` (415 otherwise: HTML
//! forms cannot send it without a CORS preflight) and come from an allowed origin: its
//! `Origin` in `TESSERA_ALLOWED_ORIGINS` or the public URL's origin, or, without `Origin`,
//! `Sec-Fetch-Site: same-origin|same-site` (403 `invalid-origin` otherwise).
//!
//! Sign-out changes the browser's cookies even when none were sent (a cross-site form
//! carries none under SameSite), so every browser request to it (one with `Origin` or
//! `Sec-Fetch-Site`) follows the same rule; clients that are no browser send neither.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::AppState;
use super::cookies::{AUTH_MODE_HEADER, CookiePolicy, requested_mode};
use super::error::ApiError;
use crate::config::{AuthMode, Config};

/// Every origin allowed to use cookies and CORS: the list plus the public URL's origin.
pub fn allowed_origins(config: &Config) -> Vec<String> {
    let mut origins = config.server.allowed_origins.clone();
    let public = config.server.public_origin();
    if !origins.contains(&public) {
        origins.push(public);
    }
    origins
}

/// Middleware: refuses cross-site state-changing requests that would use cookies.
pub async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let policy = CookiePolicy::new(&state.config);
    let uses_cookies = policy.carries_credentials(headers)
        || requested_mode(headers, state.config.cookies.default_auth_mode) == AuthMode::Cookie;
    let from_browser =
        headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-site");
    let signs_out = from_browser && request.uri().path().ends_with("/signout");
    if !uses_cookies && !signs_out {
        return next.run(request).await;
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == "application" && m.subtype() == "json");
    if !is_json {
        return ApiError::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE).into_response();
    }
    let allowed = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => allowed_origins(&state.config).iter().any(|o| o == origin),
        None => matches!(
            headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
            Some("same-origin" | "same-site")
        ),
    };
    if !allowed {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid-origin",
            "This request must come from an allowed origin.",
        )
        .into_response();
    }
    next.run(request).await
}

/// CORS for exactly the allowed origins, with credentials; other origins get no CORS
/// headers at all.
pub fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = allowed_origins(config)
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static(AUTH_MODE_HEADER),
        ])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600))
}

/// Middleware around [`cors`]: a response to an origin that is not allowed carries no
/// `Access-Control-*` header at all (tower-http would still send `Allow-Credentials`,
/// `Allow-Methods` and friends, which tell a foreign page more than it needs).
pub async fn strip_foreign_cors(
    allowed: std::sync::Arc<Vec<String>>,
    request: Request,
    next: Next,
) -> Response {
    let foreign = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| !allowed.iter().any(|o| o == origin));
    let mut response = next.run(request).await;
    if foreign {
        let names: Vec<HeaderName> = response
            .headers()
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in names {
            response.headers_mut().remove(name);
        }
    }
    response
}
