//! The tokens of a session: refresh (`POST /token`), the SSR refresh bounce
//! (`GET /token/refresh`), liveness of an access token (`POST /token/verify`) and the PKCE
//! code exchange that turns an emailed link into a session (`POST /token/exchange`).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_cookies::Cookies;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::transport::{deliver, deliver_sign_in};
use crate::config::AuthMode;
use crate::domain::errors::AuthError;
use crate::domain::redirects::{allowed_redirect, with_param};
use crate::http::AppState;
use crate::http::cookies::{AuthModeHeader, CookiePolicy, requested_mode};
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::bearer::bearer_token;
use crate::http::extract::client::Client;
use crate::http::extract::json::{Json, OptionalJson};
use crate::http::views::{OkBody, SessionBody, SessionOrChallenge, no_store};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(refresh))
        .routes(routes!(verify))
        .routes(routes!(bounce))
        .routes(routes!(exchange))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RefreshRequest {
    /// The refresh token; absent, the refresh cookie is used.
    refresh_token: Option<String>,
}

/// `POST /token`: the refresh token from the body or, failing that, from its cookie. A
/// token that came from the cookie is always answered in cookie mode, so an HttpOnly
/// token never ends up readable by scripts.
#[utoipa::path(
    post,
    path = "/token",
    operation_id = "refreshToken",
    tag = "session",
    summary = "Refresh: exchange a refresh token for a new session",
    description = "Rotates the refresh token (from the body, else from the refresh cookie) \
        and answers a new Session; the session id (`refreshTokenId`) stays the same. A token \
        rotated less than `TESSERA_REFRESH_REUSE_GRACE` ago gets the same successor again \
        (lost responses, several tabs); an older one is a reuse: the session is revoked and \
        the answer is `refresh-token-reused`. A token taken from the cookie is always answered \
        in cookie mode. Browser code sends `{}` as the body of a cookie refresh.",
    request_body(content = Option<RefreshRequest>, description = "Optional: without a body \
        (or without `refreshToken`), the refresh cookie is used."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport when the token is in the body."),
    ),
    security((), ("refreshCookie" = [])),
    responses(
        (status = 200, description = "A bare Session. `Cache-Control: no-store`.",
            body = SessionBody,
            headers(("Set-Cookie" = String, description = "Cookie mode (always when the token \
                came from the cookie): the access cookie, the rotated refresh cookie and the \
                `tessera-session` hint."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, or no \
            refresh token in the body nor in a cookie.", body = ErrorBody),
        (status = 401, description = "`invalid-refresh-token`: unknown, expired or revoked; \
            `refresh-token-reused`: a rotated token presented again after the grace window \
            (the session is now revoked); `disabled-user`.", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
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
        None => match policy.refresh_token(&headers) {
            Some(token) => (token, AuthMode::Cookie),
            None => return Err(ApiError::invalid_request("refreshToken is required.")),
        },
    };
    let session = state.sessions.refresh(&token, &client).await?;
    Ok(no_store(Json(deliver(&state, &cookies, mode, session))))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    /// The access token to check; absent, the `Authorization` header or the access cookie.
    token: Option<String>,
}

/// 200 `"OK"` when the access token (body, `Authorization`, or the access cookie) is valid
/// and its session live; 401 `invalid-token` otherwise.
#[utoipa::path(
    post,
    path = "/token/verify",
    operation_id = "verifyToken",
    tag = "session",
    summary = "Check that an access token is valid and its session live",
    description = "The token is taken from the body, else `Authorization: Bearer`, else the \
        access cookie. Unlike offline verification against the JWKS, this also notices a \
        session that has ended (signed out, revoked, user disabled).",
    request_body(content = Option<VerifyRequest>, description = "Optional: `{token}`."),
    security((), ("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The token is valid and its session live.", body = OkBody),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON.",
            body = ErrorBody),
        (status = 401, description = "`invalid-token`: no token, or invalid, expired, or its \
            session has ended.", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<VerifyRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let token = body
        .and_then(|b| b.token)
        .or_else(|| bearer_token(&headers).map(str::to_owned))
        .or_else(|| CookiePolicy::new(&state.config).access_token(&headers))
        .ok_or_else(ApiError::invalid_token)?;
    state.sessions.authenticate(&token).await?;
    Ok(Json("OK"))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct BounceQuery {
    /// Where to send the browser back to: under an entry of `TESSERA_ALLOWED_REDIRECT_URLS`
    /// or under the public URL.
    #[param(required = true, format = "uri")]
    redirect_to: Option<String>,
}

/// `GET /token/refresh?redirectTo=URL`, for server-side rendering: a page whose access
/// cookie has expired (but whose hint cookie is there) sends the browser here; the refresh
/// cookie's path covers this route. Rotates the session, sets fresh cookies and redirects
/// back; with no valid refresh cookie, clears the cookies and redirects with
/// `?error=<code>`. Only allowed `redirectTo` URLs are followed: anything else is a 400.
#[utoipa::path(
    get,
    path = "/token/refresh",
    operation_id = "refreshBounce",
    tag = "session",
    summary = "Refresh bounce for server-side rendering",
    description = "A top-level navigation here carries the refresh cookie (its path covers \
        this route). Rotates the session, sets fresh cookies and answers 303 to `redirectTo`; \
        without a valid refresh cookie, clears the cookies and answers 303 to \
        `redirectTo?error=<code>` (`invalid-refresh-token`, `refresh-token-reused` or \
        `disabled-user`).",
    params(BounceQuery),
    security(("refreshCookie" = [])),
    responses(
        (status = 303, description = "Back to `redirectTo` (with `?error=<code>` when the \
            refresh failed). `Cache-Control: no-store`.",
            headers(
                ("Location" = String, description = "`redirectTo`, or `redirectTo?error=<code>`."),
                ("Set-Cookie" = String, description = "Fresh session cookies, or, when the \
                    refresh failed, the three cookies cleared.")
            )),
        (status = 400, description = "`invalid-request`: `redirectTo` is missing or not an \
            allowed redirect URL (nothing is redirected).", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn bounce(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Query(query): Query<BounceQuery>,
) -> Result<Response, ApiError> {
    let target = query
        .redirect_to
        .as_deref()
        .and_then(|to| {
            allowed_redirect(
                to,
                &state.config.accounts.allowed_redirect_urls,
                &state.config.server.public_url,
            )
        })
        .ok_or_else(|| {
            ApiError::invalid_request("redirectTo is missing or not an allowed redirect URL.")
        })?;
    let policy = CookiePolicy::new(&state.config);
    let outcome = match policy.refresh_token(&headers) {
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

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExchangeRequest {
    /// The `code` of the redirect (valid 5 minutes, once).
    code: String,
    /// The PKCE verifier of the `codeChallenge` the link was requested with.
    code_verifier: String,
}

/// `POST /token/exchange {code, codeVerifier}`: `{session, mfa}` (Nhost's `SessionPayload`,
/// or the second step), with cookies in cookie mode.
#[utoipa::path(
    post,
    path = "/token/exchange",
    operation_id = "exchangeCode",
    tag = "lifecycle",
    summary = "Exchange a one-time code for a session (PKCE)",
    description = "The code is spent whatever the verifier: it gets one attempt.",
    request_body(content = ExchangeRequest, description = "The code and its PKCE verifier."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "`{session, mfa}`: the session (Nhost's \
            `SessionPayload`), or, when the user has TOTP on, `session: null` \
            and `mfa: {ticket}` for `POST /signin/mfa/totp` (a link proves only the mailbox). \
            `Cache-Control: no-store`.",
            body = SessionOrChallenge,
            headers(("Set-Cookie" = String, description = "Cookie mode only, with a session: \
                the access cookie, the refresh cookie and the `tessera-session` hint."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a \
            missing field.", body = ErrorBody),
        (status = 401, description = "`invalid-ticket`: the code is invalid, used or expired, \
            or the verifier does not match; `disabled-user`.", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn exchange(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<ExchangeRequest>,
) -> Result<Response, ApiError> {
    let outcome = state
        .providers
        .exchange(&request.code, &request.code_verifier, &client)
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    let body = SessionOrChallenge::from(deliver_sign_in(&state, &cookies, mode, outcome));
    Ok(no_store(Json(body)))
}
