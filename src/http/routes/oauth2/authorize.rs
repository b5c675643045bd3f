//! `GET`/`POST /oauth2/authorize`: the start of the authorization code flow.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_cookies::Cookies;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{OAuthFailure, form, pages, params};
use crate::domain::oauth2::{AuthorizeOutcome, AuthorizeParams};
use crate::http::AppState;
use crate::http::cookies::CookiePolicy;
use crate::http::error::{ErrorBody, doc};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(authorize_get, authorize_post))
}

const DESCRIPTION: &str = "The authorization code flow with PKCE (OAuth 2.1): `response_type=code`, \
    `client_id`, `redirect_uri` (exactly as registered), `scope` (within the client's), \
    `code_challenge` with `code_challenge_method=S256` (required of every client), and \
    optional `state` and `nonce`. An unknown client or a redirect URI it did not register \
    gets an error page here, never a redirect. Other errors go back to the redirect URI as \
    `error`, `error_description`, `state` and `iss`. A valid request is kept for \
    `TESSERA_OAUTH2_REQUEST_TTL` and the browser goes to `TESSERA_OAUTH2_LOGIN_URL` with \
    `?request_id=` (by default the page Tessera ships), with a browser-binding cookie \
    (`__Host-tessera-oauth2-browser`, HttpOnly, Secure, SameSite=Lax, `Path=/`; without Secure \
    cookies `tessera-oauth2-browser`, path `/oauth2`). After the user \
    approves, the browser goes back with `code`, `state` and `iss` (RFC 9207).";

#[utoipa::path(
    get,
    path = "/oauth2/authorize",
    operation_id = "oauth2AuthorizeGet",
    tag = "oauth2",
    summary = "Authorize an app (OAuth 2.1 / OpenID Connect)",
    description = DESCRIPTION,
    params(
        ("response_type" = String, Query, description = "`code`."),
        ("client_id" = String, Query, description = "The client's id."),
        ("redirect_uri" = String, Query, description = "One of the client's redirect URIs, exactly."),
        ("scope" = String, Query, description = "Space-separated: `openid`, `profile`, `email`, `offline_access` and operator-defined scopes the client is allowed."),
        ("state" = Option<String>, Query, description = "Returned as is."),
        ("nonce" = Option<String>, Query, description = "Copied into the ID token."),
        ("code_challenge" = String, Query, description = "base64url SHA-256 of the PKCE verifier."),
        ("code_challenge_method" = String, Query, description = "`S256`."),
    ),
    responses(
        (status = 302, description = "To the login page, or back to the app with an error."),
        (status = 400, description = "An HTML page: unknown client, or a redirect URI it did not register."),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn authorize_get(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, OAuthFailure> {
    let query = query.unwrap_or_default();
    let map = params(url::form_urlencoded::parse(query.as_bytes()))?;
    authorize(&state, &cookies, &headers, map).await
}

#[utoipa::path(
    post,
    path = "/oauth2/authorize",
    operation_id = "oauth2AuthorizePost",
    tag = "oauth2",
    summary = "Authorize an app, parameters as a form",
    description = DESCRIPTION,
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "The parameters of `GET /oauth2/authorize`."),
    responses(
        (status = 302, description = "To the login page, or back to the app with an error."),
        (status = 400, description = "An HTML page: unknown client, or a redirect URI it did not register."),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn authorize_post(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let map = form(&headers, &body)?;
    authorize(&state, &cookies, &headers, map).await
}

async fn authorize(
    state: &AppState,
    cookies: &Cookies,
    headers: &HeaderMap,
    mut map: std::collections::HashMap<String, String>,
) -> Result<Response, OAuthFailure> {
    let mut take = |name: &str| map.remove(name);
    let request = AuthorizeParams {
        response_type: take("response_type"),
        client_id: take("client_id"),
        redirect_uri: take("redirect_uri"),
        scope: take("scope"),
        state: take("state"),
        nonce: take("nonce"),
        code_challenge: take("code_challenge"),
        code_challenge_method: take("code_challenge_method"),
        prompt: take("prompt"),
        response_mode: take("response_mode"),
        request: take("request"),
        request_uri: take("request_uri"),
    };
    let policy = CookiePolicy::new(&state.config);
    let browser = policy.oauth2_browser(headers);
    let outcome = state.oauth2.authorize(request, browser.as_deref()).await?;
    Ok(match outcome {
        AuthorizeOutcome::ErrorPage { code, description } => {
            pages::error_page(&state.config, StatusCode::BAD_REQUEST, code, &description)
        }
        AuthorizeOutcome::Redirect(url) => found(url.as_str()),
        AuthorizeOutcome::Login {
            location,
            browser_secret,
        } => {
            policy.set_oauth2_browser(cookies, browser_secret, state.config.oauth2.request_ttl);
            found(location.as_str())
        }
    })
}

/// A 302 to `location` (a POST's answer too: browsers follow it with a GET), never cached.
pub fn found(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response()
}
