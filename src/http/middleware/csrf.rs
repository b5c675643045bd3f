//! CSRF protection for cookie-authenticated requests.
//!
//! A request that changes state (not GET/HEAD/OPTIONS) and either carries a credential
//! cookie or asks for cookie transport must be `application/json` (415 otherwise: HTML
//! forms cannot send it without a CORS preflight) and come from an allowed origin: its
//! `Origin` in `TESSERA_ALLOWED_ORIGINS` or the public URL's origin, or, without `Origin`,
//! `Sec-Fetch-Site: same-origin|same-site` (403 `invalid-origin` otherwise).
//!
//! Sign-out changes the browser's cookies even when none were sent (a cross-site form
//! carries none under SameSite), so every browser request to it (one with `Origin` or
//! `Sec-Fetch-Site`) follows the same rule; clients that are no browser send neither.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::cors::allowed_origins;
use crate::config::AuthMode;
use crate::http::AppState;
use crate::http::cookies::{CookiePolicy, requested_mode};
use crate::http::error::ApiError;

/// Middleware: refuses cross-site state-changing requests that would use cookies.
pub async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let policy = CookiePolicy::new(&state.config);
    let uses_cookies = policy.carries_credentials(headers)
        || requested_mode(headers, state.config.cookies.default_auth_mode) == AuthMode::Cookie;
    let from_browser =
        headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-site");
    let signs_out = from_browser && request.uri().path().ends_with("/signout");
    // A provider's `form_post` callback is a cross-site form by design; it reads no
    // credential cookie and only redirects to its GET form, which the flow cookie binds.
    if is_provider_callback(request.uri().path()) || is_oauth2_protocol(request.uri().path()) {
        return next.run(request).await;
    }
    if !uses_cookies && !signs_out {
        return next.run(request).await;
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.type_() == "application" && m.subtype() == "json");
    if !is_json {
        return ApiError::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE).into_response();
    }
    let allowed = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => allowed_origins(&state.config).iter().any(|o| o == origin),
        None => matches!(
            headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
            Some("same-origin" | "same-site")
        ),
    };
    if !allowed {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid-origin",
            "This request must come from an allowed origin.",
        )
        .into_response();
    }
    next.run(request).await
}

/// The OAuth provider's protocol endpoints (the path is relative to the base path here): form posts by design
/// (apps post to the token, revocation, introspection and logout endpoints, browsers to
/// authorize), authenticated by client credentials or bearer tokens, never by Tessera's
/// cookies; the shipped pages (`/oauth2/ui`) check their own origin and browser binding.
/// `/oauth2/login` (approval with the user's session, which may be a cookie) is not among
/// them.
fn is_oauth2_protocol(path: &str) -> bool {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    path.strip_prefix("/oauth2/")
        .is_some_and(|rest| !rest.starts_with("login") && !rest.starts_with("clients"))
}

/// `/signin/provider/{p}/callback`, under any base path.
fn is_provider_callback(path: &str) -> bool {
    path.rsplit_once("/signin/provider/")
        .is_some_and(|(_, rest)| rest.ends_with("/callback") && rest.matches('/').count() == 1)
}

#[cfg(test)]
mod tests {
    use super::is_provider_callback;

    #[test]
    fn the_oauth2_protocol_endpoints_are_exempt_but_not_approval() {
        use super::is_oauth2_protocol;
        assert!(is_oauth2_protocol("/oauth2/token"));
        assert!(is_oauth2_protocol("/oauth2/logout"));
        assert!(is_oauth2_protocol("/v1/oauth2/token"));
        assert!(!is_oauth2_protocol("/v1/oauth2/login"));
        assert!(is_oauth2_protocol("/oauth2/ui/consent"));
        assert!(!is_oauth2_protocol("/oauth2/login"));
        assert!(!is_oauth2_protocol("/oauth2/clients/abc"));
        assert!(!is_oauth2_protocol("/user/oauth2/apps/abc"));
        assert!(!is_oauth2_protocol("/signin/email-password"));
    }

    #[test]
    fn only_a_provider_callback_is_exempt() {
        assert!(is_provider_callback("/signin/provider/apple/callback"));
        assert!(is_provider_callback(
            "/auth/v1/signin/provider/apple/callback"
        ));
        assert!(!is_provider_callback("/signin/provider/apple"));
        assert!(!is_provider_callback("/signin/provider/a/b/callback"));
        assert!(!is_provider_callback("/signout"));
        assert!(!is_provider_callback("/user/providers/apple/link"));
    }
}
