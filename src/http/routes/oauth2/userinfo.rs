//! `GET`/`POST /oauth2/userinfo`, `GET /oauth2/jwks` and RP-initiated logout
//! (`GET`/`POST /oauth2/logout`, the `end_session_endpoint`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tower_cookies::Cookies;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::authorize::found;
use super::{OAuthErrorBody, OAuthFailure, form, pages, params};
use crate::domain::oauth2::OAuthError;
use crate::http::AppState;
use crate::http::cookies::CookiePolicy;
use crate::http::error::{ErrorBody, doc};
use crate::http::extract::bearer::bearer_token;
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::routes::wellknown;
use crate::http::views::no_store;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(userinfo_get, userinfo_post))
        .routes(routes!(jwks))
        .routes(routes!(logout_get, logout_post))
}

const USERINFO: &str = "The user an app's access token (from `/oauth2/token`, in \
    `Authorization: Bearer`) is for, while its grant is live: `sub`; with `email`, `email` and \
    `email_verified`; with `profile`, `name`, `picture`, `locale`, `preferred_username` and \
    `updated_at` (empty values left out). Tessera's own access tokens are refused here.";

#[utoipa::path(
    get,
    path = "/oauth2/userinfo",
    operation_id = "oauth2UserinfoGet",
    tag = "oauth2",
    summary = "The signed-in user's claims (OpenID Connect userinfo)",
    description = USERINFO,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims.", body = Object),
        (status = 401, description = "`invalid_token`, with `WWW-Authenticate: Bearer`.",
            body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn userinfo_get(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, OAuthFailure> {
    userinfo(&state, &headers).await
}

#[utoipa::path(
    post,
    path = "/oauth2/userinfo",
    operation_id = "oauth2UserinfoPost",
    tag = "oauth2",
    summary = "The signed-in user's claims, by POST",
    description = USERINFO,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims.", body = Object),
        (status = 401, description = "`invalid_token`, with `WWW-Authenticate: Bearer`.",
            body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, OAuthFailure> {
    userinfo(&state, &headers).await
}

async fn userinfo(state: &AppState, headers: &HeaderMap) -> Result<Response, OAuthFailure> {
    let token = bearer_token(headers).ok_or_else(OAuthError::invalid_token)?;
    let claims: Map<String, Value> = state.oauth2.userinfo(token).await?;
    Ok(no_store(Json(claims)))
}

#[utoipa::path(
    get,
    path = "/oauth2/jwks",
    operation_id = "oauth2Jwks",
    tag = "oauth2",
    summary = "The public signing keys (the same JWKS as /.well-known/jwks.json)",
    description = "ID tokens and apps' access tokens are signed with Tessera's keys.",
    responses(
        (status = 200, description = "The key set.", body = Object),
        (status = 503, description = doc::TIMEOUT, body = ErrorBody),
    )
)]
async fn jwks(state: State<AppState>, headers: HeaderMap) -> Response {
    wellknown::jwks(state, headers).await
}

const LOGOUT: &str = "RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): \
    `id_token_hint` (an ID token Tessera issued to the app, expired or not), \
    `post_logout_redirect_uri` (exactly as the app registered it), `client_id`, `state`. The \
    grant the ID token names ends (its refresh token stops working), and so does the \
    browser's Tessera session if it belongs to the same user. Then the browser goes to \
    `post_logout_redirect_uri` with `state`, or sees a page saying it is signed out. Without a \
    valid `id_token_hint` nothing is ended.";

#[utoipa::path(
    get,
    path = "/oauth2/logout",
    operation_id = "oauth2Logout",
    tag = "oauth2",
    summary = "Sign out of an app (end_session_endpoint)",
    description = LOGOUT,
    params(
        ("id_token_hint" = Option<String>, Query, description = "An ID token of the app."),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "Registered by the app."),
        ("client_id" = Option<String>, Query, description = "The app, when there is no hint."),
        ("state" = Option<String>, Query, description = "Returned as is."),
    ),
    responses(
        (status = 302, description = "To `post_logout_redirect_uri`."),
        (status = 200, description = "An HTML page: signed out."),
        (status = 400, description = "An HTML page: a `post_logout_redirect_uri` that is not registered."),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn logout_get(
    State(state): State<AppState>,
    cookies: Cookies,
    Client(client): Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, OAuthFailure> {
    let query = query.unwrap_or_default();
    let map = params(url::form_urlencoded::parse(query.as_bytes()))?;
    logout(&state, &cookies, &client, &headers, map).await
}

#[utoipa::path(
    post,
    path = "/oauth2/logout",
    operation_id = "oauth2LogoutPost",
    tag = "oauth2",
    summary = "Sign out of an app, parameters as a form",
    description = LOGOUT,
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "The parameters of `GET /oauth2/logout`."),
    responses(
        (status = 302, description = "To `post_logout_redirect_uri`."),
        (status = 200, description = "An HTML page: signed out."),
        (status = 400, description = "An HTML page: a `post_logout_redirect_uri` that is not registered."),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn logout_post(
    State(state): State<AppState>,
    cookies: Cookies,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let map = form(&headers, &body)?;
    logout(&state, &cookies, &client, &headers, map).await
}

async fn logout(
    state: &AppState,
    cookies: &Cookies,
    client: &crate::domain::sessions::ClientInfo,
    headers: &HeaderMap,
    map: HashMap<String, String>,
) -> Result<Response, OAuthFailure> {
    let get = |name: &str| map.get(name).map(String::as_str);
    let ended = match state
        .oauth2
        .end_session(
            get("id_token_hint"),
            get("client_id"),
            get("post_logout_redirect_uri"),
            get("state"),
            client,
        )
        .await
    {
        Ok(ended) => ended,
        Err(OAuthError::Protocol {
            code, description, ..
        }) => {
            return Ok(pages::error_page(
                &state.config,
                StatusCode::BAD_REQUEST,
                code,
                &description,
            ));
        }
        Err(other) => return Err(other.into()),
    };
    // The browser's own Tessera session ends too, if it is the same user's.
    if let Some(user_id) = ended.user_id {
        let policy = CookiePolicy::new(&state.config);
        if let Some(access) = policy.access_token(headers)
            && let Ok(claims) = state.sessions.authenticate(&access).await
            && claims.sub == user_id
        {
            state
                .sessions
                .sign_out(None, Some(&access), false, client)
                .await
                .map_err(OAuthError::from)?;
            policy.clear(cookies);
        }
    }
    Ok(match ended.redirect {
        Some(url) => found(url.as_str()),
        None => pages::signed_out_page(&state.config, ended.signed_out).into_response(),
    })
}
