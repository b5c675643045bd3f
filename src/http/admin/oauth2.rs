//! The OAuth provider's administration, behind the admin secret: the registered apps
//! (`/oauth2/clients`, Nhost's routes) and a user's authorised apps
//! (`/admin/users/{id}/oauth2/apps`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::user_id;
use crate::domain::oauth2::{ClientSpec, NewClient, OAuthClientRecord, OAuthError};
use crate::http::AppState;
use crate::http::error::{ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::routes::oauth2::{AppsBody, OAuthErrorBody, OAuthFailure, apps_body};
use crate::http::views::{OkBody, no_store};

/// The routes, each documented by its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, update_client, delete_client))
        .routes(routes!(user_apps))
        .routes(routes!(revoke_user_app))
}

/// A client as an administrator writes it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = OAuth2ClientRequest, example = json!({
    "name": "Grafana",
    "redirectUris": ["https://grafana.example.com/login/generic_oauth"],
    "postLogoutRedirectUris": ["https://grafana.example.com/login"],
    "scopes": ["openid", "profile", "email", "offline_access"],
    "public": false,
    "firstParty": true
}))]
struct ClientRequest {
    /// Shown to users on the consent page.
    name: String,
    /// Exact redirect URIs: https, http on loopback, or a private-use scheme (native apps).
    redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser.
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    /// Scopes it may ask for; default `openid profile email offline_access`.
    #[serde(default)]
    scopes: Vec<String>,
    /// A public client (browser or native app): no secret, PKCE alone. Fixed at creation.
    #[serde(default)]
    public: bool,
    /// Consent is not asked (the operator's own app).
    #[serde(default)]
    first_party: bool,
    /// `PUT` only: replace the secret (the new one is in the answer, once).
    #[serde(default)]
    rotate_secret: bool,
}

/// A registered client; `clientSecret` only when just created or rotated.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OAuth2Client)]
struct ClientBody {
    client_id: String,
    /// Shown once; Tessera keeps its SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    name: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    scopes: Vec<String>,
    public: bool,
    first_party: bool,
    /// Registered through `POST /oauth2/register`.
    dynamic: bool,
    created_at: String,
    updated_at: String,
}

impl ClientBody {
    fn new(record: OAuthClientRecord, secret: Option<String>) -> Self {
        let rfc3339 = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        let public = !record.confidential();
        Self {
            client_id: record.id,
            client_secret: secret,
            name: record.name,
            redirect_uris: record.redirect_uris,
            post_logout_redirect_uris: record.post_logout_redirect_uris,
            scopes: record.scopes,
            public,
            first_party: record.first_party,
            dynamic: record.dynamic,
            created_at: rfc3339(record.created_at),
            updated_at: rfc3339(record.updated_at),
        }
    }

    fn created(created: NewClient) -> Self {
        Self::new(created.client, created.secret)
    }
}

/// `{clients: [...]}`.
#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2Clients)]
struct ClientsBody {
    clients: Vec<ClientBody>,
}

fn spec(request: ClientRequest) -> (ClientSpec, bool) {
    (
        ClientSpec {
            name: request.name,
            redirect_uris: request.redirect_uris,
            post_logout_redirect_uris: request.post_logout_redirect_uris,
            scopes: request.scopes,
            public: request.public,
            first_party: request.first_party,
        },
        request.rotate_secret,
    )
}

/// 404 unless the provider is on.
fn enabled(state: &AppState) -> Result<(), OAuthFailure> {
    if state.oauth2.enabled() {
        Ok(())
    } else {
        Err(OAuthError::not_found("The OAuth provider is off (TESSERA_OAUTH2_PROVIDER).").into())
    }
}

#[utoipa::path(
    get,
    path = "/oauth2/clients",
    operation_id = "oauth2ListClients",
    tag = "oauth2-admin",
    summary = "The registered apps",
    description = "Oldest first, never their secrets.",
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The clients.", body = ClientsBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`not_found`: the provider is off.", body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn list_clients(State(state): State<AppState>) -> Result<Response, OAuthFailure> {
    enabled(&state)?;
    let clients = state.oauth2.clients().await?;
    Ok(Json(ClientsBody {
        clients: clients
            .into_iter()
            .map(|c| ClientBody::new(c, None))
            .collect(),
    })
    .into_response())
}

#[utoipa::path(
    post,
    path = "/oauth2/clients",
    operation_id = "oauth2CreateClient",
    tag = "oauth2-admin",
    summary = "Register an app",
    description = "Tessera makes the `clientId` (a UUID) and, for a confidential client, a \
        256-bit `clientSecret`, shown in this answer only.",
    request_body(content = ClientRequest, description = "The client."),
    security(("adminSecret" = [])),
    responses(
        (status = 201, description = "The client, with its secret. `Cache-Control: no-store`.",
            body = ClientBody),
        (status = 400, description = "`invalid_request` (name), `invalid_redirect_uri`, \
            `invalid_client_metadata` (a scope this server does not have).",
            body = OAuthErrorBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`not_found`: the provider is off.", body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn create_client(
    State(state): State<AppState>,
    Json(request): Json<ClientRequest>,
) -> Result<Response, OAuthFailure> {
    enabled(&state)?;
    let (spec, _) = spec(request);
    let created = state.oauth2.create_client(spec, false).await?;
    Ok(no_store(
        (StatusCode::CREATED, Json(ClientBody::created(created))).into_response(),
    ))
}

#[utoipa::path(
    get,
    path = "/oauth2/clients/{clientId}",
    operation_id = "oauth2GetClient",
    tag = "oauth2-admin",
    summary = "One registered app",
    params(("clientId" = String, Path, description = "The client id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The client.", body = ClientBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`not_found`.", body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn get_client(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, OAuthFailure> {
    enabled(&state)?;
    let client = state.oauth2.client(&id).await?;
    Ok(Json(ClientBody::new(client, None)).into_response())
}

#[utoipa::path(
    put,
    path = "/oauth2/clients/{clientId}",
    operation_id = "oauth2UpdateClient",
    tag = "oauth2-admin",
    summary = "Change a registered app",
    description = "Replaces its settings (`public` cannot change). With `rotateSecret: true`, \
        a new secret replaces the old one at once and is in this answer only. Grants already \
        issued keep their scopes until they end.",
    params(("clientId" = String, Path, description = "The client id.")),
    request_body(content = ClientRequest, description = "The client."),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The client. `Cache-Control: no-store`.", body = ClientBody),
        (status = 400, description = "As for creation, or a change of `public`.",
            body = OAuthErrorBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`not_found`.", body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn update_client(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(request): Json<ClientRequest>,
) -> Result<Response, OAuthFailure> {
    enabled(&state)?;
    let (spec, rotate) = spec(request);
    let updated = state.oauth2.update_client(&id, spec, rotate).await?;
    Ok(no_store(Json(ClientBody::created(updated))))
}

#[utoipa::path(
    delete,
    path = "/oauth2/clients/{clientId}",
    operation_id = "oauth2DeleteClient",
    tag = "oauth2-admin",
    summary = "Delete a registered app",
    description = "Its grants end at once (their sessions are revoked), its consents and \
        pending requests go. Recorded as an `oauth2-client-deleted` security event.",
    params(("clientId" = String, Path, description = "The client id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "`\"OK\"`.", body = OkBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`not_found`.", body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn delete_client(
    State(state): State<AppState>,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, OAuthFailure> {
    enabled(&state)?;
    state.oauth2.delete_client(&id, &client).await?;
    Ok(Json("OK").into_response())
}

#[utoipa::path(
    get,
    path = "/admin/users/{id}/oauth2/apps",
    operation_id = "adminListAuthorisedApps",
    tag = "admin",
    summary = "The apps a user has authorised",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The apps.", body = AppsBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`user-not-found` (the id is not a UUID).", body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn user_apps(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, OAuthFailure> {
    let id = user_id(&id).map_err(|e| OAuthError::not_found(e.message))?;
    let apps = state.oauth2.authorised_apps(id).await?;
    Ok(Json(apps_body(apps)).into_response())
}

#[utoipa::path(
    delete,
    path = "/admin/users/{id}/oauth2/apps/{clientId}",
    operation_id = "adminRevokeAuthorisedApp",
    tag = "admin",
    summary = "Withdraw an app's access to a user",
    description = "As the user's own `DELETE /user/oauth2/apps/{clientId}`; the security \
        event says `by: admin`.",
    params(
        ("id" = Uuid, Path, description = "The user id."),
        ("clientId" = String, Path, description = "The app's client id."),
    ),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "`\"OK\"`.", body = OkBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`not_found`: the user has not authorised this app.",
            body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn revoke_user_app(
    State(state): State<AppState>,
    Client(client): Client,
    Path((id, client_id)): Path<(String, String)>,
) -> Result<Response, OAuthFailure> {
    let id = user_id(&id).map_err(|e| OAuthError::not_found(e.message))?;
    state
        .oauth2
        .revoke_app(id, &client_id, "admin", &client)
        .await?;
    Ok(Json("OK").into_response())
}
