//! A signed-in user's identities at providers: the list, linking one (with an ID token, as
//! Nhost's `POST /link/idtoken`, or through the browser flow) and unlinking one.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::IdentityRecord;
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::bearer::Authenticated;
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{OkBody, timestamp};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(link_id_token))
        .routes(routes!(list))
        .routes(routes!(start_link))
        .routes(routes!(unlink))
}

/// One identity at a provider.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = LinkedProvider)]
pub struct IdentityBody {
    id: uuid::Uuid,
    /// The provider's name (`google`, `github`...).
    provider: String,
    /// The email the provider last gave (not necessarily the account's).
    email: Option<String>,
    created_at: String,
    last_used_at: Option<String>,
}

impl From<IdentityRecord> for IdentityBody {
    fn from(identity: IdentityRecord) -> Self {
        Self {
            id: identity.id,
            provider: identity.provider,
            email: identity.email,
            created_at: timestamp(identity.created_at),
            last_used_at: identity.last_used_at.map(timestamp),
        }
    }
}

/// `{providers: [...]}`.
#[derive(Serialize, ToSchema)]
#[schema(as = LinkedProvidersResponse)]
pub struct IdentitiesResponse {
    providers: Vec<IdentityBody>,
}

/// The list answer of the user's and the admin's routes.
pub fn identities_response(identities: Vec<IdentityRecord>) -> Json<IdentitiesResponse> {
    Json(IdentitiesResponse {
        providers: identities.into_iter().map(Into::into).collect(),
    })
}

/// Nhost's `LinkIdTokenRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = LinkIdTokenRequest)]
struct LinkIdTokenRequest {
    provider: String,
    id_token: String,
    /// The nonce whose hex SHA-256 the token's `nonce` claim carries.
    nonce: Option<String>,
}

#[utoipa::path(
    post,
    path = "/link/idtoken",
    operation_id = "linkIdToken",
    tag = "auth",
    summary = "Link a provider's identity with its ID token",
    description = "Links the identity of an ID token the app got from the provider (verified \
        as at `POST /signin/idtoken`) to the signed-in account, which can then sign in with \
        it. A sensitive change: a recent authentication, with the second factor if the \
        account has one, else 403 `elevated-claim-required`. 409 `provider-already-linked` \
        when the identity is another account's, or the account has one at that provider.",
    request_body = LinkIdTokenRequest,
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "Linked (or was already).", body = OkBody),
        (status = 400, description = "`invalid-request`: malformed JSON, missing or mistyped fields.", body = ErrorBody),
        (status = 401, description = "`invalid-token`; `provider-error`.", body = ErrorBody),
        (status = 403, description = "`elevated-claim-required`; `invalid-origin`.", body = ErrorBody),
        (status = 404, description = "`unknown-provider`.", body = ErrorBody),
        (status = 409, description = "`provider-already-linked`.", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 429, description = "`too-many-requests`, with `Retry-After`.", body = ErrorBody),
        (status = 502, description = "`provider-unavailable`.", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn link_id_token(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Json(request): Json<LinkIdTokenRequest>,
) -> Result<Json<&'static str>, ApiError> {
    state
        .providers
        .link_id_token(
            claims.sub,
            claims.sid,
            &request.provider,
            &request.id_token,
            request.nonce.as_deref(),
            &client,
        )
        .await?;
    Ok(Json("OK"))
}

#[utoipa::path(
    get,
    path = "/user/providers",
    operation_id = "listLinkedProviders",
    tag = "user",
    summary = "The signed-in user's identities at providers (Tessera)",
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "Oldest first.", body = IdentitiesResponse),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
) -> Result<Json<IdentitiesResponse>, ApiError> {
    Ok(identities_response(
        state.providers.identities(claims.sub).await?,
    ))
}

/// `{redirectTo, codeChallenge}`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = LinkProviderRequest)]
struct StartLinkRequest {
    /// Where the browser is sent at the end: an allowed redirect URL.
    #[schema(format = "uri")]
    redirect_to: Option<String>,
    /// The app's PKCE S256 challenge: the link is made when the app trades the code that
    /// comes back, with its verifier, at `POST /token/exchange`.
    code_challenge: String,
}

/// `{url}`.
#[derive(Serialize, ToSchema)]
#[schema(as = LinkProviderResponse)]
struct StartLinkResponse {
    /// The provider's authorization URL: send the browser there.
    url: String,
}

#[utoipa::path(
    post,
    path = "/user/providers/{provider}/link",
    operation_id = "linkProvider",
    tag = "user",
    summary = "Link a provider through the browser (Tessera)",
    description = "Begins a sign-in at the provider for the signed-in account and answers its \
        URL. The browser comes back to `redirectTo` with `?code=...`; the identity is linked \
        when the app trades that code with its verifier at `POST /token/exchange` (which \
        answers a session of the account), so a leaked URL or code links nothing. \
        Replaces Nhost's `connect` query parameter, an access token in a URL.",
    params(("provider" = String, Path, description = "A configured provider's name.")),
    request_body = StartLinkRequest,
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The provider's URL.", body = StartLinkResponse),
        (status = 400, description = "`invalid-request`; `redirect-not-allowed`.", body = ErrorBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = "`elevated-claim-required`; `invalid-origin`.", body = ErrorBody),
        (status = 404, description = "`unknown-provider`.", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 502, description = "`provider-unavailable`.", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn start_link(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Path(provider): Path<String>,
    Json(request): Json<StartLinkRequest>,
) -> Result<Json<StartLinkResponse>, ApiError> {
    let url = state
        .providers
        .start_link(
            &provider,
            claims.sub,
            claims.sid,
            request.redirect_to.as_deref(),
            Some(request.code_challenge),
        )
        .await?;
    Ok(Json(StartLinkResponse {
        url: url.to_string(),
    }))
}

#[utoipa::path(
    delete,
    path = "/user/providers/{provider}",
    operation_id = "unlinkProvider",
    tag = "user",
    summary = "Unlink a provider from the signed-in account (Tessera)",
    description = "Refused (403 `last-sign-in-method`) while it is the account's last way to \
        sign in (no password, no passkey, no other provider). Recorded as a \
        `provider-unlinked` security event.",
    params(("provider" = String, Path, description = "The provider's name.")),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "Unlinked.", body = OkBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = "`last-sign-in-method`; `elevated-claim-required`; \
            `invalid-origin`.", body = ErrorBody),
        (status = 404, description = "`provider-not-linked`.", body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE_COOKIES, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn unlink(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Path(provider): Path<String>,
) -> Result<Json<&'static str>, ApiError> {
    state
        .providers
        .unlink(claims.sub, &provider, Some(claims.sid), &client)
        .await?;
    Ok(Json("OK"))
}
