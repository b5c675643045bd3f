//! Email one-time codes, in Nhost's shapes (`signInOTPEmail`, `verifySignInOTPEmail`): see
//! [`crate::domain::email_otp`].

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::transport::deliver_sign_in;
use crate::domain::profile::NewProfile;
use crate::http::AppState;
use crate::http::cookies::{AuthModeHeader, requested_mode};
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{OkBody, SessionOrChallenge, no_store};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_code))
        .routes(routes!(verify_code))
}

/// Nhost's `options` of `signInOTPEmail` (its sign-up options).
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SignInOtpEmailOptions)]
struct OtpOptions {
    /// The display name of an account the request creates (at most 256 characters);
    /// default: the address.
    display_name: Option<String>,
    /// The locale of an account the request creates (2 or 3 letters); default `en`.
    locale: Option<String>,
    /// The metadata of an account the request creates (a JSON object of at most 8 KiB).
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// Accepted for Nhost compatibility and ignored: a code has no link to redirect.
    #[serde(default)]
    #[schema(format = "uri")]
    #[allow(dead_code)] // read by serde only, to accept Nhost's field
    redirect_to: Option<String>,
    /// The roles of an account the request creates: a non-empty subset of
    /// `TESSERA_ALLOWED_ROLES` (else 400 `role-not-allowed`); default: all of them.
    allowed_roles: Option<Vec<String>>,
    /// The default role of an account the request creates: one of its roles (else 400
    /// `default-role-must-be-in-allowed-roles`); default `TESSERA_DEFAULT_ROLE`.
    default_role: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SignInOtpEmailRequest)]
struct OtpRequest {
    /// Trimmed and lower-cased before use.
    #[schema(format = Email)]
    email: String,
    /// Used only when the request creates the account; nothing changes for an existing one.
    #[serde(default)]
    options: Option<OtpOptions>,
}

#[utoipa::path(
    post,
    path = "/signin/otp/email",
    operation_id = "signInOTPEmail",
    tag = "auth",
    summary = "Email a one-time sign-in code",
    description = "Emails a 6-digit code (valid 10 minutes, once, 5 tries) to the account of \
        the address, creating the account if sign-up allows (`TESSERA_DISABLE_SIGNUP`, the \
        domain lists). Answers `\"OK\"` whether or not the account exists, and sends \
        nothing to an address without an enabled account when sign-up is closed. A new \
        request spends the address's earlier codes. The message is the `signin-otp` \
        template.",
    request_body(content = OtpRequest, description = "The address, and the profile of an \
        account the request creates."),
    responses(
        (status = 200, description = "Done (or nothing to do).", body = OkBody),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a missing \
            field, an invalid email, bad `displayName`, `locale` or `metadata`; \
            `role-not-allowed`; `default-role-must-be-in-allowed-roles`.", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn request_code(
    State(state): State<AppState>,
    Client(client): Client,
    Json(request): Json<OtpRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let options = request.options.unwrap_or_default();
    let profile = NewProfile {
        display_name: options.display_name,
        locale: options.locale,
        metadata: options.metadata,
        default_role: options.default_role,
        allowed_roles: options.allowed_roles,
    };
    state
        .email_otp
        .request(&request.email, profile, &client)
        .await?;
    Ok(Json("OK"))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SignInOtpEmailVerifyRequest)]
struct VerifyRequest {
    #[schema(format = Email)]
    email: String,
    /// The 6 digits of the emailed code.
    #[schema(pattern = "^[0-9]{6}$")]
    otp: String,
}

#[utoipa::path(
    post,
    path = "/signin/otp/email/verify",
    operation_id = "verifySignInOTPEmail",
    tag = "auth",
    summary = "Sign in with an emailed code",
    description = "Trades the address's newest code for a session. A wrong, used, expired or \
        spent code, an address without a code and an unknown address all answer 401 \
        `invalid-otp`, and each counts as a failed sign-in of the address \
        (`TESSERA_RATE_LIMIT_FAILED_SIGNINS`, 429 once used up). A code allows 5 tries; \
        the fifth wrong one spends it. Typing the code proves the mailbox: an unverified \
        account becomes verified, and a password or sessions it had from before are \
        removed (someone else may have registered the address). In cookie mode the tokens \
        go into cookies.",
    request_body(content = VerifyRequest, description = "The address and its code."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "`{session, mfa}`: the session (Nhost's \
            `SignInOTPEmailVerifyResponse`), or, when the user has TOTP on, \
            `session: null` and `mfa: {ticket}` for `POST /signin/mfa/totp` (a code proves \
            only the mailbox). `Cache-Control: no-store`.",
            body = SessionOrChallenge,
            headers(("Set-Cookie" = String, description = "Cookie mode only, with a session: \
                the access cookie, the refresh cookie and the `tessera-session` hint."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a missing \
            field, an invalid email, an `otp` that is not 6 digits.", body = ErrorBody),
        (status = 401, description = "`invalid-otp`: see above; `disabled-user` (only with \
            the right code).", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 429, description = "`too-many-requests`: too many failed sign-ins of this \
            address, or from this IP.", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn verify_code(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<VerifyRequest>,
) -> Result<Response, ApiError> {
    let outcome = state
        .email_otp
        .verify(&request.email, &request.otp, &client)
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    let body = SessionOrChallenge::from(deliver_sign_in(&state, &cookies, mode, outcome));
    Ok(no_store(Json(body)))
}
