//! `POST /signin/passwordless/email`: an emailed sign-in link, redeemed with PKCE.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::link_options::LinkOptions;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::OkBody;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(passwordless))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PasswordlessRequest {
    #[schema(format = Email)]
    email: String,
    /// `redirectTo`, `codeChallenge`, and the profile and roles of an account the link
    /// creates (`displayName`, `locale`, `metadata`, `allowedRoles`, `defaultRole`).
    #[serde(default)]
    options: Option<LinkOptions>,
    /// PKCE S256 challenge (43 characters of base64url), required here or in `options`: the
    /// link leads to `redirectTo?code=...`, never to a token.
    code_challenge: Option<String>,
}

#[utoipa::path(
    post,
    path = "/signin/passwordless/email",
    operation_id = "signInPasswordlessEmail",
    tag = "lifecycle",
    summary = "Email a sign-in link",
    description = "Emails a sign-in link (valid 15 min), creating the account if sign-up \
        allows, with the profile and roles of `options`. Answers `\"OK\"` whether or not the \
        account exists; `options` other than `redirectTo` and `codeChallenge` do nothing to \
        an existing account. Following the link leads to `redirectTo?code=...`; the app \
        exchanges the code with its verifier at `POST /token/exchange`.",
    request_body(content = PasswordlessRequest, description = "The address, the PKCE \
        challenge and where the link leads."),
    responses(
        (status = 200, description = "Done (or nothing to do).", body = OkBody),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, an \
            invalid email, no `codeChallenge`, bad `displayName`, `locale` or `metadata`; \
            `role-not-allowed`; `default-role-must-be-in-allowed-roles`; \
            `redirect-not-allowed`.", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn passwordless(
    State(state): State<AppState>,
    Client(client): Client,
    Json(request): Json<PasswordlessRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let mut options = request.options.unwrap_or_default();
    let profile = options.profile();
    state
        .links
        .request_signin_link(
            &request.email,
            options.redirect_to.as_deref(),
            request.code_challenge.or(options.code_challenge),
            profile,
            &client,
        )
        .await?;
    Ok(Json("OK"))
}
