//! `POST /signin/email-password`: a session for an email and password, in Nhost's shape,
//! over bearer or cookie transport.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use secrecy::SecretString;
use serde::Deserialize;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::transport::{deliver_sign_in, set_device_cookie};
use crate::domain::mfa::SignIn;
use crate::http::AppState;
use crate::http::cookies::{AuthModeHeader, DEVICE_COOKIE, raw_cookie_values, requested_mode};
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{SignInResponse, no_store};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_in))
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
        (status = 200, description = "The session and `mfa: null`; or, when the user has \
            TOTP on, `session: null` and `mfa: {ticket}`: no token and no session cookie until \
            `POST /signin/mfa/totp` with the ticket and a code. `Cache-Control: no-store`.",
            body = SignInResponse,
            headers(("Set-Cookie" = String, description = "The device cookie \
                `tessera-device` (every mode, also before a second step); in cookie mode, \
                with a session, also the access cookie, the refresh cookie and the \
                `tessera-session` hint."))),
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
    let outcome = state
        .email_password
        .sign_in(&request.email, &request.password, &device_cookies, &client)
        .await?;
    // The password was right either way: the device cookie proves that much.
    let user_id = match &outcome {
        SignIn::Session(session) => session.user.id,
        SignIn::SecondFactor { user, .. } => user.id,
    };
    set_device_cookie(&state, &cookies, user_id);
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    let body: SignInResponse = deliver_sign_in(&state, &cookies, mode, outcome);
    Ok(no_store(Json(body)))
}
