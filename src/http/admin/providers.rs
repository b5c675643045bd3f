//! `/admin/users/{id}/providers`: any user's identities at providers, and unlinking one.

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::user_id;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::routes::identities::{IdentitiesResponse, identities_response};
use crate::http::views::OkBody;

/// The provider routes, each documented by its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list))
        .routes(routes!(admin_unlink))
}

#[utoipa::path(
    get,
    path = "/admin/users/{id}/providers",
    operation_id = "adminListUserProviders",
    tag = "admin",
    summary = "A user's identities at providers",
    description = "Oldest first. An unknown user has none.",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The identities.", body = IdentitiesResponse),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`user-not-found`: the id is not a UUID.",
            body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn admin_list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IdentitiesResponse>, ApiError> {
    Ok(identities_response(
        state.providers.identities(user_id(&id)?).await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/admin/users/{id}/providers/{provider}",
    operation_id = "adminUnlinkUserProvider",
    tag = "admin",
    summary = "Unlink a user's identity at a provider",
    description = "For an identity the user no longer controls. Refused while it is the \
        account's last way to sign in: disable the user instead, or let them set a password \
        by reset first. Recorded as a `provider-unlinked` security event (`by: admin`).",
    params(
        ("id" = Uuid, Path, description = "The user id."),
        ("provider" = String, Path, description = "The provider's name."),
    ),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "Unlinked.", body = OkBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = "`last-sign-in-method`; `invalid-origin`.",
            body = ErrorBody),
        (status = 404, description = "`provider-not-linked`; `user-not-found`: the user id \
            is not a UUID.", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn admin_unlink(
    State(state): State<AppState>,
    Client(actor): Client,
    Path((id, provider)): Path<(String, String)>,
) -> Result<Json<&'static str>, ApiError> {
    state
        .providers
        .unlink(user_id(&id)?, &provider, None, &actor)
        .await?;
    Ok(Json("OK"))
}
