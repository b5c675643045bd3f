//! `POST /oauth2/register`: dynamic client registration (RFC 7591), only with the
//! operator's initial access token (`TESSERA_OAUTH2_REGISTRATION_TOKEN`); off without one.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{OAuthErrorBody, OAuthFailure};
use crate::domain::oauth2::{ClientSpec, OAuthError};
use crate::http::AppState;
use crate::http::error::{ErrorBody, doc};
use crate::http::extract::bearer::bearer_token;
use crate::http::extract::json::Json;
use crate::http::views::no_store;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(register))
}

/// RFC 7591 client metadata (the members Tessera reads; others are ignored).
#[derive(Deserialize, ToSchema)]
#[schema(as = OAuth2RegistrationRequest)]
struct RegistrationRequest {
    redirect_uris: Vec<String>,
    #[serde(default)]
    client_name: Option<String>,
    /// `client_secret_basic` (default), `client_secret_post`, or `none` for a public client.
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    /// Space-separated; default `openid profile email offline_access`.
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    /// Only `authorization_code` and `refresh_token`.
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    /// Only `code`.
    #[serde(default)]
    response_types: Option<Vec<String>>,
}

/// RFC 7591's answer.
#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2RegistrationResponse)]
struct RegistrationBody {
    client_id: String,
    /// Confidential clients only; shown this once (Tessera keeps its SHA-256).
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    client_id_issued_at: i64,
    /// 0: the secret does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<i64>,
    client_name: String,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    token_endpoint_auth_method: String,
    grant_types: [&'static str; 2],
    response_types: [&'static str; 1],
    scope: String,
}

#[utoipa::path(
    post,
    path = "/oauth2/register",
    operation_id = "oauth2Register",
    tag = "oauth2",
    summary = "Register a client (RFC 7591)",
    description = "Needs `Authorization: Bearer <TESSERA_OAUTH2_REGISTRATION_TOKEN>`; without \
        that setting registration is off (403 `access_denied`). A registered client is never \
        first-party (its users are asked for consent). Recorded in the log with its id.",
    request_body(content = RegistrationRequest, description = "Client metadata."),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The client. `Cache-Control: no-store`.", body = RegistrationBody),
        (status = 400, description = "`invalid_redirect_uri`, `invalid_client_metadata`.",
            body = OAuthErrorBody),
        (status = 401, description = "`invalid_token`: the initial access token is missing or wrong.",
            body = OAuthErrorBody),
        (status = 403, description = "`access_denied`: registration is off.", body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, OAuthFailure> {
    let token = bearer_token(&headers).map(str::to_owned);
    // Checked before the body is read: nobody else learns anything from it.
    state.oauth2.check_registration(token.as_deref())?;
    let request: RegistrationRequest =
        serde_json::from_slice(&body).map_err(|_| OAuthError::Protocol {
            code: "invalid_client_metadata",
            description: "The body is not JSON client metadata with redirect_uris.".into(),
            status: 400,
        })?;
    let method = request
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".into());
    if !matches!(
        method.as_str(),
        "client_secret_basic" | "client_secret_post" | "none"
    ) {
        return Err(metadata(
            "token_endpoint_auth_method must be client_secret_basic, client_secret_post or none.",
        ));
    }
    if request.grant_types.as_ref().is_some_and(|g| {
        g.iter()
            .any(|g| g != "authorization_code" && g != "refresh_token")
    }) {
        return Err(metadata(
            "Only the authorization_code and refresh_token grants exist here.",
        ));
    }
    if request
        .response_types
        .as_ref()
        .is_some_and(|r| r.iter().any(|r| r != "code"))
    {
        return Err(metadata("Only response_type code exists here (OAuth 2.1)."));
    }
    let spec = ClientSpec {
        name: request.client_name.unwrap_or_else(|| "Unnamed app".into()),
        redirect_uris: request.redirect_uris,
        post_logout_redirect_uris: request.post_logout_redirect_uris,
        scopes: request
            .scope
            .map(|s| {
                s.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        public: method == "none",
        first_party: false,
    };
    let created = state.oauth2.register_client(token.as_deref(), spec).await?;
    let record = created.client;
    let body = RegistrationBody {
        client_id: record.id,
        client_secret_expires_at: created.secret.as_ref().map(|_| 0),
        client_secret: created.secret,
        client_id_issued_at: record.created_at.unix_timestamp(),
        client_name: record.name,
        redirect_uris: record.redirect_uris,
        post_logout_redirect_uris: record.post_logout_redirect_uris,
        token_endpoint_auth_method: method,
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        scope: record.scopes.join(" "),
    };
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response()))
}

fn metadata(description: &'static str) -> OAuthFailure {
    OAuthError::Protocol {
        code: "invalid_client_metadata",
        description: description.into(),
        status: 400,
    }
    .into()
}
