//! Personal access tokens, in Nhost's shapes: `POST /pat`, `POST /signin/pat`, the
//! caller's own list and revocation under `/user/pats`, and the admin routes (mounted by
//! `admin::router`, behind the admin secret).

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

use super::AppState;
use super::auth::deliver;
use super::bearer::Authenticated;
use super::bodies::{OkBody, SessionPayload, no_store, timestamp};
use super::client::Client;
use super::cookies::{AuthModeHeader, requested_mode};
use super::error::{ApiError, ErrorBody, doc};
use super::json::Json;
use crate::domain::PatRecord;
use crate::domain::errors::AuthError;

/// The user-facing routes, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(sign_in))
        .routes(routes!(list))
        .routes(routes!(revoke))
}

/// The admin routes, merged into the admin router (behind the secret).
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list))
        .routes(routes!(admin_revoke))
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

/// One entry of a PAT list: never the token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PATInfo)]
struct PatInfoBody {
    id: Uuid,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    /// The last sign-in with it; `null` if never used.
    #[schema(required = true, format = DateTime)]
    last_used_at: Option<String>,
    /// What the creator attached.
    #[schema(value_type = Object)]
    metadata: Value,
}

impl From<PatRecord> for PatInfoBody {
    fn from(pat: PatRecord) -> Self {
        Self {
            id: pat.id,
            created_at: timestamp(pat.created_at),
            expires_at: timestamp(pat.expires_at),
            last_used_at: pat.last_used_at.map(timestamp),
            metadata: pat.metadata,
        }
    }
}

/// `{pats}`: live (unrevoked, unexpired) PATs, newest first.
#[derive(Serialize, ToSchema)]
#[schema(as = PATs)]
struct PatsResponse {
    pats: Vec<PatInfoBody>,
}

fn pats_response(pats: Vec<PatRecord>) -> Json<PatsResponse> {
    Json(PatsResponse {
        pats: pats.into_iter().map(PatInfoBody::from).collect(),
    })
}

/// A PAT id from a path: a malformed one names no PAT (the same 404).
fn pat_id(raw: &str) -> Result<Uuid, ApiError> {
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
