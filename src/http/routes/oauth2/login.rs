//! `GET`/`POST /oauth2/login`: Nhost's hand-over between `/oauth2/authorize` and the
//! operator's own login and consent page. The page reads the pending request, signs the
//! user in with Tessera's API as usual, shows what the app asks for, and on the user's
//! "allow" posts the request id with the user's access token.

use axum::extract::{Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{OAuthErrorBody, OAuthFailure};
use crate::domain::oauth2::{Approval, OAuthError};
use crate::http::AppState;
use crate::http::error::{ErrorBody, doc};
use crate::http::extract::bearer::Authenticated;
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::no_store;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(pending, approve))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct PendingQuery {
    /// The `request_id` the login page received.
    request_id: String,
}

/// Nhost's `OAuth2LoginResponse`, with the app's name and whether consent is asked.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OAuth2LoginResponse)]
struct PendingBody {
    request_id: Uuid,
    client_id: String,
    /// The app's name, to show the user.
    client_name: String,
    scopes: Vec<String>,
    redirect_uri: String,
    /// A first-party app: the page need not ask for consent.
    first_party: bool,
}

#[utoipa::path(
    get,
    path = "/oauth2/login",
    operation_id = "oauth2LoginGet",
    tag = "oauth2",
    summary = "The authorization request waiting for the user",
    description = "For the operator's login page (`TESSERA_OAUTH2_LOGIN_URL`): which app asks \
        for which scopes. Only while the request waits (unapproved, within \
        `TESSERA_OAUTH2_REQUEST_TTL`).",
    params(PendingQuery),
    responses(
        (status = 200, description = "The request.", body = PendingBody),
        (status = 400, description = "`invalid_request`: unknown, expired or answered.",
            body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn pending(
    State(state): State<AppState>,
    Query(query): Query<PendingQuery>,
) -> Result<Response, OAuthFailure> {
    let id = request_id(&query.request_id)?;
    let pending = state.oauth2.pending_request(id, None).await?;
    Ok(no_store(Json(PendingBody {
        request_id: pending.id,
        client_id: pending.client_id,
        client_name: pending.client_name,
        scopes: pending.scopes,
        redirect_uri: pending.redirect_uri,
        first_party: pending.first_party,
    })))
}

/// Nhost's `OAuth2LoginRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = OAuth2LoginRequest)]
struct ApproveRequest {
    request_id: String,
}

/// Nhost's `OAuth2LoginCompleteResponse`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = OAuth2LoginCompleteResponse)]
struct ApprovedBody {
    /// Where to send the browser: the app's redirect URI with `code`, `state` and `iss`.
    redirect_uri: String,
}

#[utoipa::path(
    post,
    path = "/oauth2/login",
    operation_id = "oauth2LoginPost",
    tag = "oauth2",
    summary = "Approve an authorization request as the signed-in user",
    description = "The user consents (the page showed what the app asks for). Needs the \
        user's Tessera access token; the grant carries that session's `auth_time` and `amr`. \
        The request gets a single-use code (`TESSERA_OAUTH2_CODE_TTL`), the consent is \
        remembered, and the answer says where to send the browser. An anonymous or disabled \
        user is refused (403 `access_denied`). Recorded as an `oauth2-authorized` security \
        event.",
    request_body(content = ApproveRequest, description = "The request id."),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "Where the browser goes.", body = ApprovedBody),
        (status = 400, description = "`invalid_request`: unknown, expired or answered.",
            body = OAuthErrorBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = "`access_denied`.", body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn approve(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Json(request): Json<ApproveRequest>,
) -> Result<Response, OAuthFailure> {
    let id = request_id(&request.request_id)?;
    let auth_time = claims
        .auth_time
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or_else(|| state.clock.now());
    let approval = Approval {
        user_id: claims.sub,
        auth_time,
        amr: claims.amr.clone(),
    };
    let location = state.oauth2.approve(id, approval, None, &client).await?;
    Ok(no_store(Json(ApprovedBody {
        redirect_uri: location.to_string(),
    })))
}

fn request_id(raw: &str) -> Result<Uuid, OAuthFailure> {
    raw.parse().map_err(|_| {
        OAuthError::invalid_request(
            "This sign-in request is unknown, expired or already answered; start again from the app.",
        )
        .into()
    })
}
