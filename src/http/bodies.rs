//! The JSON shapes of Nhost's auth service that Tessera answers with (SPEC.md section 3).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::sessions::IssuedSession;
use crate::store::{SessionRecord, UserRecord};

/// Nhost's User.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    pub id: Uuid,
    pub created_at: String,
    pub display_name: String,
    pub avatar_url: String,
    pub locale: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    pub default_role: String,
    pub roles: Vec<String>,
    pub is_anonymous: bool,
    pub metadata: Value,
    /// Tessera has no MFA yet; Nhost clients read this field.
    pub active_mfa_type: Option<String>,
}

/// RFC 3339 with fractional seconds, UTC (`2026-01-02T03:04:05.123456Z`).
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

impl From<UserRecord> for UserBody {
    fn from(user: UserRecord) -> Self {
        Self {
            id: user.id,
            created_at: timestamp(user.created_at),
            display_name: user.display_name,
            avatar_url: user.avatar_url,
            locale: user.locale,
            email: user.email,
            email_verified: user.email_verified,
            phone_number: user.phone_number,
            phone_number_verified: user.phone_number_verified,
            default_role: user.default_role,
            roles: user.roles,
            is_anonymous: user.is_anonymous,
            metadata: user.metadata,
            active_mfa_type: None,
        }
    }
}

/// Nhost's Session.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    /// Absent in cookie mode unless `TESSERA_EXPOSE_ACCESS_TOKEN=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    pub access_token_expires_in: u64,
    /// Absent in cookie mode: the refresh token lives only in its HttpOnly cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The session id: stable across rotations, equal to the token's `sid`.
    pub refresh_token_id: Uuid,
    pub user: UserBody,
}

impl SessionBody {
    /// The body for bearer transport: both tokens.
    pub fn bearer(session: IssuedSession) -> Self {
        Self {
            access_token: Some(session.access_token),
            access_token_expires_in: session.access_token_expires_in,
            refresh_token: Some(session.refresh_token),
            refresh_token_id: session.session_id,
            user: session.user.into(),
        }
    }

    /// The body for cookie transport: no refresh token, and the access token only when
    /// the operator exposes it.
    pub fn cookie(session: IssuedSession, expose_access_token: bool) -> Self {
        Self {
            access_token: expose_access_token.then_some(session.access_token),
            access_token_expires_in: session.access_token_expires_in,
            refresh_token: None,
            refresh_token_id: session.session_id,
            user: session.user.into(),
        }
    }
}

/// One entry of `GET /user/sessions`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfoBody {
    pub id: Uuid,
    pub created_at: String,
    pub last_used_at: String,
    pub user_agent: String,
    pub ip: String,
    pub current: bool,
}

impl SessionInfoBody {
    /// `current` marks the session of the calling token.
    pub fn new(session: SessionRecord, current: Uuid) -> Self {
        Self {
            current: session.id == current,
            id: session.id,
            created_at: timestamp(session.created_at),
            last_used_at: timestamp(session.last_used_at),
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}

/// Wraps a response that carries tokens: `Cache-Control: no-store`.
pub fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
