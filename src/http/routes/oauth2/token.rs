//! `POST /oauth2/token`, `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect`
//! (RFC 7662): form bodies, client authentication by `client_secret_basic`,
//! `client_secret_post`, or `client_id` alone for a public client.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{OAuthErrorBody, OAuthFailure, form};
use crate::domain::oauth2::{ClientAuth, OAuthError, TokenParams};
use crate::http::AppState;
use crate::http::error::{ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::no_store;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(revoke))
        .routes(routes!(introspect))
}

/// The token response (RFC 6749 section 5.1; OpenID Connect Core 3.1.3.3).
#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2TokenResponse)]
struct TokenBody {
    /// An RFC 9068 JWT (`typ` `at+jwt`), `aud` and `client_id` the client.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds (`TESSERA_ACCESS_TOKEN_TTL`).
    expires_in: u64,
    /// The granted scopes, space-separated.
    scope: String,
    /// With `openid`: the ID token.
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    /// With `offline_access`: a refresh token, rotated at each use.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// RFC 7662's answer: `active`, and for an active token what it is.
#[derive(Serialize, ToSchema)]
#[schema(as = OAuth2Introspection)]
struct IntrospectionBody {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    /// `Bearer` (an access token) or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    /// The grant (session) the token belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

#[utoipa::path(
    post,
    path = "/oauth2/token",
    operation_id = "oauth2Token",
    tag = "oauth2",
    summary = "Exchange a code or a refresh token (OAuth 2.1)",
    description = "`grant_type=authorization_code` with `code`, `redirect_uri` and \
        `code_verifier`; or `grant_type=refresh_token` with `refresh_token` (and optionally a \
        narrower `scope`). A confidential client authenticates with `client_secret_basic` or \
        `client_secret_post`, a public client sends `client_id`. A code is single use: \
        presenting it again revokes the tokens it gave. Refresh tokens rotate; presenting a \
        replaced one (outside `TESSERA_REFRESH_REUSE_GRACE`) revokes the grant. Counts \
        against `TESSERA_RATE_LIMIT_REFRESH`.",
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "RFC 6749 parameters."),
    responses(
        (status = 200, description = "Tokens. `Cache-Control: no-store`.", body = TokenBody),
        (status = 400, description = "`invalid_request`, `invalid_grant`, `invalid_scope`, \
            `unsupported_grant_type`.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client` (with `WWW-Authenticate`).",
            body = OAuthErrorBody),
        (status = 429, description = "`too-many-requests`.", body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn token(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let mut map = form(&headers, &body)?;
    let auth = client_auth(&headers, &mut map)?;
    let mut take = |name: &str| map.remove(name);
    let params = TokenParams {
        grant_type: take("grant_type"),
        code: take("code"),
        redirect_uri: take("redirect_uri"),
        code_verifier: take("code_verifier"),
        refresh_token: take("refresh_token"),
        scope: take("scope"),
    };
    let tokens = state.oauth2.token(&auth, params, &client).await?;
    Ok(no_store(Json(TokenBody {
        access_token: tokens.access_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        scope: tokens.scope,
        id_token: tokens.id_token,
        refresh_token: tokens.refresh_token,
    })))
}

#[utoipa::path(
    post,
    path = "/oauth2/revoke",
    operation_id = "oauth2Revoke",
    tag = "oauth2",
    summary = "Revoke a token (RFC 7009)",
    description = "`token` (a refresh or access token of this client; `token_type_hint` is \
        not needed): its grant ends, so its refresh token stops working and its access tokens \
        stop passing `userinfo` and introspection. An unknown token, or another client's, is \
        answered 200 too and changes nothing.",
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "`token`, and the client's authentication."),
    responses(
        (status = 200, description = "Done (or nothing to do)."),
        (status = 400, description = "`invalid_request`: no `token`.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`.", body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let mut map = form(&headers, &body)?;
    let auth = client_auth(&headers, &mut map)?;
    let token = map
        .remove("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    state.oauth2.revoke(&auth, &token, &client).await?;
    Ok(no_store(()))
}

#[utoipa::path(
    post,
    path = "/oauth2/introspect",
    operation_id = "oauth2Introspect",
    tag = "oauth2",
    summary = "Introspect a token (RFC 7662)",
    description = "For confidential clients, about their own tokens: an access token is \
        active while it verifies and its grant is live; a refresh token while it is the \
        grant's current one. Anything else (another client's token included) is \
        `{\"active\": false}`.",
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "`token`, and the client's authentication."),
    responses(
        (status = 200, description = "What the token is.", body = IntrospectionBody),
        (status = 400, description = "`invalid_request`: no `token`.", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client` (a public client included).",
            body = OAuthErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn introspect(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthFailure> {
    let mut map = form(&headers, &body)?;
    let auth = client_auth(&headers, &mut map)?;
    let token = map
        .remove("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    let body = match state.oauth2.introspect(&auth, &token, &client).await? {
        None => IntrospectionBody {
            active: false,
            scope: None,
            client_id: None,
            sub: None,
            aud: None,
            iss: None,
            exp: None,
            iat: None,
            token_type: None,
            sid: None,
        },
        Some(found) => IntrospectionBody {
            active: true,
            scope: Some(found.scope),
            aud: Some(found.client_id.clone()),
            client_id: Some(found.client_id),
            sub: Some(found.sub.to_string()),
            iss: Some(state.config.tokens.issuer.clone()),
            exp: Some(found.exp),
            iat: found.iat,
            token_type: Some(found.token_type),
            sid: Some(found.session_id.to_string()),
        },
    };
    Ok(no_store(Json(body)).into_response())
}

/// The client's authentication: `Authorization: Basic` (id and secret form-encoded, then
/// base64, RFC 6749 section 2.3.1) and the form's `client_id` / `client_secret`.
fn client_auth(
    headers: &HeaderMap,
    map: &mut HashMap<String, String>,
) -> Result<ClientAuth, OAuthFailure> {
    let malformed = || OAuthError::invalid_client("The Basic credentials are malformed.");
    let basic = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(value) => match value.split_once(' ') {
            Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
                let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
                let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
                Some((form_decode(id), form_decode(secret)))
            }
            _ => None,
        },
        None => None,
    };
    Ok(ClientAuth {
        basic,
        form_id: map.remove("client_id"),
        form_secret: map.remove("client_secret"),
    })
}

/// One `application/x-www-form-urlencoded` value, decoded.
fn form_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("v={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
