//! The error envelope: `{"status", "error", "message"}` for every error,
//! including the ones produced outside our handlers (404, 405, 413, timeouts).

use std::borrow::Cow;

use axum::extract::Request;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::StoreError;
use crate::domain::errors::AuthError;
use crate::domain::keys::KeyError;
use crate::domain::passwords::PolicyError;

/// An error answered to a client. 5xx bodies never say anything internal; the detail goes
/// to the log line, which carries the request id.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'static, str>,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

/// The error envelope: every error Tessera answers, whatever the route.
#[derive(Serialize, ToSchema)]
#[schema(as = Error, example = json!({
    "status": 401,
    "error": "invalid-token",
    "message": "The access token is missing, invalid or expired."
}))]
pub struct ErrorBody {
    /// The HTTP status, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// The kebab-case error code (the list is in the API description).
    pub error: &'static str,
    /// A human sentence; never echoes submitted values, never internal detail.
    pub message: Cow<'static, str>,
}

/// Descriptions of the error responses that many operations share (OpenAPI document).
pub mod doc {
    /// 403 for cross-site requests that would use cookies.
    pub const INVALID_ORIGIN: &str = "`invalid-origin`: the request carries a credential \
        cookie or asks for cookie mode (`tessera-auth-mode: cookie`) and comes from an origin \
        that is not allowed (CSRF protection).";
    /// 413 for bodies over the limit.
    pub const PAYLOAD_TOO_LARGE: &str =
        "`payload-too-large`: the body is larger than `TESSERA_MAX_BODY_BYTES`.";
    /// 415 for bodies that are not JSON.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "`unsupported-media-type`: the body is not \
        `application/json` (required too of every cookie-authenticated request that changes \
        state, even one without a body).";
    /// 415 for bodiless state-changing requests with cookies.
    pub const UNSUPPORTED_MEDIA_TYPE_COOKIES: &str = "`unsupported-media-type`: a \
        cookie-authenticated request that changes state must be `application/json` (CSRF \
        protection), even without a body.";
    /// 401 of the admin API.
    pub const INVALID_ADMIN_SECRET: &str = "`invalid-admin-secret`: the \
        `x-tessera-admin-secret` header is missing or wrong (nothing was done).";
    /// 401 of the routes that need an access token.
    pub const INVALID_TOKEN: &str = "`invalid-token`: no access token (`Authorization: Bearer` \
        or the access cookie), or it is invalid or expired, or its session has ended.";
    /// 503, from the database or the request timeout.
    pub const SERVICE_UNAVAILABLE: &str = "`service-unavailable`: the database did not answer \
        within `TESSERA_DATABASE_TIMEOUT`, or the request outlasted `TESSERA_REQUEST_TIMEOUT`. \
        Carries `Retry-After` (seconds).";
    /// 503 of routes that never touch the database.
    pub const TIMEOUT: &str = "`service-unavailable`: the request outlasted \
        `TESSERA_REQUEST_TIMEOUT` (this route does not use the database). Carries \
        `Retry-After` (seconds).";
    /// 500.
    pub const INTERNAL_ERROR: &str = "`internal-error`: an unexpected failure. The body says \
        nothing internal; quote the `x-request-id` response header when reporting it.";
}

impl ApiError {
    /// An error with its status, kebab-case code and human message.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `invalid-request`.
    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-request", message)
    }

    /// 401 `invalid-token`.
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "The access token is missing, invalid or expired.",
        )
    }

    /// 503 `service-unavailable`, with `Retry-After`.
    pub fn unavailable() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "The service is temporarily unavailable; retry shortly.",
            )
        }
    }

    /// 500 `internal-error`; logs `detail` (never sent to the client).
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::for_status(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The generic error for a status produced outside our handlers.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message): (&'static str, &'static str) = match status.as_u16() {
            400 => ("invalid-request", "The request is malformed."),
            401 => ("invalid-token", "Authentication is required."),
            403 => ("forbidden", "This request is not allowed."),
            404 => ("not-found", "There is no such route."),
            405 => (
                "method-not-allowed",
                "This route does not accept that method.",
            ),
            408 => ("request-timeout", "The request took too long to arrive."),
            413 => ("payload-too-large", "The request body is too large."),
            414 => ("uri-too-long", "The request URI is too long."),
            415 => (
                "unsupported-media-type",
                "The body must be application/json.",
            ),
            422 => (
                "invalid-request",
                "The request body does not have the expected shape.",
            ),
            429 => ("too-many-requests", "Too many requests; retry later."),
            431 => (
                "request-header-fields-too-large",
                "The request headers are too large.",
            ),
            503 => return Self::unavailable(),
            500..=599 => (
                "internal-error",
                "An internal error occurred; quote the x-request-id response header when reporting it.",
            ),
            _ => ("error", "The request failed."),
        };
        Self::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            status: self.status.as_u16(),
            error: self.code,
            message: self.message,
        })
        .unwrap_or_default();
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(source) => {
                crate::support::metrics::db_error(true);
                tracing::warn!(error = %source, "database unavailable");
                ApiError::unavailable()
            }
            other => {
                crate::support::metrics::db_error(false);
                ApiError::internal(other)
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        use StatusCode as S;
        let message = err.to_string();
        let (status, code) = match &err {
            AuthError::InvalidRequest(_) => (S::BAD_REQUEST, "invalid-request"),
            AuthError::InvalidEmailPassword => (S::UNAUTHORIZED, "invalid-email-password"),
            AuthError::EmailAlreadyInUse => (S::CONFLICT, "email-already-in-use"),
            AuthError::Policy(PolicyError::TooShort(_)) => (S::BAD_REQUEST, "password-too-short"),
            AuthError::Policy(PolicyError::TooLong) => (S::BAD_REQUEST, "invalid-request"),
            AuthError::Policy(PolicyError::TooWeak) => (S::BAD_REQUEST, "password-too-weak"),
            AuthError::SignupDisabled => (S::FORBIDDEN, "signup-disabled"),
            AuthError::DisabledUser => (S::UNAUTHORIZED, "disabled-user"),
            AuthError::UnverifiedUser => (S::UNAUTHORIZED, "unverified-user"),
            AuthError::InvalidRefreshToken => (S::UNAUTHORIZED, "invalid-refresh-token"),
            AuthError::RefreshTokenReused => (S::UNAUTHORIZED, "refresh-token-reused"),
            AuthError::InvalidToken => return ApiError::invalid_token(),
            AuthError::SignOutAllNeedsLiveCredential => (S::UNAUTHORIZED, "invalid-token"),
            AuthError::SessionNotFound => (S::NOT_FOUND, "session-not-found"),
            AuthError::InvalidTicket => (S::UNAUTHORIZED, "invalid-ticket"),
            AuthError::InvalidOtp => (S::UNAUTHORIZED, "invalid-otp"),
            AuthError::RedirectNotAllowed => (S::BAD_REQUEST, "redirect-not-allowed"),
            AuthError::EmailDomainNotAllowed => (S::FORBIDDEN, "email-domain-not-allowed"),
            AuthError::NotAnonymous => (S::BAD_REQUEST, "user-not-anonymous"),
            AuthError::RoleNotAllowed => (S::BAD_REQUEST, "role-not-allowed"),
            AuthError::DefaultRoleNotAllowed => {
                (S::BAD_REQUEST, "default-role-must-be-in-allowed-roles")
            }
            AuthError::UserNotFound => (S::NOT_FOUND, "user-not-found"),
            AuthError::ElevatedClaimRequired => (S::FORBIDDEN, "elevated-claim-required"),
            AuthError::InvalidPat => (S::UNAUTHORIZED, "invalid-pat"),
            AuthError::PatNotFound => (S::NOT_FOUND, "pat-not-found"),
            AuthError::InvalidTotp => (S::UNAUTHORIZED, "invalid-totp"),
            AuthError::DisabledMfaTotp => (S::UNAUTHORIZED, "disabled-mfa-totp"),
            AuthError::NoTotpSecret => (S::BAD_REQUEST, "no-totp-secret"),
            AuthError::TotpAlreadyActive => (S::BAD_REQUEST, "totp-already-active"),
            AuthError::ForbiddenAnonymous => (S::FORBIDDEN, "forbidden-anonymous"),
            AuthError::WebauthnNotConfigured => (S::FORBIDDEN, "webauthn-not-configured"),
            AuthError::InvalidWebauthnChallenge => (S::UNAUTHORIZED, "invalid-webauthn-challenge"),
            AuthError::InvalidWebauthnCredential => {
                (S::UNAUTHORIZED, "invalid-webauthn-credential")
            }
            AuthError::WebauthnCounterRegressed => (S::UNAUTHORIZED, "webauthn-counter-regressed"),
            AuthError::WebauthnCredentialExists => (S::CONFLICT, "webauthn-credential-exists"),
            AuthError::NoPasskey => (S::BAD_REQUEST, "no-passkey"),
            AuthError::PasskeyNotFound => (S::NOT_FOUND, "passkey-not-found"),
            AuthError::LastSignInMethod => (S::FORBIDDEN, "last-sign-in-method"),
            AuthError::UnknownProvider => (S::NOT_FOUND, "unknown-provider"),
            AuthError::InvalidProviderState => (S::BAD_REQUEST, "invalid-state"),
            AuthError::ProviderCancelled => (S::UNAUTHORIZED, "cancelled"),
            AuthError::ProviderError(_) => (S::UNAUTHORIZED, "provider-error"),
            AuthError::ProviderUnavailable => (S::BAD_GATEWAY, "provider-unavailable"),
            AuthError::ProviderEmailNotVerified => (S::UNAUTHORIZED, "email-not-verified"),
            AuthError::AccountExists => (S::CONFLICT, "account-exists"),
            AuthError::ProviderAlreadyLinked => (S::CONFLICT, "provider-already-linked"),
            AuthError::ProviderNotLinked => (S::NOT_FOUND, "provider-not-linked"),
            AuthError::TooManyRequests(wait) => {
                return ApiError {
                    retry_after: Some(wait.as_secs().max(1)),
                    ..ApiError::for_status(S::TOO_MANY_REQUESTS)
                };
            }
            AuthError::Keys(KeyError::RotationPending { .. }) => (S::CONFLICT, "rotation-pending"),
            AuthError::Keys(KeyError::Conflict) => (S::CONFLICT, "rotation-pending"),
            AuthError::Keys(KeyError::NotFound) => (S::NOT_FOUND, "key-not-found"),
            AuthError::Keys(KeyError::Revoked { .. }) => (S::CONFLICT, "key-revoked"),
            AuthError::Store(_)
            | AuthError::Keys(_)
            | AuthError::Hash(_)
            | AuthError::Internal(_) => {
                return match err {
                    AuthError::Store(store) => store.into(),
                    other => ApiError::internal(other),
                };
            }
        };
        ApiError::new(status, code, capitalise(&message))
    }
}

/// Domain messages are lower-case fragments; the envelope's message is a sentence.
fn capitalise(message: &str) -> String {
    let mut chars = message.chars();
    let mut sentence: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    sentence.push_str(chars.as_str());
    if !sentence.ends_with('.') {
        sentence.push('.');
    }
    sentence
}

/// A body that could not be read: too large (413), trickling in past the body read
/// timeout (408), or broken off (400).
pub fn body_read_error(err: &(dyn std::error::Error + 'static), status: StatusCode) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if current.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::for_status(StatusCode::REQUEST_TIMEOUT);
        }
        source = current.source();
    }
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::for_status(status),
        _ => ApiError::invalid_request("The request body could not be read."),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => {
                Self::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            }
            JsonRejection::JsonSyntaxError(_) => {
                Self::invalid_request("The request body is not valid JSON.")
            }
            JsonRejection::JsonDataError(err) => Self::invalid_request(format!(
                "The request body does not have the expected shape: {}",
                without_values(&err.body_text())
            )),
            JsonRejection::BytesRejection(err) => body_read_error(&err, err.status()),
            other => Self::invalid_request(format!(
                "The request body cannot be read ({}).",
                other.status()
            )),
        }
    }
}

/// serde's messages quote the offending value (``invalid type: string "hunter2"``, or
/// ``integer `1234` ``); a mistyped password must not come back in an error body, so quoted
/// text is elided, except field names (``missing field `email` ``), which are ours.
fn without_values(text: &str) -> String {
    let text = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let mut quote: Option<(char, bool)> = None;
    for c in text.chars() {
        match quote {
            Some((q, keep)) if c == q => {
                if !keep {
                    out.push('…');
                }
                out.push(c);
                quote = None;
            }
            Some((_, keep)) => {
                if keep {
                    out.push(c);
                }
            }
            None if c == '"' || c == '`' => {
                let keep = c == '`' && out.ends_with("field ");
                out.push(c);
                quote = Some((c, keep));
            }
            None => out.push(c),
        }
    }
    out
}

/// Middleware: gives the envelope to error responses that do not have it yet (404 from
/// routing, 405, 413 from the body limit, 503 from the timeout layer).
pub async fn envelope_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    // JSON is an answer already; HTML only ever comes from the OAuth provider's pages,
    // which a browser shows to a person (an error page instead of a redirect).
    let is_answer = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_answer {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let mut enveloped = ApiError::for_status(status).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    for (name, value) in enveloped.headers() {
        parts.headers.insert(name.clone(), value.clone());
    }
    *enveloped.headers_mut() = parts.headers;
    enveloped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_elided() {
        let text = r#"password: invalid type: string "hunter2", expected u32 at line 1"#;
        let cleaned = without_values(text);
        assert!(!cleaned.contains("hunter2"), "{cleaned}");
        assert!(cleaned.starts_with("password: invalid type"));
        let cleaned =
            without_values("password: invalid type: integer `8675309`, expected a string");
        assert!(!cleaned.contains("8675309"), "{cleaned}");
        assert_eq!(
            without_values("missing field `email` at line 1 column 2"),
            "missing field `email` at line 1 column 2"
        );
    }
}
