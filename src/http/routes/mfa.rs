//! The TOTP second factor in Nhost's shapes: `GET /mfa/totp/generate`, `POST /user/mfa`,
//! `POST /signin/mfa/totp`; and Tessera's `POST /user/mfa/recovery-codes`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::transport::deliver;
use crate::domain::errors::AuthError;
use crate::http::AppState;
use crate::http::cookies::{AuthModeHeader, CookiePolicy, requested_mode};
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::bearer::Authenticated;
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{OkBody, SessionPayload, no_store};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(generate))
        .routes(routes!(change))
        .routes(routes!(recovery_codes))
        .routes(routes!(sign_in))
        .routes(routes!(elevate))
}

/// Nhost's `TotpGenerateResponse`, plus the recovery codes.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TotpGenerateResponse)]
struct GenerateResponse {
    /// The QR code of the otpauth URI: `data:image/png;base64,...`.
    #[schema(example = "data:image/png;base64,iVBORw0KGgo...")]
    image_url: String,
    /// The secret in base32 (32 characters), for apps without a camera.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    totp_secret: String,
    /// Ten single-use recovery codes (`xxxxx-xxxxx`), valid once TOTP is enabled. Shown
    /// only here (and by `POST /user/mfa/recovery-codes`); Tessera keeps HMAC tags.
    recovery_codes: Vec<String>,
}

#[utoipa::path(
    get,
    path = "/mfa/totp/generate",
    operation_id = "changeUserMfa",
    tag = "user",
    summary = "Generate a TOTP secret",
    description = "Makes a pending TOTP secret for the signed-in user (replacing an earlier \
        pending one) and its recovery codes; `POST /user/mfa` with a code of it enables \
        TOTP. The otpauth URI names the issuer `TESSERA_MFA_ISSUER` and the account's email. \
        Needs a session authenticated less than `TESSERA_RECENT_AUTH_WINDOW` ago, not by a \
        PAT (else 403 `elevated-claim-required`). An enabled secret is never replaced \
        (`totp-already-active`: disable first). A HEAD of this route answers 405.",
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The QR code, the secret and the recovery codes. \
            `Cache-Control: no-store`.", body = GenerateResponse),
        (status = 400, description = "`totp-already-active`: TOTP is on.", body = ErrorBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = "`elevated-claim-required`: no recent authentication; \
            `forbidden-anonymous`: anonymous users cannot enrol.", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn generate(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Response, ApiError> {
    let enrolment = state.mfa.generate(claims.sub, claims.sid).await?;
    Ok(no_store(Json(GenerateResponse {
        image_url: enrolment.image_url,
        totp_secret: enrolment.secret_base32,
        recovery_codes: enrolment.recovery_codes,
    })))
}

/// Nhost's `UserMfaRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = UserMfaRequest, example = json!({"code": "123456", "activeMfaType": "totp"}))]
struct ChangeRequest {
    /// A TOTP code (6 digits); to disable, also a recovery code.
    code: String,
    /// `totp` to enable; `""` or absent to disable.
    #[schema(pattern = "^(totp)?$")]
    active_mfa_type: Option<String>,
}

#[utoipa::path(
    post,
    path = "/user/mfa",
    operation_id = "verifyChangeUserMfa",
    tag = "user",
    summary = "Enable or disable TOTP",
    description = "`activeMfaType: \"totp\"` enables the pending secret of \
        `GET /mfa/totp/generate` with one of its codes (its recovery codes become valid); \
        `\"\"` or no `activeMfaType` disables TOTP with a code or a recovery code, removing \
        the secret and the recovery codes. Each code is accepted once (per 30-second step). \
        Needs a recent authentication, like `GET /mfa/totp/generate`. Wrong codes count \
        against the user: after 5 in 15 minutes, 429. Recorded as `mfa-enabled`, \
        `mfa-disabled` or `mfa-code-failed` security events.",
    request_body(content = ChangeRequest, description = "The code and the new state."),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "Done.", body = OkBody),
        (status = 400, description = "`invalid-request` (malformed JSON, an unknown \
            `activeMfaType`); `no-totp-secret`: nothing generated yet; \
            `totp-already-active`.", body = ErrorBody),
        (status = 401, description = "`invalid-totp`: a wrong or already used code; \
            `disabled-mfa-totp`: TOTP is not on (disabling); `invalid-token`.",
            body = ErrorBody),
        (status = 403, description = "`elevated-claim-required`; `forbidden-anonymous`; \
            `invalid-origin`.", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 429, description = "`too-many-requests`: too many wrong codes.",
            body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn change(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Json(request): Json<ChangeRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let activate = match request.active_mfa_type.as_deref() {
        Some("totp") => true,
        None | Some("") => false,
        Some(_) => {
            return Err(AuthError::InvalidRequest(
                "activeMfaType must be \"totp\" or \"\".".into(),
            )
            .into());
        }
    };
    state
        .mfa
        .change(claims.sub, claims.sid, &request.code, activate, &client)
        .await?;
    Ok(Json("OK"))
}

/// `{recoveryCodes}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RecoveryCodesResponse)]
struct RecoveryCodesResponse {
    /// Ten single-use codes (`xxxxx-xxxxx`), shown this once.
    recovery_codes: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/user/mfa/recovery-codes",
    operation_id = "regenerateRecoveryCodes",
    tag = "user",
    summary = "Replace the TOTP recovery codes (Tessera)",
    description = "A new set of ten recovery codes for a user with TOTP on; the earlier set \
        stops working. Needs a recent authentication, like `GET /mfa/totp/generate`. \
        Recorded as an `mfa-recovery-codes-regenerated` security event. Not an Nhost route.",
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The codes. `Cache-Control: no-store`.",
            body = RecoveryCodesResponse),
        (status = 401, description = "`disabled-mfa-totp`: TOTP is not on; \
            `invalid-token`.", body = ErrorBody),
        (status = 403, description = "`elevated-claim-required`; `forbidden-anonymous`; \
            `invalid-origin`.", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn recovery_codes(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
) -> Result<Response, ApiError> {
    let recovery_codes = state
        .mfa
        .regenerate_recovery_codes(claims.sub, claims.sid, &client)
        .await?;
    Ok(no_store(Json(RecoveryCodesResponse { recovery_codes })))
}

/// Nhost's `SignInMfaTotpRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SignInMfaTotpRequest)]
struct SignInRequest {
    /// The `mfa.ticket` of the first step.
    #[schema(pattern = "^mfaTotp:.*$")]
    ticket: String,
    /// A TOTP code (6 digits) or a recovery code.
    otp: String,
}

#[utoipa::path(
    post,
    path = "/signin/mfa/totp",
    operation_id = "verifySignInMfaTotp",
    tag = "auth",
    summary = "Second step of a sign-in: a TOTP code",
    description = "Trades the ticket of a sign-in that answered `mfa: {ticket}` (password, \
        sign-in link, email code) and a TOTP code, or a recovery code, for the session. A \
        ticket lives 5 minutes, is spent by the right code, and allows 5 tries; each TOTP \
        step is accepted once. Every wrong code counts against the user (5 in 15 minutes, \
        then 429) and as a failed sign-in of the address \
        (`TESSERA_RATE_LIMIT_FAILED_SIGNINS`). In cookie mode the tokens go into cookies.",
    request_body(content = SignInRequest, description = "The ticket and the code."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "`{session}` (Nhost's `SessionPayload`). \
            `Cache-Control: no-store`.", body = SessionPayload,
            headers(("Set-Cookie" = String, description = "Cookie mode only: the access \
                cookie, the refresh cookie and the `tessera-session` hint."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a \
            missing field.", body = ErrorBody),
        (status = 401, description = "`invalid-ticket`: unknown, expired, used or spent \
            ticket; `invalid-totp`: a wrong or already used code; `disabled-mfa-totp`: TOTP \
            was turned off meanwhile; `disabled-user`.", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 429, description = "`too-many-requests`: too many wrong codes of this \
            user.", body = ErrorBody),
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
    let session = state
        .mfa
        .verify_sign_in(&request.ticket, &request.otp, &client)
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(SessionPayload {
        session: deliver(&state, &cookies, mode, session),
    })))
}

/// A step-up: a TOTP code (or a recovery code) for the signed-in session.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ElevateTotpRequest)]
struct ElevateRequest {
    /// A TOTP code (6 digits) or a recovery code.
    otp: String,
}

/// The access token of a stepped-up session.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ElevateResponse)]
struct ElevateResponse {
    /// With `amr` holding `otp` (or `rec`) and `mfa`, and `auth_time` now. Left out when the
    /// request was authenticated by the access cookie (the cookie carries it), unless
    /// `TESSERA_EXPOSE_ACCESS_TOKEN=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    access_token_expires_in: u64,
}

#[utoipa::path(
    post,
    path = "/elevate/totp",
    operation_id = "elevateTotp",
    tag = "user",
    summary = "Step up: prove the second factor again",
    description = "For a signed-in user with TOTP on: a right TOTP code (or a recovery code) \
        makes this session's latest authentication now and adds `otp` (or `rec`) and `mfa` \
        to its methods, which the sensitive changes need (password and email change, new \
        personal access tokens, new recovery codes: see the README's second-factor section). \
        Answers a new access token carrying `amr` and `auth_time`; the refresh token stays \
        (its next rotation carries them too). A request authenticated by the access cookie \
        gets the new token in that cookie. Wrong codes count against the user (5 in 15 \
        minutes, then 429).",
    request_body(content = ElevateRequest, description = "The code."),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The new access token. `Cache-Control: no-store`.",
            body = ElevateResponse,
            headers(("Set-Cookie" = String, description = "Cookie-authenticated requests \
                only: the access cookie."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a \
            missing field.", body = ErrorBody),
        (status = 401, description = "`invalid-token`; `invalid-totp`: a wrong or already \
            used code; `disabled-mfa-totp`: TOTP is not on.", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 429, description = "`too-many-requests`: too many wrong codes of this \
            user.", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn elevate(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<ElevateRequest>,
) -> Result<Response, ApiError> {
    let stepped = state
        .mfa
        .elevate(claims.sub, claims.sid, &request.otp, &client)
        .await?;
    let by_cookie = !headers.contains_key(axum::http::header::AUTHORIZATION);
    let policy = CookiePolicy::new(&state.config);
    let access_token = if by_cookie {
        let left = (stepped.session.expires_at - state.clock.now()).max(time::Duration::ZERO);
        policy.set_access(&cookies, stepped.access_token.clone(), left);
        policy.expose_access_token.then_some(stepped.access_token)
    } else {
        Some(stepped.access_token)
    };
    Ok(no_store(Json(ElevateResponse {
        access_token,
        access_token_expires_in: stepped.access_token_expires_in,
    })))
}
