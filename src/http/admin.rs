//! `/admin/...`: user, session, key and event administration. Mounted only when
//! `TESSERA_ADMIN_SECRET` is set (otherwise every `/admin` path is a 404); every request
//! must carry the secret in `x-tessera-admin-secret`, compared in constant time, or it is
//! refused with 401 `invalid-admin-secret` before anything else happens.

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::bodies::{OkBody, SessionInfoBody, SessionsResponse, UserBody, timestamp};
use super::client::Client;
use super::error::{ApiError, ErrorBody, doc};
use super::json::Json;
use super::{AppState, admin_keys, pats};
use crate::domain::admin::{NewUser, UserPatch};
use crate::domain::errors::AuthError;
use crate::domain::{EventFilter, SecurityEventRecord, UserRecord};

/// The header that carries the admin secret.
pub const ADMIN_SECRET_HEADER: &str = "x-tessera-admin-secret";

/// The admin routes, under `/admin`, behind the secret, each documented by its
/// `#[utoipa::path]`.
pub fn router(state: AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(user_sessions, revoke_all_sessions))
        .routes(routes!(revoke_session))
        .merge(admin_keys::routes())
        .merge(pats::admin_routes())
        .routes(routes!(events))
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

/// A user as administrators see it: the User plus `disabled` and `updatedAt`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminUser)]
struct AdminUserBody {
    #[serde(flatten)]
    user: UserBody,
    /// A disabled user cannot sign in or refresh; disabling ends every session.
    disabled: bool,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<UserRecord> for AdminUserBody {
    fn from(user: UserRecord) -> Self {
        Self {
            disabled: user.disabled,
            updated_at: timestamp(user.updated_at),
            user: user.into(),
        }
    }
}

fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::from(AuthError::UserNotFound))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Matches email or display name, case-insensitively.
    search: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A page of users.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct UserPage {
    users: Vec<AdminUserBody>,
    /// The cursor of the next page; `null` on the last one.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/users",
    operation_id = "adminListUsers",
    tag = "admin",
    summary = "List users",
    description = "Oldest first, a page at a time. The cursor is a position (creation time, \
        id), so users added meanwhile never shift a page.",
    params(ListQuery),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "A page of users.", body = UserPage),
        (status = 400, description = "`invalid-request`: an invalid cursor or query.",
            body = ErrorBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let (users, next) = state
        .admin
        .list_users(
            query.cursor.as_deref(),
            query.search.as_deref(),
            query.limit.unwrap_or(50),
        )
        .await?;
    let users: Vec<AdminUserBody> = users.into_iter().map(Into::into).collect();
    Ok(Json(UserPage {
        users,
        next_cursor: next,
    }))
}

#[utoipa::path(
    get,
    path = "/admin/users/{id}",
    operation_id = "adminGetUser",
    tag = "admin",
    summary = "Get a user",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The user.", body = AdminUserBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`user-not-found` (or the id is not a UUID).",
            body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AdminUserBody>, ApiError> {
    Ok(Json(
        state
            .admin
            .find_user(&user_id(&id)?.to_string())
            .await?
            .into(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateUserRequest {
    #[schema(format = Email)]
    email: String,
    /// Without one, the user signs in by link only (or after a reset).
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    #[serde(default)]
    email_verified: bool,
    display_name: Option<String>,
    /// 2 or 3 letters; default `en`.
    locale: Option<String>,
    /// One of `roles`; default the first of them (without `roles`,
    /// `TESSERA_DEFAULT_ROLE`).
    default_role: Option<String>,
    /// Role names are 1 to 64 of `a-z 0-9 _ -`, any of them (administrators are not bound
    /// by `TESSERA_ALLOWED_ROLES`); default `TESSERA_ALLOWED_ROLES`.
    roles: Option<Vec<String>>,
    /// A JSON object of at most 8 KiB.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

#[utoipa::path(
    post,
    path = "/admin/users",
    operation_id = "adminCreateUser",
    tag = "admin",
    summary = "Create a user",
    request_body(content = CreateUserRequest, description = "The new user. Unknown fields \
        are refused."),
    security(("adminSecret" = [])),
    responses(
        (status = 201, description = "The user.", body = AdminUserBody),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, an \
            unknown field, an invalid email, invalid roles or profile; `password-too-short`; \
            `password-too-weak`.", body = ErrorBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 409, description = "`email-already-in-use`.", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn create_user(
    State(state): State<AppState>,
    Client(actor): Client,
    Json(request): Json<CreateUserRequest>,
) -> Result<Response, ApiError> {
    let user = state
        .admin
        .create_user(
            NewUser {
                email: request.email,
                password: request.password,
                email_verified: request.email_verified,
                display_name: request.display_name,
                locale: request.locale,
                default_role: request.default_role,
                roles: request.roles,
                metadata: request.metadata,
            },
            &actor,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(AdminUserBody::from(user))).into_response())
}

/// The fields to change; absent ones are kept.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateUserRequest {
    display_name: Option<String>,
    avatar_url: Option<String>,
    locale: Option<String>,
    /// Must be one of the (new) roles.
    default_role: Option<String>,
    /// Reach the user's tokens at the next refresh.
    roles: Option<Vec<String>>,
    /// A JSON object of at most 8 KiB, replacing the old one.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
}

#[utoipa::path(
    patch,
    path = "/admin/users/{id}",
    operation_id = "adminUpdateUser",
    tag = "admin",
    summary = "Change a user's profile and roles",
    params(("id" = Uuid, Path, description = "The user id.")),
    request_body(content = UpdateUserRequest, description = "The changes. Unknown fields are \
        refused."),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The updated user.", body = AdminUserBody),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, an \
            unknown field, invalid roles or profile.", body = ErrorBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`user-not-found` (or the id is not a UUID).",
            body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn update_user(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(id): Path<String>,
    Json(request): Json<UpdateUserRequest>,
) -> Result<Json<AdminUserBody>, ApiError> {
    let patch = UserPatch {
        display_name: request.display_name,
        avatar_url: request.avatar_url,
        locale: request.locale,
        default_role: request.default_role,
        roles: request.roles,
        metadata: request.metadata,
    };
    Ok(Json(
        state
            .admin
            .update_user(user_id(&id)?, patch, &actor)
            .await?
            .into(),
    ))
}

#[utoipa::path(
    post,
    path = "/admin/users/{id}/disable",
    operation_id = "adminDisableUser",
    tag = "admin",
    summary = "Disable a user",
    description = "Revokes every session at once; the user cannot sign in or refresh until \
        enabled again.",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The disabled user.", body = AdminUserBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`user-not-found` (or the id is not a UUID).",
            body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn disable_user(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(id): Path<String>,
) -> Result<Json<AdminUserBody>, ApiError> {
    Ok(Json(
        state
            .admin
            .set_disabled(user_id(&id)?, true, &actor)
            .await?
            .into(),
    ))
}

#[utoipa::path(
    post,
    path = "/admin/users/{id}/enable",
    operation_id = "adminEnableUser",
    tag = "admin",
    summary = "Enable a user",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The enabled user.", body = AdminUserBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`user-not-found` (or the id is not a UUID).",
            body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn enable_user(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(id): Path<String>,
) -> Result<Json<AdminUserBody>, ApiError> {
    Ok(Json(
        state
            .admin
            .set_disabled(user_id(&id)?, false, &actor)
            .await?
            .into(),
    ))
}

#[utoipa::path(
    delete,
    path = "/admin/users/{id}",
    operation_id = "adminDeleteUser",
    tag = "admin",
    summary = "Delete a user",
    description = "Deletes the user with its sessions, refresh tokens, tickets and security \
        events.",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "Deleted.", body = OkBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`user-not-found` (or the id is not a UUID).",
            body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn delete_user(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(id): Path<String>,
) -> Result<Json<&'static str>, ApiError> {
    state.admin.delete_user(user_id(&id)?, &actor).await?;
    Ok(Json("OK"))
}

#[utoipa::path(
    get,
    path = "/admin/users/{id}/sessions",
    operation_id = "adminListUserSessions",
    tag = "admin",
    summary = "A user's live sessions",
    description = "Newest first (`current` is always `false` here).",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "The live sessions.", body = SessionsResponse),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 404, description = "`user-not-found` (or the id is not a UUID).",
            body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn user_sessions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SessionsResponse>, ApiError> {
    let sessions: Vec<SessionInfoBody> = state
        .admin
        .sessions(user_id(&id)?)
        .await?
        .into_iter()
        .map(|s| SessionInfoBody::new(s, Uuid::nil()))
        .collect();
    Ok(Json(SessionsResponse { sessions }))
}

/// How many sessions were revoked.
#[derive(Serialize, ToSchema)]
struct Revoked {
    revoked: u64,
}

#[utoipa::path(
    delete,
    path = "/admin/users/{id}/sessions",
    operation_id = "adminRevokeUserSessions",
    tag = "admin",
    summary = "Revoke every session of a user",
    description = "Revokes the user's live sessions (none for an unknown user: `revoked: 0`).",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "How many sessions were revoked.", body = Revoked),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`user-not-found`: the id is not a UUID.",
            body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn revoke_all_sessions(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(id): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let revoked = state
        .admin
        .revoke_sessions(user_id(&id)?, None, &actor)
        .await?;
    Ok(Json(Revoked { revoked }))
}

#[utoipa::path(
    delete,
    path = "/admin/users/{id}/sessions/{session}",
    operation_id = "adminRevokeUserSession",
    tag = "admin",
    summary = "Revoke one session of a user",
    params(
        ("id" = Uuid, Path, description = "The user id."),
        ("session" = Uuid, Path, description = "The session id."),
    ),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "Revoked.", body = OkBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`session-not-found`: not a live session of that user \
            (or not a UUID); `user-not-found`: the user id is not a UUID.", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn revoke_session(
    State(state): State<AppState>,
    Client(actor): Client,
    Path((id, session)): Path<(String, String)>,
) -> Result<Json<&'static str>, ApiError> {
    let session = session
        .parse()
        .map_err(|_| ApiError::from(AuthError::SessionNotFound))?;
    state
        .admin
        .revoke_sessions(user_id(&id)?, Some(session), &actor)
        .await?;
    Ok(Json("OK"))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Only this user's events.
    user_id: Option<Uuid>,
    /// Only this kind (`signin-failed`, `session-revoked`, `admin-action`, ...).
    kind: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 100).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// One security event.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SecurityEvent)]
struct EventBody {
    id: i64,
    #[schema(format = DateTime)]
    occurred_at: String,
    /// `signin-succeeded`, `signin-failed`, `signup`, `refresh-token-reused`,
    /// `session-revoked`, `password-changed`, `password-reset`, `email-changed`,
    /// `email-verified`, `user-deanonymized`, `user-disabled`, `signing-key-revoked`,
    /// `pat-created`, `pat-revoked` or `admin-action`.
    kind: String,
    #[schema(required = true)]
    user_id: Option<Uuid>,
    #[schema(required = true)]
    session_id: Option<Uuid>,
    ip: String,
    user_agent: String,
    /// Kind-specific detail (`reason`, `by`, `method`, `action`, ...); never a token, ticket
    /// or password.
    #[schema(value_type = Object)]
    detail: Value,
}

/// A page of events.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventPage {
    events: Vec<EventBody>,
    /// The cursor of the next page; `null` on the last one.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

fn instant(raw: Option<&str>, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|r| {
        OffsetDateTime::parse(r, &Rfc3339)
            .map_err(|_| ApiError::invalid_request(format!("{name} is not an RFC 3339 time.")))
    })
    .transpose()
}

fn event_body(id: i64, event: SecurityEventRecord) -> EventBody {
    EventBody {
        id,
        occurred_at: timestamp(event.occurred_at),
        kind: event.kind,
        user_id: event.user_id,
        session_id: event.session_id,
        ip: event.ip,
        user_agent: event.user_agent,
        detail: event.detail,
    }
}

#[utoipa::path(
    get,
    path = "/admin/events",
    operation_id = "adminListEvents",
    tag = "admin",
    summary = "Security events",
    description = "Newest first, a page at a time. Kept `TESSERA_EVENT_RETENTION`.",
    params(EventsQuery),
    security(("adminSecret" = [])),
    responses(
        (status = 200, description = "A page of events.", body = EventPage),
        (status = 400, description = "`invalid-request`: `since` or `until` is not RFC 3339, \
            an invalid cursor, `userId` or `limit`.", body = ErrorBody),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let filter = EventFilter {
        user_id: query.user_id,
        kind: query.kind,
        since: instant(query.since.as_deref(), "since")?,
        until: instant(query.until.as_deref(), "until")?,
        before_id: None,
        limit: query.limit.unwrap_or(100),
    };
    let (events, next) = state.admin.events(filter, query.cursor.as_deref()).await?;
    let events = events
        .into_iter()
        .map(|(id, e)| event_body(id, e))
        .collect();
    Ok(Json(EventPage {
        events,
        next_cursor: next,
    }))
}
