//! A signed-in user's passkeys: adding one and stepping up with one in Nhost's shapes
//! (`POST /user/webauthn/add`, `/user/webauthn/verify`, `/elevate/webauthn[/verify]`), and
//! Tessera's list, rename and delete (`/user/passkeys`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::transport::deliver;
use super::webauthn::{CEREMONY_REFUSED, NOT_CONFIGURED, VerifyRequest};
use crate::config::AuthMode;
use crate::domain::PasskeyRecord;
use crate::domain::errors::AuthError;
use crate::http::AppState;
use crate::http::cookies::requested_mode;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::bearer::Authenticated;
use crate::http::extract::client::Client;
use crate::http::extract::json::{Json, OptionalJson};
use crate::http::views::{OkBody, SessionPayload, no_store, timestamp};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add))
        .routes(routes!(verify_add))
        .routes(routes!(elevate))
        .routes(routes!(verify_elevate))
        .routes(routes!(list))
        .routes(routes!(rename, remove))
}

#[utoipa::path(
    post,
    path = "/user/webauthn/add",
    operation_id = "addSecurityKey",
    tag = "user",
    summary = "Add a passkey: the creation options",
    description = "Begins adding a passkey to the signed-in account, bound to this session. \
        A sensitive change: the session must have authenticated within \
        `TESSERA_RECENT_AUTH_WINDOW` (not by a PAT), with the second factor if the account \
        has one, else 403 `elevated-claim-required` (step up with `POST /elevate/webauthn` \
        or `POST /elevate/totp`). The account's passkeys are excluded. No body needed.",
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The creation options. `Cache-Control: no-store`.",
            body = Object),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = "`elevated-claim-required`; `forbidden-anonymous`; \
            `webauthn-not-configured`; `invalid-origin`.", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn add(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Response, ApiError> {
    let options = state.passkeys.begin_add(claims.sub, claims.sid).await?;
    Ok(no_store(Json(options)))
}

/// Nhost's `VerifyAddSecurityKeyRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VerifyAddSecurityKeyRequest)]
struct VerifyAddRequest {
    /// The new credential, as `PublicKeyCredential.toJSON()` gives it.
    #[schema(value_type = Object)]
    credential: Value,
    /// A name for it (default `Passkey`), at most 64 characters.
    nickname: Option<String>,
}

/// Nhost's `VerifyAddSecurityKeyResponse`.
#[derive(Serialize, ToSchema)]
#[schema(as = VerifyAddSecurityKeyResponse)]
struct VerifyAddResponse {
    id: Uuid,
    nickname: String,
}

#[utoipa::path(
    post,
    path = "/user/webauthn/verify",
    operation_id = "verifyAddSecurityKey",
    tag = "user",
    summary = "Add a passkey: verify and keep it",
    description = "Verifies the new passkey against the ceremony this session began with \
        `POST /user/webauthn/add` (single use) and adds it to the account. Recorded as a \
        `passkey-added` security event.",
    request_body(content = VerifyAddRequest, description = "The credential and a name."),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "`{id, nickname}`.", body = VerifyAddResponse),
        (status = 400, description = "`invalid-request`: malformed JSON or credential, a \
            nickname too long.", body = ErrorBody),
        (status = 401, description = CEREMONY_REFUSED, body = ErrorBody),
        (status = 403, description = NOT_CONFIGURED, body = ErrorBody),
        (status = 409, description = "`webauthn-credential-exists`.", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn verify_add(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Json(request): Json<VerifyAddRequest>,
) -> Result<Json<VerifyAddResponse>, ApiError> {
    let passkey = state
        .passkeys
        .finish_add(
            claims.sub,
            claims.sid,
            request.credential,
            request.nickname.as_deref(),
            &client,
        )
        .await?;
    Ok(Json(VerifyAddResponse {
        id: passkey.id,
        nickname: passkey.nickname,
    }))
}

#[utoipa::path(
    post,
    path = "/elevate/webauthn",
    operation_id = "elevateWebauthn",
    tag = "user",
    summary = "Step up with a passkey: the request options",
    description = "Begins a step-up of the signed-in user with one of their passkeys, bound \
        to this session. No body needed (Nhost's older `{email}` is accepted and ignored).",
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The request options. `Cache-Control: no-store`.",
            body = Object),
        (status = 400, description = "`no-passkey`: the account has none; \
            `invalid-request`.", body = ErrorBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = "`elevated-claim-required`: a PAT's session; \
            `webauthn-not-configured`; `invalid-origin`.", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn elevate(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    OptionalJson(_ignored): OptionalJson<Value>,
) -> Result<Response, ApiError> {
    let options = state.passkeys.begin_elevate(claims.sub, claims.sid).await?;
    Ok(no_store(Json(options)))
}

#[utoipa::path(
    post,
    path = "/elevate/webauthn/verify",
    operation_id = "verifyElevateWebauthn",
    tag = "user",
    summary = "Step up with a passkey: a new session",
    description = "Verifies the passkey against the ceremony this session began with \
        `POST /elevate/webauthn` and, as Nhost does, answers a new session of the user: \
        authenticated now (`auth_time`), with the methods of the session that asked plus \
        `hwk`, `user` and `mfa`, so the sensitive changes (password, email, PATs, passkeys) \
        are open to it. The session that asked is left as it was. A request authenticated \
        by the access cookie gets the new session in the cookies. Recorded as a \
        `passkey-step-up` security event.",
    request_body(content = VerifyRequest, description = "The assertion."),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "`{session}`. `Cache-Control: no-store`.",
            body = SessionPayload),
        (status = 400, description = "`invalid-request`: malformed JSON or credential.",
            body = ErrorBody),
        (status = 401, description = CEREMONY_REFUSED, body = ErrorBody),
        (status = 403, description = NOT_CONFIGURED, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn verify_elevate(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<VerifyRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .passkeys
        .finish_elevate(claims.sub, claims.sid, request.credential, &client)
        .await?;
    let mode = if headers.contains_key(header::AUTHORIZATION) {
        requested_mode(&headers, state.config.cookies.default_auth_mode)
    } else {
        AuthMode::Cookie
    };
    Ok(no_store(Json(SessionPayload {
        session: deliver(&state, &cookies, mode, session),
    })))
}

/// A passkey as its owner (or an administrator) sees it; never its key.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Passkey)]
pub(crate) struct PasskeyBody {
    id: Uuid,
    nickname: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// The last sign-in or step-up with it; `null` if never used.
    #[schema(required = true, format = DateTime)]
    last_used_at: Option<String>,
    /// Whether it may be synced to other devices (a synced passkey).
    backup_eligible: bool,
    /// Whether it is synced now.
    backed_up: bool,
    /// How a client reaches its authenticator (`internal`, `usb`, `hybrid`, ...).
    transports: Vec<String>,
}

impl From<PasskeyRecord> for PasskeyBody {
    fn from(passkey: PasskeyRecord) -> Self {
        Self {
            id: passkey.id,
            nickname: passkey.nickname,
            created_at: timestamp(passkey.created_at),
            last_used_at: passkey.last_used_at.map(timestamp),
            backup_eligible: passkey.backup_eligible,
            backed_up: passkey.backup_state,
            transports: passkey.transports,
        }
    }
}

/// `{passkeys}`, oldest first.
#[derive(Serialize, ToSchema)]
#[schema(as = Passkeys)]
pub(crate) struct PasskeysResponse {
    passkeys: Vec<PasskeyBody>,
}

pub(crate) fn passkeys_response(passkeys: Vec<PasskeyRecord>) -> Json<PasskeysResponse> {
    Json(PasskeysResponse {
        passkeys: passkeys.into_iter().map(PasskeyBody::from).collect(),
    })
}

/// A passkey id from the path; a malformed one names no passkey.
pub(crate) fn passkey_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| AuthError::PasskeyNotFound.into())
}

#[utoipa::path(
    get,
    path = "/user/passkeys",
    operation_id = "listPasskeys",
    tag = "user",
    summary = "The signed-in user's passkeys (Tessera)",
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The passkeys, oldest first.", body = PasskeysResponse),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<PasskeysResponse>, ApiError> {
    Ok(passkeys_response(state.passkeys.list(claims.sub).await?))
}

/// `{nickname}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RenamePasskeyRequest)]
struct RenameRequest {
    /// At most 64 characters; empty gives the default `Passkey`.
    nickname: String,
}

#[utoipa::path(
    patch,
    path = "/user/passkeys/{id}",
    operation_id = "renamePasskey",
    tag = "user",
    summary = "Rename one of the signed-in user's passkeys (Tessera)",
    params(("id" = Uuid, Path, description = "The passkey's id.")),
    request_body(content = RenameRequest, description = "The new name."),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The passkey.", body = PasskeyBody),
        (status = 400, description = "`invalid-request`: malformed JSON, a name too long.",
            body = ErrorBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`passkey-not-found` (or not a UUID).", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn rename(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Path(id): Path<String>,
    Json(request): Json<RenameRequest>,
) -> Result<Json<PasskeyBody>, ApiError> {
    let passkey = state
        .passkeys
        .rename(claims.sub, passkey_id(&id)?, &request.nickname)
        .await?;
    Ok(Json(passkey.into()))
}

#[utoipa::path(
    delete,
    path = "/user/passkeys/{id}",
    operation_id = "deletePasskey",
    tag = "user",
    summary = "Remove one of the signed-in user's passkeys (Tessera)",
    description = "A sensitive change (a recent authentication, with the second factor if \
        the account has one). Refused while it is the account's last way to sign in (no \
        password, no other passkey). Recorded as a `passkey-removed` security event.",
    params(("id" = Uuid, Path, description = "The passkey's id.")),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "Removed.", body = OkBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = "`last-sign-in-method`; `elevated-claim-required`; \
            `invalid-origin`.", body = ErrorBody),
        (status = 404, description = "`passkey-not-found` (or not a UUID).", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn remove(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Json<&'static str>, ApiError> {
    state
        .passkeys
        .remove(claims.sub, passkey_id(&id)?, Some(claims.sid), &client)
        .await?;
    Ok(Json("OK"))
}
