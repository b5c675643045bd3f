//! `/admin/users/{id}/pats` and `/admin/pats/{id}`: any user's personal access tokens,
//! and revoking any of them.

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::domain::errors::AuthError;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::routes::pats::pat_id;
use crate::http::views::{OkBody, PatsResponse, pats_response};

/// The PAT routes, each documented by its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list))
        .routes(routes!(admin_revoke))
}

#[utoipa::path(
    get,
    path = "/admin/users/{id}/pats",
    operation_id = "adminListUserPATs",
    tag = "admin",
    summary = "A user's personal access tokens",
    description = "Live (unrevoked, unexpired) PATs, newest first; never the tokens.",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The live PATs.", body = PatsResponse),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`user-not-found` (or the id is not a UUID).",
            body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn admin_list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PatsResponse>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::from(AuthError::UserNotFound))?;
    Ok(pats_response(state.pats.list_for_admin(id).await?))
}

#[utoipa::path(
    delete,
    path = "/admin/pats/{id}",
    operation_id = "adminRevokePAT",
    tag = "admin",
    summary = "Revoke any personal access token",
    description = "The PAT stops working at once, and the sessions it started end. Recorded \
        as a `pat-revoked` security event.",
    params(("id" = Uuid, Path, description = "The PAT's id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "Revoked.", body = OkBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`pat-not-found`: no unrevoked PAT with this id (or not \
            a UUID).", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn admin_revoke(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(id): Path<String>,
) -> Result<Json<&'static str>, ApiError> {
    state.pats.revoke_by_admin(pat_id(&id)?, &actor).await?;
    Ok(Json("OK"))
}
