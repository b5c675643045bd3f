//! The signed-in user: `GET /user`, `GET /user/sessions`, `DELETE /user/sessions/{id}`.

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::domain::errors::AuthError;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::bearer::Authenticated;
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{OkBody, SessionInfoBody, SessionsResponse, UserBody};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(user))
        .routes(routes!(sessions))
        .routes(routes!(revoke))
}

#[utoipa::path(
    get,
    path = "/user",
    operation_id = "getUser",
    tag = "user",
    summary = "The signed-in user",
    description = "The User of the access token (`Authorization: Bearer`, else the access \
        cookie). The token's session must be live: a signed-out token stops working here at \
        once.",
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The User.", body = UserBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn user(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<UserBody>, ApiError> {
    Ok(Json(state.email_password.user(claims.sub).await?.into()))
}

#[utoipa::path(
    get,
    path = "/user/sessions",
    operation_id = "listSessions",
    tag = "session",
    summary = "The signed-in user's live sessions",
    description = "Newest first; `current` marks the session of the calling token.",
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The live sessions.", body = SessionsResponse),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sessions(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<SessionsResponse>, ApiError> {
    let sessions: Vec<_> = state
        .sessions
        .list(claims.sub)
        .await?
        .into_iter()
        .map(|s| SessionInfoBody::new(s, claims.sid))
        .collect();
    Ok(Json(SessionsResponse { sessions }))
}

#[utoipa::path(
    delete,
    path = "/user/sessions/{id}",
    operation_id = "revokeSession",
    tag = "session",
    summary = "End one of the signed-in user's sessions",
    description = "Revokes the session: its refresh token stops working at once, and its \
        access tokens stop working wherever the session is checked (Tessera's own endpoints, \
        `POST /token/verify`).",
    params(("id" = Uuid, Path, description = "The session id (`refreshTokenId`, the `sid` \
        claim).")),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "Revoked.", body = OkBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`session-not-found`: not a live session of the caller's \
            (or not a UUID).", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Json<&'static str>, ApiError> {
    // A malformed id names no session of the caller's: the same 404.
    let id = Uuid::parse_str(&id).map_err(|_| AuthError::SessionNotFound)?;
    state.sessions.revoke(claims.sub, id, &client).await?;
    Ok(Json("OK"))
}
