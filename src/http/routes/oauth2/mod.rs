//! Tessera as an OAuth 2.1 / OpenID Connect provider: `/oauth2/*` (Nhost's routes), served
//! when `TESSERA_OAUTH2_PROVIDER=true`.
//!
//! - `authorize`: `GET`/`POST /oauth2/authorize`;
//! - `login`: `GET`/`POST /oauth2/login` (Nhost's hand-over to the operator's login page);
//! - `token`: `POST /oauth2/token`, `/oauth2/revoke`, `/oauth2/introspect`;
//! - `userinfo`: `GET`/`POST /oauth2/userinfo`, `GET /oauth2/jwks`, `/oauth2/logout`;
//! - `register`: `POST /oauth2/register` (RFC 7591); `apps`: the user's authorised apps;
//! - `pages`: the login and consent pages Tessera ships (`/oauth2/ui`).
//!
//! The OAuth endpoints answer errors as OAuth says (`error`, `error_description`), with
//! Tessera's `status` and `message` beside them, so both kinds of client read them.

mod apps;
pub use apps::{AppsBody, apps_body};
mod authorize;
mod login;
mod page_html;
pub mod pages;
mod register;
mod token;
mod userinfo;

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::domain::oauth2::OAuthError;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::json::Json;

/// The provider's routes, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(authorize::router())
        .merge(login::router())
        .merge(token::router())
        .merge(userinfo::router())
        .merge(register::router())
}

/// The user's authorised apps (`/user/oauth2/apps`), served with the API.
pub fn user_router() -> OpenApiRouter<AppState> {
    apps::router()
}

/// An OAuth error (RFC 6749 section 5.2) with Tessera's envelope fields beside it.
#[derive(Serialize, ToSchema)]
#[schema(as = OAuthError, example = json!({
    "error": "invalid_grant",
    "error_description": "The code is invalid, expired or used.",
    "status": 400,
    "message": "The code is invalid, expired or used."
}))]
pub struct OAuthErrorBody {
    /// The OAuth error code (snake_case, as RFC 6749 and its extensions name them).
    pub error: &'static str,
    /// For the developer: what is wrong. Never a submitted value or a secret. Absent only
    /// when the request was refused before the provider saw it (malformed JSON, a foreign
    /// `Origin`): then `error` is one of Tessera's kebab-case codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// The HTTP status, repeated.
    pub status: u16,
    /// The same sentence as `error_description`.
    pub message: String,
}

/// An error of an `/oauth2/*` route.
pub struct OAuthFailure(pub OAuthError);

impl From<OAuthError> for OAuthFailure {
    fn from(err: OAuthError) -> Self {
        Self(err)
    }
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        match self.0 {
            OAuthError::Protocol {
                code,
                description,
                status,
            } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                let body = OAuthErrorBody {
                    error: code,
                    error_description: Some(description.to_string()),
                    status: status.as_u16(),
                    message: description.into_owned(),
                };
                let mut response = (status, Json(body)).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                match code {
                    "invalid_client" => {
                        headers.insert(
                            header::WWW_AUTHENTICATE,
                            HeaderValue::from_static("Basic realm=\"tessera\""),
                        );
                    }
                    "invalid_token" => {
                        headers.insert(
                            header::WWW_AUTHENTICATE,
                            HeaderValue::from_static("Bearer error=\"invalid_token\""),
                        );
                    }
                    _ => {}
                }
                response
            }
            OAuthError::Auth(err) => ApiError::from(err).into_response(),
        }
    }
}

/// The parameters of a form body (`application/x-www-form-urlencoded`), as OAuth sends
/// them. A parameter sent twice is an error (RFC 6749 section 3.1), and so is another
/// content type.
pub fn form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthFailure> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == "application" && m.subtype() == "x-www-form-urlencoded");
    if !is_form && !body.is_empty() {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        )
        .into());
    }
    params(url::form_urlencoded::parse(body))
}

/// Query or form pairs into a map; a parameter present twice is refused, an empty one is
/// absent (RFC 6749 section 3.1), one with a NUL refused.
pub fn params<'a>(
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> Result<HashMap<String, String>, OAuthFailure> {
    let mut map = HashMap::new();
    for (name, value) in pairs {
        if value.is_empty() {
            continue;
        }
        // No parameter holds a NUL (it would not even fit in a database text column);
        // other characters are each field's business (a password may hold a tab).
        if value.contains('\0') || name.contains('\0') {
            return Err(OAuthError::invalid_request("A parameter holds a NUL character.").into());
        }
        if map.insert(name.to_string(), value.into_owned()).is_some() {
            return Err(OAuthError::invalid_request("A parameter is sent more than once.").into());
        }
    }
    Ok(map)
}
