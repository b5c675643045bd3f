//! `/admin/users...`: list, read, create, change, disable, enable and delete users, and
//! reset their second factor.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::user_id;
use crate::domain::UserRecord;
use crate::domain::admin::{NewUser, UserPatch};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{OkBody, UserBody, timestamp};

/// The user routes, each documented by its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(reset_mfa))
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
    delete,
    path = "/admin/users/{id}/mfa",
    operation_id = "adminResetUserMfa",
    tag = "admin",
    summary = "Reset a user's second factor",
    description = "Removes the user's TOTP secret (enabled or pending) and recovery codes and \
        turns TOTP off, so sign-ins no longer ask for a code: for a user who lost the \
        authenticator and the recovery codes (check who is asking first). Sessions are kept. \
        A user without a second factor is left as it is. Recorded as an `mfa-reset` \
        security event.",
    params(("id" = Uuid, Path, description = "The user id.")),
    security(("adminSecret" = [])),
    responses(
        (status = 204, description = "Reset (or there was nothing to reset)."),
        (status = 401, description = doc::INVALID_ADMIN_SECRET, body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 404, description = "`user-not-found` (or the id is not a UUID).",
            body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn reset_mfa(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.mfa.reset(user_id(&id)?, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}
