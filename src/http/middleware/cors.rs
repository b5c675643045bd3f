//! CORS for exactly the allowed origins (`TESSERA_ALLOWED_ORIGINS` and the public URL's
//! origin), with credentials; a foreign origin gets no `Access-Control-*` header at all.

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
