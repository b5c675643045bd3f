//! `Json<T>`: axum's JSON extractor and response, with rejections in the error envelope.

use axum::extract::FromRequest;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// A JSON body; malformed, mistyped, oversized or non-JSON bodies become envelope errors
/// (400 `invalid-request`, 413 `payload-too-large`, 415 `unsupported-media-type`).
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
