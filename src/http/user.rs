//! The signed-in user: `GET /user`, `GET /user/sessions`, `DELETE /user/sessions/{id}`.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{delete, get};
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use super::bearer::Authenticated;
use super::bodies::{SessionInfoBody, UserBody};
use super::client::Client;
use super::error::ApiError;
use super::json::Json;
use crate::auth_error::AuthError;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user", get(user))
        .route("/user/sessions", get(sessions))
        .route("/user/sessions/{id}", delete(revoke))
}

async fn user(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<UserBody>, ApiError> {
    Ok(Json(state.accounts.user(claims.sub).await?.into()))
}

async fn sessions(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<Value>, ApiError> {
    let sessions: Vec<_> = state
        .sessions
        .list(claims.sub)
        .await?
        .into_iter()
        .map(|s| SessionInfoBody::new(s, claims.sid))
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

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
