//! `/admin/users/{id}/passkeys`: any user's passkeys, and removing one (a lost or stolen
//! authenticator).

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::user_id;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::routes::passkeys::{PasskeysResponse, passkey_id, passkeys_response};
use crate::http::views::OkBody;

/// The passkey routes, each documented by its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list))
        .routes(routes!(admin_remove))
}

#[utoipa::path(
    get,
    path = "/admin/users/{id}/passkeys",
    operation_id = "adminListUserPasskeys",
    tag = "admin",
    summary = "A user's passkeys",
    description = "Oldest first; never their keys. An unknown user has none.",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The passkeys.", body = PasskeysResponse),
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
) -> Result<Json<PasskeysResponse>, ApiError> {
    Ok(passkeys_response(state.passkeys.list(user_id(&id)?).await?))
}

#[utoipa::path(
    delete,
    path = "/admin/users/{id}/passkeys/{passkeyId}",
    operation_id = "adminDeleteUserPasskey",
    tag = "admin",
    summary = "Remove a user's passkey",
    description = "For a lost or stolen authenticator. Refused while it is the account's \
        last way to sign in (no password, no other passkey): disable the user instead, or \
        let them set a password by reset first. Recorded as a `passkey-removed` security \
        event (`by: admin`).",
    params(
        ("id" = Uuid, Path, description = "The user id."),
        ("passkeyId" = Uuid, Path, description = "The passkey's id."),
    ),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "Removed.", body = OkBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = "`last-sign-in-method`; `invalid-origin`.",
            body = ErrorBody),
        (status = 404, description = "`passkey-not-found`: not a passkey of this user (or \
            not a UUID); `user-not-found`: the user id is not a UUID.", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn admin_remove(
    State(state): State<AppState>,
    Client(actor): Client,
    Path((id, passkey)): Path<(String, String)>,
) -> Result<Json<&'static str>, ApiError> {
    state
        .passkeys
        .remove(user_id(&id)?, passkey_id(&passkey)?, None, &actor)
        .await?;
    Ok(Json("OK"))
}
