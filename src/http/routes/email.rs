//! The account's email address: a new verification link
//! (`POST /user/email/send-verification-email`) and a change of address
//! (`POST /user/email/change`), both by emailed link.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::link_options::{EmailRequest, LinkOptions};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::bearer::Authenticated;
use crate::http::extract::json::Json;
use crate::http::views::OkBody;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_verification))
        .routes(routes!(change_email))
}

#[utoipa::path(
    post,
    path = "/user/email/send-verification-email",
    operation_id = "sendVerificationEmail",
    tag = "lifecycle",
    summary = "Resend the verification link",
    description = "Emails a new verification link to an unverified, enabled account. Answers         `\"OK\"` whether or not the account exists (and sends nothing when it does not).",
    request_body(content = EmailRequest, description = "The address and where the link leads."),
    responses(
        (status = 200, description = "Done (or nothing to do).", body = OkBody),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON; \
            `redirect-not-allowed`.", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn send_verification(
    State(state): State<AppState>,
    Json(request): Json<EmailRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let options = request.options.unwrap_or_default();
    state
        .links
        .resend_verification(&request.email, options.redirect_to.as_deref())
        .await?;
    Ok(Json("OK"))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangeEmailRequest {
    #[schema(format = Email)]
    new_email: String,
    /// `redirectTo` and `codeChallenge` are used.
    #[serde(default)]
    options: Option<LinkOptions>,
    /// PKCE S256 challenge: the confirmation link then leads to `redirectTo?code=...`.
    code_challenge: Option<String>,
}

#[utoipa::path(
    post,
    path = "/user/email/change",
    operation_id = "changeEmail",
    tag = "lifecycle",
    summary = "Change the email address",
    description = "Emails a confirmation link (valid 24 h) to the new address; the address \
        changes when the link is followed. The old address is then told, with a link (valid \
        7 days) that puts it back and ends every session of the user. Needs a session \
        authenticated within `TESSERA_RECENT_AUTH_WINDOW`, not by a PAT, and with the \
        second factor when the user has one (else 403 `elevated-claim-required`).",
    request_body(content = ChangeEmailRequest, description = "The new address."),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The link is on its way.", body = OkBody),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, an \
            invalid email; `redirect-not-allowed`.", body = ErrorBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = "`elevated-claim-required`: no recent (second-factor) \
            authentication; `email-domain-not-allowed`; `invalid-origin` (cookies from a \
            foreign origin).", body = ErrorBody),
        (status = 409, description = "`email-already-in-use`.", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn change_email(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Json(request): Json<ChangeEmailRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let options = request.options.unwrap_or_default();
    state
        .links
        .request_email_change(
            claims.sub,
            claims.sid,
            &request.new_email,
            options.redirect_to.as_deref(),
            request.code_challenge.or(options.code_challenge),
        )
        .await?;
    Ok(Json("OK"))
}
