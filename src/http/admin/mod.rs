//! `/admin/...`: user, session, key, PAT, passkey and event administration. Mounted only when
//! `TESSERA_ADMIN_SECRET` is set (otherwise every `/admin` path is a 404); every request
//! must carry the secret in `x-tessera-admin-secret`, compared in constant time, or it is
//! refused with 401 `invalid-admin-secret` before anything else happens.

mod events;
mod keys;
mod oauth2;
mod passkeys;
mod pats;
mod providers;
mod sessions;
mod users;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::domain::errors::AuthError;
use crate::http::AppState;
use crate::http::error::ApiError;

/// The header that carries the admin secret.
pub const ADMIN_SECRET_HEADER: &str = "x-tessera-admin-secret";

/// The admin routes, under `/admin`, behind the secret, each documented by its
/// `#[utoipa::path]`.
pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(users::routes())
        .merge(sessions::routes())
        .merge(keys::routes())
        .merge(pats::routes())
        .merge(passkeys::routes())
        .merge(providers::routes())
        .merge(events::routes())
        .merge(oauth2::routes())
        .route_layer(middleware::from_fn_with_state(state, require_secret))
}

async fn require_secret(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(ADMIN_SECRET_HEADER)
        .and_then(|v| v.to_str().ok());
    if !state.admin.check_secret(presented) {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid-admin-secret",
            "The admin secret is missing or wrong.",
        )
        .into_response();
    }
    next.run(request).await
}

fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::from(AuthError::UserNotFound))
}
