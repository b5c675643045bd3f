//! `POST /signout`: ends one session or all of the user's, and clears the cookies.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::cookies::CookiePolicy;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::bearer::bearer_token;
use crate::http::extract::client::Client;
use crate::http::extract::json::{Json, OptionalJson};
use crate::http::views::{OkBody, no_store};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_out))
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
