//! Access tokens on requests: `Authorization: Bearer <token>` first, else the access
//! cookie. The header wins because it is explicit: a server calling on a user's behalf
//! says which token it means, whatever cookies a browser also sent.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::domain::tokens::AccessClaims;
use crate::http::AppState;
use crate::http::cookies::CookiePolicy;
use crate::http::error::ApiError;

/// The bearer token of a request, if it has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A request with a valid access token whose session is live; 401 `invalid-token`
/// otherwise.
pub struct Authenticated(pub AccessClaims);

impl<S> FromRequestParts<S> for Authenticated
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        authenticate(&app, &parts.headers).await.map(Authenticated)
    }
}

/// The claims of the request's access token (header, else cookie), if valid and live.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<AccessClaims, ApiError> {
    let token = match bearer_token(headers) {
        Some(token) => token.to_owned(),
        None => CookiePolicy::new(&state.config)
            .access_token(headers)
            .ok_or_else(ApiError::invalid_token)?,
    };
    Ok(state.sessions.authenticate(&token).await?)
}
