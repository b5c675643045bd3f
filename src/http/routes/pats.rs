//! Personal access tokens, in Nhost's shapes: `POST /pat`, `POST /signin/pat`, and the
//! caller's own list and revocation under `/user/pats` (the admin routes are in
//! `admin::pats`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::transport::deliver;
use crate::domain::errors::AuthError;
use crate::http::AppState;
use crate::http::cookies::{AuthModeHeader, requested_mode};
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::bearer::Authenticated;
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{OkBody, PatsResponse, SessionPayload, no_store, pats_response};

/// The user-facing routes, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(sign_in))
        .routes(routes!(list))
        .routes(routes!(revoke))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = CreatePATRequest, example = json!({
    "expiresAt": "2027-01-01T00:00:00Z",
    "metadata": {"name": "deploy-cli"}
}))]
struct CreateRequest {
    /// When the PAT stops working: RFC 3339, in the future, at most 365 days ahead.
    #[schema(format = DateTime)]
    expires_at: String,
    /// A JSON object of at most 8 KiB (a name, what uses it); shown in the PAT list.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

/// Nhost's `CreatePATResponse`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CreatePATResponse)]
struct CreateResponse {
    /// The PAT's id (for listing and revoking).
    id: Uuid,
    /// The token: `tpat_` and 43 characters of base64url. Shown this once; Tessera keeps
    /// only its SHA-256.
    personal_access_token: String,
}

#[utoipa::path(
    post,
    path = "/pat",
    operation_id = "createPAT",
    tag = "user",
    summary = "Create a personal access token",
    description = "Makes a long-lived token for scripts and CI, exchanged for a session with \
        `POST /signin/pat`. Needs an access token of a session signed in less than \
        `TESSERA_RECENT_AUTH_WINDOW` ago by a method other than a PAT (else 403 \
        `elevated-claim-required`: sign in again). The token is in this answer only. A \
        user has at most 50 live PATs. Recorded as a `pat-created` security event.",
    request_body(content = CreateRequest, description = "Expiry and optional metadata."),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The new PAT. `Cache-Control: no-store`.",
            body = CreateResponse),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a \
            missing field, `expiresAt` not RFC 3339, not in the future or more than 365 days \
            ahead, `metadata` not an object of at most 8 KiB, or 50 live PATs already.",
            body = ErrorBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = "`elevated-claim-required`: the session's sign-in is \
            older than `TESSERA_RECENT_AUTH_WINDOW`, or was itself a PAT sign-in; \
            `invalid-origin` (cookies from a foreign origin).", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Json(request): Json<CreateRequest>,
) -> Result<Response, ApiError> {
    let created = state
        .pats
        .create(
            claims.sub,
            claims.sid,
            &request.expires_at,
            request.metadata,
            &client,
        )
        .await?;
    Ok(no_store(Json(CreateResponse {
        id: created.id,
        personal_access_token: created.token,
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SignInPATRequest)]
struct SignInRequest {
    /// The token `POST /pat` answered.
    #[schema(value_type = String, format = Password)]
    personal_access_token: SecretString,
}

#[utoipa::path(
    post,
    path = "/signin/pat",
    operation_id = "signInPAT",
    tag = "auth",
    summary = "Sign in with a personal access token",
    description = "Starts a new session for the PAT's user. Unknown, malformed, expired and \
        revoked PATs get the same answer. The session is an ordinary one (refresh, sign-out), \
        except that it never counts as a recent sign-in, and revoking the PAT ends it. \
        Counts against the sign-in rate limit (`TESSERA_RATE_LIMIT_SIGNIN`). In cookie mode \
        the tokens go into cookies. Recorded as a `signin-succeeded` security event with \
        `method: pat`.",
    request_body(content = SignInRequest, description = "The PAT."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "`{session}` (Nhost's `SessionPayload`). \
            `Cache-Control: no-store`.", body = SessionPayload,
            headers(("Set-Cookie" = String, description = "Cookie mode only: the access \
                cookie, the refresh cookie and the `tessera-session` hint."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a \
            missing field.", body = ErrorBody),
        (status = 401, description = "`invalid-pat`: unknown, malformed, expired or \
            revoked; `disabled-user`.", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<SignInRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .pats
        .sign_in(request.personal_access_token.expose_secret(), &client)
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(SessionPayload {
        session: deliver(&state, &cookies, mode, session),
    })))
}

/// A PAT id from a path: a malformed one names no PAT (the same 404).
pub(in crate::http) fn pat_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| AuthError::PatNotFound.into())
}

#[utoipa::path(
    get,
    path = "/user/pats",
    operation_id = "listPATs",
    tag = "user",
    summary = "The signed-in user's personal access tokens",
    description = "Live (unrevoked, unexpired) PATs, newest first; never the tokens.",
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The live PATs.", body = PatsResponse),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<PatsResponse>, ApiError> {
    Ok(pats_response(state.pats.list(claims.sub).await?))
}

#[utoipa::path(
    delete,
    path = "/user/pats/{id}",
    operation_id = "revokePAT",
    tag = "user",
    summary = "Revoke one of the signed-in user's personal access tokens",
    description = "The PAT stops working at once, and the sessions it started end. Recorded \
        as a `pat-revoked` security event.",
    params(("id" = Uuid, Path, description = "The PAT's id.")),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "Revoked.", body = OkBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`pat-not-found`: not an unrevoked PAT of the caller's \
            (or not a UUID).", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Json<&'static str>, ApiError> {
    state.pats.revoke(claims.sub, pat_id(&id)?, &client).await?;
    Ok(Json("OK"))
}
