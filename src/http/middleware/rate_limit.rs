//! The per-IP rate limits of each endpoint family (429 with `Retry-After`), applied before
//! any handler. HEAD counts against GET's limits.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::rate_limits::Family;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::client::request_ip;

/// The family a request counts against (path relative to the base path, `/v1` or not).
/// HEAD counts as GET.
fn family(method: &Method, path: &str) -> Option<Family> {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    match (method, path) {
        // Every route that checks a password or a code: guesses from one client are cut
        // here, before any per-account or per-user count.
        (
            &Method::POST,
            "/signin/email-password"
            | "/signin/pat"
            | "/signin/otp/email/verify"
            | "/signin/mfa/totp"
            | "/elevate/totp"
            | "/user/mfa"
            // A passkey cannot be guessed, but each options request keeps a ceremony in
            // the database until it expires: a flood is cut here. Its verify needs one.
            | "/signin/webauthn"
            | "/signin/mfa/webauthn"
            | "/elevate/webauthn"
            | "/user/webauthn/add"
            // An ID token is verified by signature; each one may make Tessera fetch the
            // provider's keys (within their cooldown).
            | "/signin/idtoken"
            | "/signup/idtoken"
            | "/link/idtoken",
        ) => Some(Family::SignIn),
        // Each start keeps a flow in the database until it expires.
        (&Method::GET, p) if p.starts_with("/signin/provider/") && !p.ends_with("/callback") => {
            Some(Family::SignIn)
        }
        (
            &Method::POST,
            "/signup/email-password" | "/signin/anonymous" | "/signup/webauthn",
        ) => Some(Family::SignUp),
        (&Method::POST, "/token" | "/token/exchange") | (&Method::GET, "/token/refresh") => {
            Some(Family::Refresh)
        }
        // The OAuth provider's token endpoint and its kin check client secrets, codes and
        // refresh tokens: they share the refresh family's limit.
        (&Method::POST, "/oauth2/token" | "/oauth2/revoke" | "/oauth2/introspect") => {
            Some(Family::Refresh)
        }
        // Each authorization request is kept in the database until it expires; the shipped
        // sign-in page checks passwords and codes.
        (&Method::GET | &Method::POST, "/oauth2/authorize")
        | (&Method::POST, "/oauth2/ui/signin") => Some(Family::SignIn),
        (&Method::POST, "/oauth2/register") => Some(Family::SignUp),
        (
            &Method::POST,
            "/user/email/send-verification-email"
            | "/user/password/reset"
            | "/user/email/change"
            | "/signin/passwordless/email"
            | "/signin/otp/email"
            | "/user/deanonymize",
        ) => Some(Family::Email),
        (&Method::GET, "/verify") => Some(Family::Verify),
        _ => None,
    }
}

/// Middleware: counts the request against its family's bucket for the client IP.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(family) = family(request.method(), request.uri().path()) {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        if let Some(peer) = peer {
            let ip = request_ip(peer, request.headers(), &state.config);
            if let Err(wait) = state.ip_limits.check(family, ip) {
                tracing::info!(?family, %ip, "rate limited");
                return ApiError {
                    retry_after: Some(wait.as_secs().max(1)),
                    ..ApiError::for_status(StatusCode::TOO_MANY_REQUESTS)
                }
                .into_response();
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_families() {
        assert_eq!(
            family(&Method::POST, "/signin/email-password"),
            Some(Family::SignIn)
        );
        assert_eq!(family(&Method::POST, "/v1/token"), Some(Family::Refresh));
        assert_eq!(
            family(&Method::GET, "/token/refresh"),
            Some(Family::Refresh)
        );
        assert_eq!(family(&Method::GET, "/verify"), Some(Family::Verify));
        assert_eq!(
            family(&Method::HEAD, "/verify"),
            Some(Family::Verify),
            "HEAD is GET"
        );
        assert_eq!(
            family(&Method::POST, "/user/password/reset"),
            Some(Family::Email)
        );
        assert_eq!(
            family(&Method::POST, "/token/verify"),
            None,
            "backends' liveness checks are not limited"
        );
        assert_eq!(family(&Method::GET, "/user"), None);
        assert_eq!(
            family(&Method::POST, "/signin/otp/email"),
            Some(Family::Email),
            "a code request sends a message"
        );
        assert_eq!(
            family(&Method::POST, "/v1/signin/otp/email/verify"),
            Some(Family::SignIn),
            "typing a code is a sign-in attempt"
        );
        assert_eq!(
            family(&Method::GET, "/signin/provider/google"),
            Some(Family::SignIn),
            "each start keeps a flow"
        );
        assert_eq!(
            family(&Method::GET, "/signin/provider/google/callback"),
            None,
            "a callback finishes a flow a start counted"
        );
        assert_eq!(
            family(&Method::POST, "/signin/idtoken"),
            Some(Family::SignIn)
        );
    }
}
