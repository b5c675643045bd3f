//! HEAD is GET without a body, and never changes state: a HEAD of a route whose GET does
//! (following an emailed link, the SSR refresh bounce) answers 405.

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;

/// Whether a GET of this path changes state: following an emailed link spends its ticket,
/// the SSR bounce rotates the refresh token, a TOTP generation replaces a pending secret.
fn get_changes_state(path: &str) -> bool {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    matches!(path, "/verify" | "/token/refresh" | "/mfa/totp/generate")
}

/// Middleware: a HEAD of a route whose GET changes state answers 405 (`Allow: GET`) without
/// running it. Link scanners in mail systems HEAD links before anyone clicks them.
pub async fn head_changes_nothing(request: Request, next: Next) -> Response {
    if request.method() == Method::HEAD && get_changes_state(request.uri().path()) {
        let mut response = ApiError::for_status(StatusCode::METHOD_NOT_ALLOWED).into_response();
        response.headers_mut().insert(
            axum::http::header::ALLOW,
            axum::http::HeaderValue::from_static("GET"),
        );
        return response;
    }
    next.run(request).await
}
