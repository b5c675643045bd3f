//! `GET /user/oauth2/apps` and `DELETE /user/oauth2/apps/{clientId}`: the apps the caller
//! has authorised, and withdrawing one (its grants end at once).

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{OAuthErrorBody, OAuthFailure};
use crate::domain::oauth2::AuthorisedApp;
use crate::http::AppState;
use crate::http::error::{ErrorBody, doc};
use crate::http::extract::bearer::Authenticated;
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{OkBody, no_store};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(revoke))
}

/// An app the user authorised.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OAuth2AuthorisedApp)]
pub struct AppBody {
    pub client_id: String,
    pub name: String,
    /// The scopes consented to.
    pub scopes: Vec<String>,
    /// When consent was last given (RFC 3339).
    pub granted_at: String,
    /// Live grants the app holds (each a session with its own tokens).
    pub active_grants: usize,
}

/// `{apps: [...]}`.
#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2AuthorisedApps)]
pub struct AppsBody {
    pub apps: Vec<AppBody>,
}

/// The answer shape of a list of authorised apps (also the admin's).
pub fn apps_body(apps: Vec<AuthorisedApp>) -> AppsBody {
    AppsBody {
        apps: apps
            .into_iter()
            .map(|app| AppBody {
                client_id: app.client_id,
                name: app.name,
                scopes: app.scopes,
                granted_at: app
                    .granted_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                active_grants: app.active_grants,
            })
            .collect(),
    }
}

#[utoipa::path(
    get,
    path = "/user/oauth2/apps",
    operation_id = "listAuthorisedApps",
    tag = "oauth2",
    summary = "The apps the caller has authorised",
    description = "Apps the user consented to, or that hold a live grant, oldest first.",
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The apps.", body = AppsBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Response, OAuthFailure> {
    let apps = state.oauth2.authorised_apps(claims.sub).await?;
    Ok(no_store(Json(apps_body(apps))))
}

#[utoipa::path(
    delete,
    path = "/user/oauth2/apps/{clientId}",
    operation_id = "revokeAuthorisedApp",
    tag = "oauth2",
    summary = "Withdraw an app's access",
    description = "Every grant of the app ends at once (its refresh tokens stop working, its \
        access tokens stop passing `userinfo` and introspection) and consent will be asked \
        again. Recorded as an `oauth2-grant-revoked` security event.",
    params(("clientId" = String, Path, description = "The app's client id.")),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "`\"OK\"`.", body = OkBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`not_found`: the user has not authorised this app.",
            body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Path(client_id): Path<String>,
) -> Result<Response, OAuthFailure> {
    state
        .oauth2
        .revoke_app(claims.sub, &client_id, "user", &client)
        .await?;
    Ok(no_store(Json("OK")))
}
