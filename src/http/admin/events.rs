//! `GET /admin/events`: the security events, filtered and paged.

use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::domain::{EventFilter, SecurityEventRecord};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::json::Json;
use crate::http::views::timestamp;

/// The event route, documented by its `#[utoipa::path]`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
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
    /// `pat-created`, `pat-revoked`, `provider-linked`, `provider-unlinked` or
    /// `admin-action` (and more: the README's event list).
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
