//! The JSON shapes of Nhost's auth service that Tessera answers with.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use utoipa::ToSchema;

use crate::domain::sessions::IssuedSession;
use crate::domain::{PatRecord, SessionRecord, UserRecord};
use crate::http::extract::json::Json;

/// Nhost's User.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = User)]
pub struct UserBody {
    pub id: Uuid,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    pub display_name: String,
    /// Empty when none was set.
    pub avatar_url: String,
    pub locale: String,
    /// `null` for an anonymous user.
    #[schema(required = true, format = Email)]
    pub email: Option<String>,
    pub email_verified: bool,
    /// Always `null`: Tessera has no phone sign-in.
    #[schema(required = true)]
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    /// The role of the user's tokens unless a request asks for another of `roles`.
    pub default_role: String,
    pub roles: Vec<String>,
    pub is_anonymous: bool,
    /// A JSON object set at sign-up or by an administrator.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// `"totp"` when sign-ins ask for a TOTP code (see `POST /user/mfa`), else `null`.
    #[schema(required = true)]
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
            active_mfa_type: user.active_mfa_type,
        }
    }
}

/// Nhost's Session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Session)]
pub struct SessionBody {
    /// The ES256 access token (a JWT). Absent in cookie mode unless
    /// `TESSERA_EXPOSE_ACCESS_TOKEN=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Seconds until the access token expires (`TESSERA_ACCESS_TOKEN_TTL`).
    pub access_token_expires_in: u64,
    /// The refresh token (43 characters of base64url), for `POST /token`. Absent in cookie
    /// mode: the refresh token lives only in its HttpOnly cookie.
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
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = SessionInfo)]
pub struct SessionInfoBody {
    /// The session id (the `sid` of its access tokens).
    pub id: Uuid,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When its refresh token was last rotated.
    #[schema(format = DateTime)]
    pub last_used_at: String,
    pub user_agent: String,
    /// The client IP when the session was created.
    pub ip: String,
    /// Whether this is the session of the calling token (always `false` in the admin API).
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

/// `{session}`: the answer of sign-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignUpResponse {
    /// `null` when the address must be verified first (`TESSERA_REQUIRE_EMAIL_VERIFICATION`).
    #[schema(required = true)]
    pub session: Option<SessionBody>,
}

/// `{session, mfa}`: the answer of a sign-in (Nhost's shape). Exactly one is not `null`:
/// the session, or, when the user has TOTP on, the challenge of the second step.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignInResponse {
    /// `null` when the second step is due (`mfa`).
    #[schema(required = true)]
    pub session: Option<SessionBody>,
    /// `null` unless the user has TOTP on: then the ticket for `POST /signin/mfa/totp`.
    #[schema(required = true)]
    pub mfa: Option<MfaChallenge>,
}

/// `{session}` (Nhost's `SessionPayload`), or `{session: null, mfa}` when the user has
/// TOTP on: the answer of the sign-ins that prove a mailbox (link exchange, email code).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SessionOrMfaPayload)]
pub struct SessionOrChallenge {
    /// `null` when the second step is due (`mfa`).
    #[schema(required = true)]
    pub session: Option<SessionBody>,
    /// Only when the user has TOTP on: the ticket for `POST /signin/mfa/totp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa: Option<MfaChallenge>,
}

impl From<SignInResponse> for SessionOrChallenge {
    fn from(response: SignInResponse) -> Self {
        Self {
            session: response.session,
            mfa: response.mfa,
        }
    }
}

/// Nhost's `MFAChallengePayload`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MFAChallengePayload)]
pub struct MfaChallenge {
    /// `mfaTotp:` and 43 characters of base64url; single use, 5 minutes, 5 tries.
    #[schema(pattern = "^mfaTotp:.*$", example = "mfaTotp:abc123def456")]
    pub ticket: String,
}

/// `{session}`: Nhost's `SessionPayload`, the answer of the newer sign-in routes.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPayload {
    pub session: SessionBody,
}

/// `{sessions}`: a user's live sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsResponse {
    pub sessions: Vec<SessionInfoBody>,
}

/// The JSON string `"OK"`, the body of answers that have nothing else to say.
#[derive(ToSchema)]
#[schema(as = Ok, example = "OK")]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub enum OkBody {
    OK,
}

/// One entry of a PAT list: never the token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PATInfo)]
pub struct PatInfoBody {
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
pub struct PatsResponse {
    pub pats: Vec<PatInfoBody>,
}

pub fn pats_response(pats: Vec<PatRecord>) -> Json<PatsResponse> {
    Json(PatsResponse {
        pats: pats.into_iter().map(PatInfoBody::from).collect(),
    })
}
