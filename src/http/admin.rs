//! `/admin/...`: user, session, key and event administration. Mounted only when
//! `TESSERA_ADMIN_SECRET` is set (otherwise every `/admin` path is a 404); every request
//! must carry the secret in `x-tessera-admin-secret`, compared in constant time, or it is
//! refused with 401 `invalid-admin-secret` before anything else happens.

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::AppState;
use super::bodies::{SessionInfoBody, UserBody, timestamp};
use super::client::Client;
use super::error::ApiError;
use super::json::Json;
use crate::admin::{NewUser, UserPatch};
use crate::auth_error::AuthError;
use crate::store::{EventFilter, SecurityEventRecord, UserRecord};

/// The header that carries the admin secret.
pub const ADMIN_SECRET_HEADER: &str = "x-tessera-admin-secret";

/// The admin routes, under `/admin`, behind the secret.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list_users).post(create_user))
        .route(
            "/admin/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/admin/users/{id}/disable", post(disable_user))
        .route("/admin/users/{id}/enable", post(enable_user))
        .route(
            "/admin/users/{id}/sessions",
            get(user_sessions).delete(revoke_all_sessions),
        )
        .route(
            "/admin/users/{id}/sessions/{session}",
            axum::routing::delete(revoke_session),
        )
        .route("/admin/keys", get(list_keys))
        .route("/admin/keys/rotate", post(rotate_keys))
        .route("/admin/events", get(events))
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

/// A user as administrators see it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminUserBody {
    #[serde(flatten)]
    user: UserBody,
    disabled: bool,
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

#[derive(Deserialize)]
struct ListQuery {
    cursor: Option<String>,
    search: Option<String>,
    limit: Option<i64>,
}

async fn list_users(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let (users, next) = state
        .admin
        .list_users(
            query.cursor.as_deref(),
            query.search.as_deref(),
            query.limit.unwrap_or(50),
        )
        .await?;
    let users: Vec<AdminUserBody> = users.into_iter().map(Into::into).collect();
    Ok(Json(json!({ "users": users, "nextCursor": next })))
}

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateUserRequest {
    email: String,
    password: Option<SecretString>,
    #[serde(default)]
    email_verified: bool,
    display_name: Option<String>,
    locale: Option<String>,
    default_role: Option<String>,
    roles: Option<Vec<String>>,
    metadata: Option<Value>,
}

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateUserRequest {
    display_name: Option<String>,
    avatar_url: Option<String>,
    locale: Option<String>,
    default_role: Option<String>,
    roles: Option<Vec<String>>,
    metadata: Option<Value>,
}

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

async fn delete_user(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(id): Path<String>,
) -> Result<Json<&'static str>, ApiError> {
    state.admin.delete_user(user_id(&id)?, &actor).await?;
    Ok(Json("OK"))
}

async fn user_sessions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let sessions: Vec<SessionInfoBody> = state
        .admin
        .sessions(user_id(&id)?)
        .await?
        .into_iter()
        .map(|s| SessionInfoBody::new(s, Uuid::nil()))
        .collect();
    Ok(Json(json!({ "sessions": sessions })))
}

async fn revoke_all_sessions(
    State(state): State<AppState>,
    Client(actor): Client,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let revoked = state
        .admin
        .revoke_sessions(user_id(&id)?, None, &actor)
        .await?;
    Ok(Json(json!({ "revoked": revoked })))
}

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

async fn list_keys(State(state): State<AppState>) -> Json<Value> {
    let now = state.clock.now();
    let set = state.tokens.keys().snapshot();
    let active = set.signing_key(now).map(|k| k.kid.clone());
    let optional = |t: Option<OffsetDateTime>| t.map(timestamp);
    let keys: Vec<Value> = set
        .keys
        .iter()
        .map(|k| {
            json!({
                "kid": k.kid,
                "state": k.state(now, active.as_deref() == Some(k.kid.as_str())),
                "origin": k.record.origin,
                "encryption": k.record.encryption,
                "createdAt": timestamp(k.record.created_at),
                "activatesAt": timestamp(k.record.activates_at),
                "retiresAt": optional(k.record.retires_at),
                "expiresAt": optional(k.record.expires_at),
            })
        })
        .collect();
    Json(json!({ "keys": keys }))
}

async fn rotate_keys(
    State(state): State<AppState>,
    Client(actor): Client,
) -> Result<Json<Value>, ApiError> {
    let rotation = state.admin.rotate_keys(&actor).await?;
    Ok(Json(
        json!({ "kid": rotation.kid, "activatesAt": timestamp(rotation.activates_at) }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventsQuery {
    user_id: Option<Uuid>,
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

fn instant(raw: Option<&str>, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|r| {
        OffsetDateTime::parse(r, &Rfc3339)
            .map_err(|_| ApiError::invalid_request(format!("{name} is not an RFC 3339 time.")))
    })
    .transpose()
}

fn event_body(id: i64, event: SecurityEventRecord) -> Value {
    json!({
        "id": id,
        "occurredAt": timestamp(event.occurred_at),
        "kind": event.kind,
        "userId": event.user_id,
        "sessionId": event.session_id,
        "ip": event.ip,
        "userAgent": event.user_agent,
        "detail": event.detail,
    })
}

async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = EventFilter {
        user_id: query.user_id,
        kind: query.kind,
        since: instant(query.since.as_deref(), "since")?,
        until: instant(query.until.as_deref(), "until")?,
        before_id: None,
        limit: query.limit.unwrap_or(100),
    };
    let (events, next) = state.admin.events(filter, query.cursor.as_deref()).await?;
    let events: Vec<Value> = events
        .into_iter()
        .map(|(id, e)| event_body(id, e))
        .collect();
    Ok(Json(json!({ "events": events, "nextCursor": next })))
}
