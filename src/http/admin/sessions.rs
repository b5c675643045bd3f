//! `/admin/users/{id}/sessions...`: a user's live sessions, and revoking them.

use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::user_id;
use crate::domain::errors::AuthError;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{OkBody, SessionInfoBody, SessionsResponse};

/// The session routes, each documented by its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(user_sessions, revoke_all_sessions))
        .routes(routes!(revoke_session))
}

#[utoipa::path(
    get,
    path = "/admin/users/{id}/sessions",
    operation_id = "adminListUserSessions",
    tag = "admin",
    summary = "A user's live sessions",
    description = "Newest first (`current` is always `false` here).",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The live sessions.", body = SessionsResponse),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`user-not-found` (or the id is not a UUID).",
            body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn user_sessions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SessionsResponse>, ApiError> {
    let sessions: Vec<SessionInfoBody> = state
        .admin
        .sessions(user_id(&id)?)
        .await?
        .into_iter()
        .map(|s| SessionInfoBody::new(s, Uuid::nil()))
        .collect();
    Ok(Json(SessionsResponse { sessions }))
}

/// How many sessions were revoked.
#[derive(Serialize, ToSchema)]
struct Revoked {
    revoked: u64,
}

#[utoipa::path(
    delete,
    path = "/admin/users/{id}/sessions",
    operation_id = "adminRevokeUserSessions",
    tag = "admin",
    summary = "Revoke every session of a user",
    description = "Revokes the user's live sessions (none for an unknown user: `revoked: 0`).",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "How many sessions were revoked.", body = Revoked),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`user-not-found`: the id is not a UUID.",
            body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn revoke_all_sessions(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let revoked = state
        .admin
        .revoke_sessions(user_id(&id)?, None, &actor)
        .await?;
    Ok(Json(Revoked { revoked }))
}

#[utoipa::path(
    delete,
    path = "/admin/users/{id}/sessions/{session}",
    operation_id = "adminRevokeUserSession",
    tag = "admin",
    summary = "Revoke one session of a user",
    params(
        ("id" = Uuid, Path, description = "The user id."),
        ("session" = Uuid, Path, description = "The session id."),
    ),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "Revoked.", body = OkBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`session-not-found`: not a live session of that user \
            (or not a UUID); `user-not-found`: the user id is not a UUID.", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn revoke_session(
    State(state): State<AppState>,
    Client(actor): Client,
    Path((id, session)): Path<(String, String)>,
) -> Result<Json<&'static str>, ApiError> {
    let session = session
        .parse()
        .map_err(|_| ApiError::from(AuthError::SessionNotFound))?;
    state
        .admin
        .revoke_sessions(user_id(&id)?, Some(session), &actor)
        .await?;
    Ok(Json("OK"))
}
