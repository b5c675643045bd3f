//! The size of the header section: 431 in the envelope above [`MAX_HEADER_BYTES`].

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;

/// Largest header section accepted, names and values together.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Middleware: 431 in the envelope for a header section over [`MAX_HEADER_BYTES`]
/// (hyper itself refuses anything over its 64 KiB buffer).
pub async fn header_size(request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES {
        return ApiError::for_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).into_response();
    }
    next.run(request).await
}
