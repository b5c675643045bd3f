//! The login and consent pages Tessera ships (`/oauth2/ui`, the default
//! `TESSERA_OAUTH2_LOGIN_URL`), for operators without their own: server-rendered, no
//! JavaScript, and the provider's other HTML answers (error page, signed-out page). The
//! markup is in `page_html.rs`.
//!
//! 1. `GET /oauth2/ui?request_id=` shows the sign-in page, or, for a browser already
//!    signed in to Tessera, the consent page (or goes straight back to the app when no
//!    consent is asked).
//! 2. `POST /oauth2/ui/signin` checks the password (and then the TOTP code) with the same
//!    domain calls as `POST /signin/email-password` and `POST /signin/mfa/totp`, so every
//!    limit, lockout and rule of those applies, and sets Tessera's session cookies.
//! 3. `POST /oauth2/ui/consent` approves or declines the request as the signed-in user.
//!
//! Each acts only for the browser that began the request (the browser-binding
//! cookie set by `/oauth2/authorize`), and each post must come from Tessera's own origin:
//! the CSRF layer leaves `/oauth2/ui` to these checks, since HTML forms cannot send JSON.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use tower_cookies::Cookies;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::authorize::found;
use super::{form, page_html, params};
use crate::config::Config;
use crate::domain::mfa::SignIn;
use crate::domain::oauth2::{Approval, OAuthError, PendingRequest};
use crate::domain::sessions::{ClientInfo, IssuedSession};
use crate::domain::tokens::AccessClaims;
use crate::http::AppState;
use crate::http::cookies::{CookiePolicy, DEVICE_COOKIE, PAGES_DEVICE_COOKIE, raw_cookie_values};
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::routes::transport::set_device_cookie;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show))
        .routes(routes!(sign_in))
        .routes(routes!(consent))
}

/// An error page: nothing is sent back to the app.
pub fn error_page(_config: &Config, status: StatusCode, code: &str, description: &str) -> Response {
    page_html::error(status, code, description)
}

/// The page RP-initiated logout ends on when the app gave no place to go.
pub fn signed_out_page(_config: &Config, signed_out: bool) -> Response {
    page_html::signed_out(signed_out)
}

/// A step of a page's work: `Ok` to go on, `Err` with the answer to send now instead (a
/// page or a redirect, never JSON).
type Step<T> = Result<T, Response>;

#[utoipa::path(
    get,
    path = "/oauth2/ui",
    operation_id = "oauth2UiShow",
    tag = "oauth2-pages",
    summary = "The shipped sign-in and consent page",
    description = "Where `/oauth2/authorize` sends the browser by default. Needs the \
        browser-binding cookie of the browser that began the request. Without a \
        Tessera session (access cookie) of a signed-in, non-anonymous user, the sign-in \
        page: email and password, the app's name and what it asks for. With one, the \
        consent page, or, when no consent is asked (a first-party app, or one the user \
        already allowed these scopes), straight back to the app. HTML, no JavaScript, \
        `Cache-Control: no-store`, `X-Frame-Options: DENY` and a strict \
        `Content-Security-Policy`.",
    params(("request_id" = String, Query, description = "The request's id, as `/oauth2/authorize` gave it.")),
    security((), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The sign-in page or the consent page.",
            content_type = "text/html", body = String),
        (status = 302, description = "Signed in, no consent asked: back to the app with \
            `code`, `state` and `iss`."),
        (status = 400, description = "An HTML page: the request is unknown, expired, \
            answered, or another browser's; start again from the app.",
            content_type = "text/html", body = String),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let pairs = url::form_urlencoded::parse(query.as_bytes());
    let answer = async {
        let fields = params(pairs).map_err(|e| failure_page(e.0))?;
        let (pending, browser) = pending(&state, &headers, &fields).await?;
        match signed_in(&state, &headers).await {
            Some(claims) => go_on(&state, &client, &pending, &browser, &claims, found).await,
            None => Ok(page_html::sign_in(
                base(&state),
                StatusCode::OK,
                &pending,
                "",
                None,
            )),
        }
    };
    answer.await.unwrap_or_else(|page| page)
}

#[utoipa::path(
    post,
    path = "/oauth2/ui/signin",
    operation_id = "oauth2UiSignIn",
    tag = "oauth2-pages",
    summary = "Sign in on the shipped page",
    description = "The sign-in form: `request_id`, `email` and `password`; or, as the second \
        step of a user with TOTP on, `request_id`, `ticket` and `otp`. The same checks as \
        `POST /signin/email-password` and `POST /signin/mfa/totp` (per-account failure \
        limits and lockout, unverified and disabled accounts, the second factor), and the \
        same answer for a wrong password as for an unknown account. Must come from \
        Tessera's own origin (`Origin`) with the browser-binding cookie. On \
        success sets Tessera's session cookies (and the device cookie), then shows the \
        consent page or goes back to the app.",
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "`request_id`, `email`, `password`; or `request_id`, `ticket`, `otp`."),
    responses(
        (status = 200, description = "The consent page, or the page asking for the \
            authenticator app's code.", content_type = "text/html", body = String),
        (status = 303, description = "Signed in, no consent asked: back to the app with \
            `code`, `state` and `iss`.",
            headers(("Set-Cookie" = String, description = "Tessera's session cookies and \
                the device cookie."))),
        (status = 400, description = "An HTML page: a malformed form, or a request that \
            is unknown, expired, answered or another browser's.",
            content_type = "text/html", body = String),
        (status = 401, description = "The sign-in page again (wrong email or password, \
            disabled or unverified account) or the code page again (wrong code).",
            content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the post did not come from Tessera's \
            origin.", content_type = "text/html", body = String),
        (status = 429, description = "The page again: too many failed attempts; also \
            `too-many-requests` from the per-IP limit.", body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        if !from_tessera(&state, &headers) {
            return Err(foreign_post());
        }
        let fields = form(&headers, &body).map_err(|e| failure_page(e.0))?;
        let (pending, browser) = pending(&state, &headers, &fields).await?;
        let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
        let session = match fields.get("ticket") {
            Some(ticket) => second_step(&state, &client, &pending, ticket, field("otp")).await?,
            None => {
                let (email, password) = (field("email"), field("password"));
                first_step(
                    &state, &client, &cookies, &headers, &pending, email, password,
                )
                .await?
            }
        };
        CookiePolicy::new(&state.config).set_session(&cookies, &session, state.clock.now());
        let claims = state
            .sessions
            .authenticate(&session.access_token)
            .await
            .map_err(|e| api_page(ApiError::from(e)))?;
        go_on(&state, &client, &pending, &browser, &claims, see_other).await
    };
    answer.await.unwrap_or_else(|page| page)
}

/// The password, checked as `POST /signin/email-password` checks it (the same domain call,
/// so the same per-account limits, lockout and rules; the device cookie set the same way).
/// The session; or, for a user with TOTP on, the page asking for the code.
async fn first_step(
    state: &AppState,
    client: &ClientInfo,
    cookies: &Cookies,
    headers: &HeaderMap,
    pending: &PendingRequest,
    email: &str,
    password: &str,
) -> Step<IssuedSession> {
    let password = SecretString::from(password.to_owned());
    // The page's own device cookie (the sign-in routes' one never comes to this path), and
    // the other if a proxy or an old browser sends it anyway.
    let mut device_cookies = raw_cookie_values(headers, PAGES_DEVICE_COOKIE);
    device_cookies.extend(raw_cookie_values(headers, DEVICE_COOKIE));
    let outcome = state
        .email_password
        .sign_in(email, &password, &device_cookies, client)
        .await
        .map_err(|err| {
            let api = ApiError::from(err);
            let message = page_html::password_problem(api.code);
            again(state, pending, email, api, message)
        })?;
    // The password was right either way, as on the JSON route.
    let user_id = match &outcome {
        SignIn::Session(session) => session.user.id,
        SignIn::SecondFactor { user, .. } => user.id,
    };
    set_device_cookie(state, cookies, user_id);
    CookiePolicy::new(&state.config).set_pages_device(
        cookies,
        state.email_password.device_cookie(user_id),
        state.email_password.device_cookie_ttl(),
    );
    match outcome {
        SignIn::Session(session) => Ok(session),
        SignIn::SecondFactor { ticket, .. } => Err(page_html::second_factor(
            base(state),
            StatusCode::OK,
            pending,
            &ticket,
            None,
        )),
    }
}

/// The TOTP (or recovery) code with the first step's ticket, checked as
/// `POST /signin/mfa/totp` checks it. The session; or the code page again.
async fn second_step(
    state: &AppState,
    client: &ClientInfo,
    pending: &PendingRequest,
    ticket: &str,
    otp: &str,
) -> Step<IssuedSession> {
    let err = match state.mfa.verify_sign_in(ticket, otp, client).await {
        Ok(session) => return Ok(session),
        Err(err) => err,
    };
    let api = ApiError::from(err);
    if api.code == "invalid-ticket" {
        // Spent (too many wrong codes), expired or made up: the first step again.
        let message = "This sign-in has expired. Sign in again.";
        return Err(again(state, pending, "", api, message));
    }
    if api.status.is_server_error() {
        return Err(api_page(api));
    }
    let page = page_html::second_factor(
        base(state),
        api.status,
        pending,
        ticket,
        Some(page_html::code_problem(api.code)),
    );
    Err(with_retry(page, &api))
}

#[utoipa::path(
    post,
    path = "/oauth2/ui/consent",
    operation_id = "oauth2UiConsent",
    tag = "oauth2-pages",
    summary = "Allow or deny an app on the shipped page",
    description = "The consent form: `request_id` and `decision` (`allow` or `deny`). Must \
        come from Tessera's own origin (`Origin`) with the browser-binding cookie. \
        `allow` needs the user's Tessera session (access cookie): the request gets its code \
        and the browser goes back to the app with `code`, `state` and `iss`; the consent \
        is remembered. `deny` sends the browser back with `error=access_denied`.",
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "`request_id` and `decision`."),
    security((), ("accessCookie" = [])),
    responses(
        (status = 303, description = "Back to the app: `code`, `state` and `iss`, or \
            `error=access_denied`."),
        (status = 400, description = "An HTML page: a malformed form, or a request that \
            is unknown, expired, answered or another browser's.",
            content_type = "text/html", body = String),
        (status = 401, description = "The sign-in page: the Tessera session has ended.",
            content_type = "text/html", body = String),
        (status = 403, description = "An HTML page: the post did not come from Tessera's \
            origin, or the account cannot sign in to apps (disabled, anonymous).",
            content_type = "text/html", body = String),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn consent(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        if !from_tessera(&state, &headers) {
            return Err(foreign_post());
        }
        let fields = form(&headers, &body).map_err(|e| failure_page(e.0))?;
        let (pending, browser) = pending(&state, &headers, &fields).await?;
        let location = match fields.get("decision").map(String::as_str) {
            Some("allow") => {
                let Some(claims) = signed_in(&state, &headers).await else {
                    return Err(page_html::sign_in(
                        base(&state),
                        StatusCode::UNAUTHORIZED,
                        &pending,
                        "",
                        Some("Your session has ended. Sign in again."),
                    ));
                };
                state
                    .oauth2
                    .approve(
                        pending.id,
                        approval(&state, &claims),
                        Some(&browser),
                        &client,
                    )
                    .await
            }
            Some("deny") => state.oauth2.deny(pending.id, Some(&browser)).await,
            _ => Err(OAuthError::invalid_request(
                "The form must say allow or deny.",
            )),
        };
        location
            .map(|url| see_other(url.as_str()))
            .map_err(failure_page)
    };
    answer.await.unwrap_or_else(|page| page)
}

/// The signed-in user goes on with the request: straight back to the app (by `redirect`)
/// when no consent is asked, else the consent page.
async fn go_on(
    state: &AppState,
    client: &ClientInfo,
    pending: &PendingRequest,
    browser: &str,
    claims: &AccessClaims,
    redirect: fn(&str) -> Response,
) -> Step<Response> {
    let asks = state
        .oauth2
        .needs_consent(pending, claims.sub)
        .await
        .map_err(failure_page)?;
    if asks {
        return Ok(page_html::consent(base(state), pending));
    }
    let location = state
        .oauth2
        .approve(pending.id, approval(state, claims), Some(browser), client)
        .await
        .map_err(failure_page)?;
    Ok(redirect(location.as_str()))
}

/// The request of the form or query, for this browser only, and the browser's secret.
async fn pending(
    state: &AppState,
    headers: &HeaderMap,
    fields: &HashMap<String, String>,
) -> Step<(PendingRequest, String)> {
    let start_again = || {
        failure_page(OAuthError::invalid_request(
            "This sign-in request is unknown, expired, already answered or was started \
                 in another browser. Start again from the app.",
        ))
    };
    let id: Uuid = fields
        .get("request_id")
        .and_then(|id| id.parse().ok())
        .ok_or_else(start_again)?;
    let browser = CookiePolicy::new(&state.config)
        .oauth2_browser(headers)
        .ok_or_else(start_again)?;
    let pending = state
        .oauth2
        .pending_request(id, Some(&browser))
        .await
        .map_err(failure_page)?;
    Ok((pending, browser))
}

/// The claims of the browser's live Tessera session, if it has one of a user who may
/// sign in to apps (an anonymous session's `amr` is empty).
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<AccessClaims> {
    let token = CookiePolicy::new(&state.config).access_token(headers)?;
    let claims = state.sessions.authenticate(&token).await.ok()?;
    (!claims.amr.is_empty()).then_some(claims)
}

/// Who approves: the session's user, when and how it authenticated.
fn approval(state: &AppState, claims: &AccessClaims) -> Approval {
    let auth_time = claims
        .auth_time
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or_else(|| state.clock.now());
    Approval {
        user_id: claims.sub,
        auth_time,
        amr: claims.amr.clone(),
    }
}

/// Whether a form post comes from Tessera's own pages: browsers send `Origin` with every
/// form post, and a cross-site one would be another site acting for the user.
fn from_tessera(state: &AppState, headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    origin == Some(state.config.server.public_origin().as_str())
}

/// The answer to a post from another site.
fn foreign_post() -> Response {
    page_html::error(
        StatusCode::FORBIDDEN,
        "invalid_origin",
        "This form was sent from another site. Start again from the app.",
    )
}

/// The sign-in page again after a failed first step (or a spent ticket), with `message`.
fn again(
    state: &AppState,
    pending: &PendingRequest,
    email: &str,
    api: ApiError,
    message: &str,
) -> Response {
    if api.status.is_server_error() {
        return api_page(api);
    }
    let page = page_html::sign_in(base(state), api.status, pending, email, Some(message));
    with_retry(page, &api)
}

/// `Retry-After` of a 429, on the page that reports it.
fn with_retry(mut page: Response, api: &ApiError) -> Response {
    if let Some(seconds) = api.retry_after {
        page.headers_mut()
            .insert(header::RETRY_AFTER, seconds.into());
    }
    page
}

/// An OAuth error as a page; a failure underneath as a page with its status and the
/// envelope's words (nothing internal: those are logged with the request id).
fn failure_page(err: OAuthError) -> Response {
    match err {
        OAuthError::Protocol {
            code,
            description,
            status,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            page_html::error(status, code, &description)
        }
        OAuthError::Auth(err) => api_page(ApiError::from(err)),
    }
}

/// An [`ApiError`] as an error page.
fn api_page(api: ApiError) -> Response {
    let page = page_html::error(api.status, api.code, &api.message);
    with_retry(page, &api)
}

/// A 303 to `location`: the browser follows a form post's answer with a GET.
fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response()
}

/// The base path the forms post under.
fn base(state: &AppState) -> &str {
    state.config.server.base_path()
}
