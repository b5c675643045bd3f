//! The password: a reset link (`POST /user/password/reset`) and a new password, with the
//! reset ticket or an access token (`POST /user/password`).

use axum::extract::State;
use axum::http::HeaderMap;
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::link_options::EmailRequest;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::bearer;
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::OkBody;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_reset))
        .routes(routes!(change_password))
}

#[utoipa::path(
    post,
    path = "/user/password/reset",
    operation_id = "requestPasswordReset",
    tag = "lifecycle",
    summary = "Email a password reset link",
    description = "Emails a reset link (valid 1 h) to an enabled account. Answers `\"OK\"` \
        whether or not the account exists (and sends nothing when it does not). The link \
        leads to `redirectTo#ticket=...&type=passwordReset` (in the fragment), for the app's \
        form to post `POST /user/password {newPassword, ticket}`.",
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
async fn request_reset(
    State(state): State<AppState>,
    Json(request): Json<EmailRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let options = request.options.unwrap_or_default();
    state
        .links
        .request_password_reset(&request.email, options.redirect_to.as_deref())
        .await?;
    Ok(Json("OK"))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PasswordRequest {
    #[schema(value_type = String, format = Password)]
    new_password: SecretString,
    /// The ticket of a reset link (from the fragment of the URL the link led to); without
    /// it, an access token is required.
    ticket: Option<String>,
    /// The current password: needed without a ticket when the session's sign-in is older
    /// than `TESSERA_RECENT_AUTH_WINDOW`.
    #[schema(value_type = Option<String>, format = Password)]
    current_password: Option<SecretString>,
}

/// With a reset `ticket`: sets the password, ending every session. Without: requires an
/// access token and ends every other session.
#[utoipa::path(
    post,
    path = "/user/password",
    operation_id = "changePassword",
    tag = "lifecycle",
    summary = "Set a new password",
    description = "With a reset `ticket`: sets the password, marks the address verified and \
        ends **every** session (no access token needed). Without a ticket, with an access \
        token: sets it and ends every **other** session; when the session's sign-in is older \
        than `TESSERA_RECENT_AUTH_WINDOW` (default 10 minutes), `currentPassword` is \
        required too. A password refused by the policy does not spend the ticket.",
    request_body(content = PasswordRequest, description = "The new password, and the reset \
        ticket if any."),
    security((), ("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The password is set.", body = OkBody),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a \
            password too long; `password-too-short`; `password-too-weak`.", body = ErrorBody),
        (status = 401, description = "`invalid-ticket`: with a ticket that is invalid, used or \
            expired; `invalid-token`: without a ticket, no valid access token of a live \
            session; `invalid-email-password`: a wrong `currentPassword`.", body = ErrorBody),
        (status = 403, description = "`elevated-claim-required`: the session's sign-in is \
            not recent and no `currentPassword` was sent; `invalid-origin` (cookies from a \
            foreign origin).", body = ErrorBody),
        (status = 429, description = "`too-many-requests`: too many wrong current \
            passwords for this account.", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Json(request): Json<PasswordRequest>,
) -> Result<Json<&'static str>, ApiError> {
    match request.ticket {
        Some(ticket) => {
            state
                .links
                .reset_password(&ticket, &request.new_password, &client)
                .await?
        }
        None => {
            let claims = bearer::authenticate(&state, &headers).await?;
            state
                .links
                .change_password(
                    claims.sub,
                    claims.sid,
                    &request.new_password,
                    request.current_password.as_ref(),
                    &client,
                )
                .await?
        }
    }
    Ok(Json("OK"))
}
