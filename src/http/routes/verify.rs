//! `GET /verify`: the target of every emailed link (verification, reset, email change and
//! its revert, sign-in links).

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::views::no_store;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_link))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct LinkQuery {
    /// The one-time ticket of the link.
    ticket: Option<String>,
    /// `emailVerify`, `passwordReset`, `emailConfirmChange`, `emailRevertChange` or
    /// `signinPasswordless`.
    #[serde(rename = "type")]
    link_type: Option<String>,
    /// Only used to report an invalid ticket (`?error=invalid-ticket`) when it is an allowed
    /// redirect URL: a valid ticket leads where the request that sent the link asked.
    #[param(format = "uri")]
    redirect_to: Option<String>,
}

/// `GET /verify?ticket=...&type=...&redirectTo=...`: the target of every emailed link.
#[utoipa::path(
    get,
    path = "/verify",
    operation_id = "followLink",
    tag = "lifecycle",
    summary = "Follow an emailed link",
    description = "The target of every emailed link. Redeems the ticket and redirects (303) to \
        the `redirectTo` stored with it: a verified address, a changed address, a reverted \
        email change or a sign-in link lead there, with `?code=...` for \
        `POST /token/exchange` when the request carried a PKCE challenge. A reset link is \
        spent and leads to `redirectTo#ticket=...&type=passwordReset`: a new ticket (valid \
        15 minutes) in the fragment, which no browser sends to a server, for the app's form \
        to post to `POST /user/password`. An invalid, used or expired ticket \
        leads to `redirectTo?error=invalid-ticket` (`email-already-in-use` for an address \
        taken meanwhile) when the query's `redirectTo` is allowed, else it is an error.",
    params(LinkQuery),
    responses(
        (status = 303, description = "To the app. `Cache-Control: no-store`.",
            headers(("Location" = String, description = "The stored `redirectTo`, with \
                `code`, `ticket` and `type`, or `error`."))),
        (status = 400, description = "`invalid-request`: a malformed query.", body = ErrorBody),
        (status = 401, description = "`invalid-ticket`: invalid, used or expired, and no \
            allowed `redirectTo` to report it to.", body = ErrorBody),
        (status = 409, description = "`email-already-in-use`: the new address of an email \
            change was taken meanwhile, and no allowed `redirectTo` to report it to.",
            body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn verify_link(
    State(state): State<AppState>,
    Client(client): Client,
    Query(query): Query<LinkQuery>,
) -> Result<Response, ApiError> {
    let outcome = state
        .links
        .follow_link(
            query.ticket.as_deref().unwrap_or_default(),
            query.link_type.as_deref().unwrap_or_default(),
            query.redirect_to.as_deref(),
            &client,
        )
        .await?;
    Ok(no_store(
        (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, outcome.location.to_string())],
        )
            .into_response(),
    ))
}
