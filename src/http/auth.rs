//! Sign-up, sign-in, refresh, token verification, sign-out and the SSR refresh bounce, in
//! Nhost's shapes, over bearer or cookie transport.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use tower_cookies::Cookies;

use super::AppState;
use super::bearer::bearer_token;
use super::bodies::{SessionBody, no_store};
use super::client::Client;
use super::cookies::{CookiePolicy, requested_mode};
use super::error::ApiError;
use super::json::{Json, OptionalJson};
use crate::accounts::SignUpOptions;
use crate::auth_error::AuthError;
use crate::config::AuthMode;
use crate::redirects::{allowed_redirect, with_param};
use crate::sessions::IssuedSession;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup/email-password", post(sign_up))
        .route("/signin/email-password", post(sign_in))
        .route("/token", post(refresh))
        .route("/token/verify", post(verify))
        .route("/token/refresh", get(bounce))
        .route("/signout", post(sign_out))
}

/// The Session body for the chosen transport, setting the cookies in cookie mode.
pub(super) fn deliver(
    state: &AppState,
    cookies: &Cookies,
    mode: AuthMode,
    session: IssuedSession,
) -> SessionBody {
    match mode {
        AuthMode::Bearer => SessionBody::bearer(session),
        AuthMode::Cookie => {
            let policy = CookiePolicy::new(&state.config);
            policy.set_session(cookies, &session, state.clock.now());
            SessionBody::cookie(session, policy.expose_access_token)
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignUpRequest {
    email: String,
    password: SecretString,
    #[serde(default)]
    options: Option<SignUpOptionsBody>,
    code_challenge: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SignUpOptionsBody {
    display_name: Option<String>,
    locale: Option<String>,
    metadata: Option<Value>,
    default_role: Option<String>,
    allowed_roles: Option<Vec<String>>,
    redirect_to: Option<String>,
    code_challenge: Option<String>,
}

async fn sign_up(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<SignUpRequest>,
) -> Result<Response, ApiError> {
    let options = request.options.unwrap_or_default();
    let session = state
        .accounts
        .sign_up(
            &request.email,
            &request.password,
            SignUpOptions {
                display_name: options.display_name,
                locale: options.locale,
                metadata: options.metadata,
                default_role: options.default_role,
                allowed_roles: options.allowed_roles,
                redirect_to: options.redirect_to,
                code_challenge: request.code_challenge.or(options.code_challenge),
            },
            &client,
        )
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    let session = session.map(|s| deliver(&state, &cookies, mode, s));
    Ok(no_store(Json(json!({ "session": session }))))
}

#[derive(Deserialize)]
struct SignInRequest {
    email: String,
    password: SecretString,
}

async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<SignInRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .accounts
        .sign_in(&request.email, &request.password, &client)
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(json!({
        "session": deliver(&state, &cookies, mode, session),
        "mfa": null,
    }))))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest {
    refresh_token: Option<String>,
}

/// `POST /token`: the refresh token from the body or, failing that, from its cookie. A
/// token that came from the cookie is always answered in cookie mode, so an HttpOnly
/// token never ends up readable by scripts.
async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    OptionalJson(request): OptionalJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let policy = CookiePolicy::new(&state.config);
    let from_body = request.and_then(|r| r.refresh_token);
    let (token, mode) = match from_body {
        Some(token) => (
            token,
            requested_mode(&headers, state.config.cookies.default_auth_mode),
        ),
        None => match policy.refresh_token(&cookies) {
            Some(token) => (token, AuthMode::Cookie),
            None => return Err(ApiError::invalid_request("refreshToken is required.")),
        },
    };
    let session = state.sessions.refresh(&token, &client).await?;
    Ok(no_store(Json(deliver(&state, &cookies, mode, session))))
}

#[derive(Deserialize, Default)]
struct VerifyRequest {
    token: Option<String>,
}

/// 200 `"OK"` when the access token (body, `Authorization`, or the access cookie) is valid
/// and its session live; 401 `invalid-token` otherwise.
async fn verify(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<VerifyRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let token = body
        .and_then(|b| b.token)
        .or_else(|| bearer_token(&headers).map(str::to_owned))
        .or_else(|| CookiePolicy::new(&state.config).access_token(&cookies))
        .ok_or_else(ApiError::invalid_token)?;
    state.sessions.authenticate(&token).await?;
    Ok(Json("OK"))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SignOutRequest {
    refresh_token: Option<String>,
    #[serde(default)]
    all: bool,
}

/// Always 200 `"OK"` and always clears the cookies: signing out twice, or with a token
/// that is already dead, is fine.
async fn sign_out(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<SignOutRequest>,
) -> Result<Response, ApiError> {
    let request = body.unwrap_or_default();
    let policy = CookiePolicy::new(&state.config);
    let refresh_token = request
        .refresh_token
        .or_else(|| policy.refresh_token(&cookies));
    let access_token = bearer_token(&headers)
        .map(str::to_owned)
        .or_else(|| policy.access_token(&cookies));
    policy.clear(&cookies);
    state
        .sessions
        .sign_out(
            refresh_token.as_deref(),
            access_token.as_deref(),
            request.all,
            &client,
        )
        .await?;
    Ok(no_store(Json("OK")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BounceQuery {
    redirect_to: Option<String>,
}

/// `GET /token/refresh?redirectTo=URL`, for server-side rendering: a page whose access
/// cookie has expired (but whose hint cookie is there) sends the browser here; the refresh
/// cookie's path covers this route. Rotates the session, sets fresh cookies and redirects
/// back; with no valid refresh cookie, clears the cookies and redirects with
/// `?error=<code>`. Only allowed `redirectTo` URLs are followed: anything else is a 400.
async fn bounce(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    Query(query): Query<BounceQuery>,
) -> Result<Response, ApiError> {
    let target = query
        .redirect_to
        .as_deref()
        .and_then(|to| {
            allowed_redirect(
                to,
                &state.config.allowed_redirect_urls,
                &state.config.public_url,
            )
        })
        .ok_or_else(|| {
            ApiError::invalid_request("redirectTo is missing or not an allowed redirect URL.")
        })?;
    let policy = CookiePolicy::new(&state.config);
    let outcome = match policy.refresh_token(&cookies) {
        Some(token) => state.sessions.refresh(&token, &client).await,
        None => Err(AuthError::InvalidRefreshToken),
    };
    let location = match outcome {
        Ok(session) => {
            policy.set_session(&cookies, &session, state.clock.now());
            target
        }
        Err(err) => {
            let api: ApiError = err.into();
            if api.status.is_server_error() {
                return Err(api);
            }
            policy.clear(&cookies);
            with_param(target, "error", api.code)
        }
    };
    Ok(no_store(
        (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, location.to_string())],
        )
            .into_response(),
    ))
}
