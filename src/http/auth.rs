//! Sign-up, sign-in, refresh, token verification, sign-out and the SSR refresh bounce, in
//! Nhost's shapes, over bearer or cookie transport.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use tower_cookies::Cookies;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::bearer::bearer_token;
use super::bodies::{OkBody, SessionBody, SignInResponse, SignUpResponse, no_store};
use super::client::Client;
use super::cookies::{
    AuthModeHeader, CookiePolicy, DEVICE_COOKIE, raw_cookie_values, requested_mode,
};
use super::error::{ApiError, ErrorBody, doc};
use super::json::{Json, OptionalJson};
use crate::config::AuthMode;
use crate::domain::email_password::SignUpOptions;
use crate::domain::errors::AuthError;
use crate::domain::profile::NewProfile;
use crate::domain::redirects::{allowed_redirect, with_param};
use crate::domain::sessions::IssuedSession;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(sign_in))
        .routes(routes!(refresh))
        .routes(routes!(verify))
        .routes(routes!(bounce))
        .routes(routes!(sign_out))
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

/// Sets a fresh device cookie after a password sign-in or sign-up, in every transport:
/// browsers and cookie-jar clients keep it whether or not they use cookie transport.
fn set_device_cookie(state: &AppState, cookies: &Cookies, session: &IssuedSession) {
    CookiePolicy::new(&state.config).set_device(
        cookies,
        state.accounts.device_cookie(session.user.id),
        state.accounts.device_cookie_ttl(),
    );
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct-Horse-battery-9"}))]
struct SignUpRequest {
    /// Trimmed and lower-cased before use.
    #[schema(format = Email)]
    email: String,
    /// At least `TESSERA_PASSWORD_MIN_LENGTH` characters, and not easily guessed.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    #[serde(default)]
    options: Option<SignUpOptionsBody>,
    /// PKCE S256 challenge (43 characters of base64url) for the verification link, when
    /// verification is required: the link then leads to `redirectTo?code=...` for
    /// `POST /token/exchange`.
    code_challenge: Option<String>,
}

/// Nhost's sign-up options.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SignUpOptions)]
struct SignUpOptionsBody {
    /// At most 256 characters; default: the email address.
    display_name: Option<String>,
    /// 2 or 3 letters; default `en`. Emails to the account use this language when a
    /// template of it exists, else English.
    locale: Option<String>,
    /// A JSON object of at most 8 KiB.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// One of the account's allowed roles (else 400
    /// `default-role-must-be-in-allowed-roles`); default `TESSERA_DEFAULT_ROLE` (or, when
    /// `allowedRoles` leaves it out, the first of them).
    default_role: Option<String>,
    /// A non-empty subset of `TESSERA_ALLOWED_ROLES` (else 400 `role-not-allowed`);
    /// default: all of them.
    allowed_roles: Option<Vec<String>>,
    /// Where the verification link leads; must be an allowed redirect URL.
    #[schema(format = "uri")]
    redirect_to: Option<String>,
    /// Same as the top-level `codeChallenge`.
    code_challenge: Option<String>,
}

/// Sign up with email and password.
#[utoipa::path(
    post,
    path = "/signup/email-password",
    operation_id = "signUpEmailPassword",
    tag = "auth",
    summary = "Sign up with email and password",
    description = "Creates an account and signs it in. Its roles are `TESSERA_ALLOWED_ROLES` \
        and its default role `TESSERA_DEFAULT_ROLE`, unless `options.allowedRoles` narrows \
        them and `options.defaultRole` picks one of them. With \
        `TESSERA_REQUIRE_EMAIL_VERIFICATION=true` the answer is `{session: null}` and a \
        verification link is emailed instead. Refused when `TESSERA_DISABLE_SIGNUP=true` or \
        the email domain is not allowed. In cookie mode the tokens go into cookies.",
    request_body(content = SignUpRequest, description = "The new account."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "The new account's session, or `{session: null}` when \
            the address must be verified first. `Cache-Control: no-store`.",
            body = SignUpResponse,
            headers(("Set-Cookie" = String, description = "The device cookie \
                `tessera-device` (every mode); in cookie mode also the access cookie, the \
                refresh cookie and the `tessera-session` hint."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a missing \
            field, an invalid email, bad `metadata`, `displayName` or `locale`; \
            `role-not-allowed`; `default-role-must-be-in-allowed-roles`; \
            `password-too-short`; `password-too-weak`; `redirect-not-allowed`.",
            body = ErrorBody),
        (status = 403, description = "`signup-disabled`; `email-domain-not-allowed`; \
            `invalid-origin` (cookies from a foreign origin).", body = ErrorBody),
        (status = 409, description = "`email-already-in-use`.", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
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
                profile: NewProfile {
                    display_name: options.display_name,
                    locale: options.locale,
                    metadata: options.metadata,
                    default_role: options.default_role,
                    allowed_roles: options.allowed_roles,
                },
                redirect_to: options.redirect_to,
                code_challenge: request.code_challenge.or(options.code_challenge),
            },
            &client,
        )
        .await?;
    if let Some(session) = &session {
        set_device_cookie(&state, &cookies, session);
    }
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    let session = session.map(|s| deliver(&state, &cookies, mode, s));
    Ok(no_store(Json(SignUpResponse { session })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct-Horse-battery-9"}))]
struct SignInRequest {
    #[schema(format = Email)]
    email: String,
    #[schema(value_type = String, format = Password)]
    password: SecretString,
}

/// Sign in with email and password.
#[utoipa::path(
    post,
    path = "/signin/email-password",
    operation_id = "signInEmailPassword",
    tag = "auth",
    summary = "Sign in with email and password",
    description = "Starts a session. A wrong password and an unknown account get the same \
        answer (status, body and timing); `disabled-user` and `unverified-user` are reported \
        only after the right password. In cookie mode the tokens go into cookies. Every \
        success sets the device cookie `tessera-device`, whatever the mode: after \
        `TESSERA_RATE_LIMIT_FAILED_SIGNINS` failures the address is locked (429) for clients \
        without a device cookie of the account, while a client with one keeps signing in \
        unless it has failed that many times itself.",
    request_body(content = SignInRequest, description = "The credentials."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "The session (`mfa` is always `null`). \
            `Cache-Control: no-store`.", body = SignInResponse,
            headers(("Set-Cookie" = String, description = "The device cookie \
                `tessera-device` (every mode); in cookie mode also the access cookie, the \
                refresh cookie and the `tessera-session` hint."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a missing \
            field.", body = ErrorBody),
        (status = 401, description = "`invalid-email-password`: wrong password, or no such \
            account; `disabled-user`; `unverified-user` (email verification is required and \
            the address is not verified yet).", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<SignInRequest>,
) -> Result<Response, ApiError> {
    let device_cookies = raw_cookie_values(&headers, DEVICE_COOKIE);
    let session = state
        .accounts
        .sign_in(&request.email, &request.password, &device_cookies, &client)
        .await?;
    set_device_cookie(&state, &cookies, &session);
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(SignInResponse {
        session: deliver(&state, &cookies, mode, session),
        mfa: (),
    })))
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

#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignOutRequest {
    /// The refresh token of the session to end; absent, the refresh cookie, else the access
    /// token (`Authorization` or cookie, even expired) names the session.
    refresh_token: Option<String>,
    /// End every session of the user, not only this one: needs a live credential.
    #[serde(default)]
    all: bool,
}

/// 200 `"OK"` and always clears the cookies: signing out twice, or with a token that is
/// already dead, is fine. Only `all: true` without a live credential is refused (401), after
/// ending the one session the dead credential names.
#[utoipa::path(
    post,
    path = "/signout",
    operation_id = "signOut",
    tag = "session",
    summary = "Sign out",
    description = "Ends the session named by the refresh token (body or cookie) or, failing \
        that, by the access token (`Authorization` or cookie; an expired one is accepted); \
        with `all: true`, every session of the user. Idempotent: finding no session is not an \
        error. `all: true` needs a live credential: a current refresh token, or an unexpired \
        access token, of a live session; with a rotated, expired or revoked one only the \
        session it names is ended and the answer is 401 `invalid-token` (refresh, or sign in \
        again, and retry). Always clears the cookies. Browser code sends `{}` as the body.",
    request_body(content = Option<SignOutRequest>, description = "Optional."),
    security((), ("bearer" = []), ("accessCookie" = []), ("refreshCookie" = [])),
    responses(
        (status = 200, description = "Signed out (or nothing to sign out). \
            `Cache-Control: no-store`.", body = OkBody,
            headers(("Set-Cookie" = String, description = "Always: the three cookies cleared \
                (empty, `Max-Age=0`)."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON.",
            body = ErrorBody),
        (status = 401, description = "`invalid-token`: `all: true` without a live credential \
            (the session a dead credential names is ended all the same; no other is).",
            body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
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
        .or_else(|| policy.refresh_token(&headers));
    let access_token = bearer_token(&headers)
        .map(str::to_owned)
        .or_else(|| policy.access_token(&headers));
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
