//! CORS for exactly the allowed origins (`TESSERA_ALLOWED_ORIGINS` and the public URL's
//! origin), with credentials; a foreign origin gets no `Access-Control-*` header at all,
//! except at the few endpoints any browser app may call without credentials
//! ([`public_cors`]: discovery, the JWKS, and the OpenID provider's token, revocation and
//! userinfo endpoints).

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::http::cookies::AUTH_MODE_HEADER;

/// Every origin allowed to use cookies and CORS: the list plus the public URL's origin.
pub fn allowed_origins(config: &Config) -> Vec<String> {
    let mut origins = config.server.allowed_origins.clone();
    let public = config.server.public_origin();
    if !origins.contains(&public) {
        origins.push(public);
    }
    origins
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

/// Paths (relative to the base path, with or without `/v1`) that any origin may call
/// without credentials: what a browser-only app (a public client signing in with PKCE)
/// needs. None reads a cookie: discovery and the keys are public, and the token,
/// revocation and userinfo endpoints are authenticated by what the request carries (a code
/// and its verifier, a client's credentials, a bearer token), never by the browser.
const PUBLIC_PATHS: &[&str] = &[
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/.well-known/jwks.json",
    "/oauth2/jwks",
    "/oauth2/token",
    "/oauth2/revoke",
    "/oauth2/userinfo",
];

/// Middleware outside [`strip_foreign_cors`]: at [`PUBLIC_PATHS`], a foreign origin gets
/// `Access-Control-Allow-Origin: *` and never `Allow-Credentials`, so the browser sends no
/// cookie and no page can use the user's Tessera session through them. Allowed origins keep
/// their credentialed CORS.
pub async fn public_cors(
    base: std::sync::Arc<String>,
    allowed: std::sync::Arc<Vec<String>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let relative = path.strip_prefix(base.as_str()).unwrap_or(path);
    let relative = relative.strip_prefix("/v1").unwrap_or(relative);
    let public = PUBLIC_PATHS.contains(&relative);
    let foreign = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| !allowed.iter().any(|o| o == origin));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = next.run(request).await;
    if public && foreign {
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id"),
        );
        if preflight {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }
    response
}
