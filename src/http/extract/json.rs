//! `Json<T>`: axum's JSON extractor and response, with rejections in the error envelope.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;

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

/// A JSON body that may be absent: an empty body is `None`; a present one must be
/// `application/json` and well-formed, exactly as for [`Json`].
#[derive(Debug, Clone, Default)]
pub struct OptionalJson<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| {
                m.type_() == "application"
                    && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
            });
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                crate::http::error::body_read_error(&rejection, rejection.status())
            })?;
        if bytes.is_empty() {
            return Ok(OptionalJson(None));
        }
        if !is_json {
            return Err(ApiError::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(OptionalJson(Some(value)))
    }
}
