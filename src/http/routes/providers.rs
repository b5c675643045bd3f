//! Sign-in with a provider (OpenID Connect, GitHub) in Nhost's shapes: the browser flow
//! (`GET /signin/provider/{provider}` and its callback, GET or `form_post`), and ID tokens
//! an app already holds (`POST /signin/idtoken`).

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use tower_cookies::Cookies;
use url::Url;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::signup::SignUpOptionsBody;
use super::transport::deliver_sign_in;
use crate::domain::profile::NewProfile;
use crate::domain::providers::{Callback, FLOW_LIFETIME, FlowFailure, ProviderStart};
use crate::domain::redirects::with_param;
use crate::http::AppState;
use crate::http::cookies::{CookiePolicy, PROVIDER_FLOW_COOKIE, raw_cookie_values, requested_mode};
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{SignInResponse, no_store};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in_provider))
        .routes(routes!(sign_up_provider))
        .routes(routes!(callback_get, callback_post))
        .routes(routes!(sign_in_id_token))
        .routes(routes!(sign_up_id_token))
}

/// The query of `GET /signin/provider/{provider}`: Nhost's, with the app's PKCE challenge.
#[derive(Deserialize, IntoParams, Default)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct StartQuery {
    /// Where the browser is sent at the end: an allowed redirect URL (default: the first
    /// of `TESSERA_ALLOWED_REDIRECT_URLS`, else the public URL).
    #[param(format = "uri")]
    redirect_to: Option<String>,
    /// Required: the app's PKCE S256 challenge; the result comes back as `?code=...` for
    /// `POST /token/exchange {code, codeVerifier}`.
    code_challenge: Option<String>,
    /// Nhost's way to link a provider to a signed-in user (an access token in the URL):
    /// refused. Use `POST /user/providers/{provider}/link`.
    connect: Option<String>,
    /// Sign-up options, for an account this sign-in creates.
    display_name: Option<String>,
    locale: Option<String>,
    /// A JSON object, as a string.
    metadata: Option<String>,
    default_role: Option<String>,
    /// Comma-separated.
    allowed_roles: Option<String>,
}

impl StartQuery {
    fn profile(&mut self) -> Result<NewProfile, ApiError> {
        let metadata = match self.metadata.take() {
            Some(raw) => Some(serde_json::from_str::<Value>(&raw).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid-request",
                    "metadata must be a JSON object.",
                )
            })?),
            None => None,
        };
        Ok(NewProfile {
            display_name: self.display_name.take(),
            locale: self.locale.take(),
            metadata,
            default_role: self.default_role.take(),
            allowed_roles: self.allowed_roles.take().map(|roles| {
                roles
                    .split(',')
                    .map(|r| r.trim().to_owned())
                    .filter(|r| !r.is_empty())
                    .collect()
            }),
        })
    }
}

const START_DESCRIPTION: &str = "Redirects (302) to the provider, after checking \
    `redirectTo` (nothing is sent to the provider for a URL that is not allowed). Sets the \
    `tessera-provider-flow` cookie (HttpOnly, SameSite=Lax, 10 minutes, path \
    `/signin/provider`) that binds the flow to this browser. The provider sends the \
    browser back to `/signin/provider/{provider}/callback`, which sends it on to \
    `redirectTo` with `?code=...` for `POST /token/exchange`, or with \
    `?error=...&errorDescription=...`. Errors after `redirectTo` is checked (no \
    `codeChallenge`, bad sign-up options, the provider unreachable) go to `redirectTo` too.";

#[utoipa::path(
    get,
    path = "/signin/provider/{provider}",
    operation_id = "signInProvider",
    tag = "auth",
    summary = "Sign in with a provider",
    description = START_DESCRIPTION,
    params(("provider" = String, Path, description = "A configured provider's name \
        (`TESSERA_OIDC_<NAME>_*`), or `github`."), StartQuery),
    responses(
        (status = 302, description = "To the provider, or to `redirectTo` with `error`.",
            headers(("Location" = String, description = "The provider's authorization URL."))),
        (status = 400, description = "`redirect-not-allowed`; `invalid-request`: `connect` \
            (use `POST /user/providers/{provider}/link`) or malformed metadata.", body = ErrorBody),
        (status = 404, description = "`unknown-provider`.", body = ErrorBody),
        (status = 429, description = "`too-many-requests`, with `Retry-After`.", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sign_in_provider(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
) -> Result<Response, ApiError> {
    start(&state, &cookies, &headers, &provider, query).await
}

#[utoipa::path(
    get,
    path = "/signup/provider/{provider}",
    operation_id = "signUpProvider",
    tag = "auth",
    summary = "Sign up with a provider",
    description = "The same as `GET /signin/provider/{provider}` (Nhost's SDK has both): an \
        identity seen for the first time makes an account when sign-up is open, and a known \
        one signs in.",
    params(("provider" = String, Path, description = "A configured provider's name."), StartQuery),
    responses(
        (status = 302, description = "To the provider, or to `redirectTo` with `error`."),
        (status = 400, description = "`redirect-not-allowed`; `invalid-request`.", body = ErrorBody),
        (status = 404, description = "`unknown-provider`.", body = ErrorBody),
        (status = 429, description = "`too-many-requests`, with `Retry-After`.", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sign_up_provider(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
) -> Result<Response, ApiError> {
    start(&state, &cookies, &headers, &provider, query).await
}

async fn start(
    state: &AppState,
    cookies: &Cookies,
    headers: &HeaderMap,
    provider: &str,
    mut query: StartQuery,
) -> Result<Response, ApiError> {
    if query.connect.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "connect (an access token in a URL) is not accepted: link a provider with POST /user/providers/{provider}/link.",
        ));
    }
    let request = ProviderStart {
        profile: query.profile()?,
        redirect_to: query.redirect_to,
        code_challenge: query.code_challenge,
    };
    let browser = flow_cookie(headers);
    match state
        .providers
        .start(provider, request, browser.as_deref())
        .await
    {
        Ok(started) => {
            CookiePolicy::new(&state.config).set_provider_flow(
                cookies,
                started.cookie,
                FLOW_LIFETIME,
            );
            Ok(redirect(StatusCode::FOUND, started.location.as_str()))
        }
        Err(failure) => failed(failure),
    }
}

/// What a provider sends to the callback (OAuth 2.0's names).
#[derive(Deserialize, IntoParams, ToSchema, Default)]
#[into_params(parameter_in = Query)]
struct CallbackParams {
    /// The flow's `state`, as Tessera sent it.
    state: Option<String>,
    /// The provider's authorization code.
    code: Option<String>,
    /// The provider's error (`access_denied` when the user cancelled).
    error: Option<String>,
    error_description: Option<String>,
}

#[utoipa::path(
    get,
    path = "/signin/provider/{provider}/callback",
    operation_id = "signInProviderCallbackGet",
    tag = "auth",
    summary = "The provider's redirect back (the redirect URI to register)",
    description = "Finishes the flow the `state` names (once: a replayed state is refused), \
        in the browser whose `tessera-provider-flow` cookie began it. Redirects (302) to \
        `redirectTo` with `?code=...` for `POST /token/exchange`, or with `?error=<code>&\
        errorDescription=...`: `cancelled`, `provider-error` (an error from the provider, or \
        an ID token that failed verification), `provider-unavailable`, `invalid-state` \
        (another browser's flow), `account-exists` (an account has the email, which the \
        provider does not say is verified), `email-not-verified`, `disabled-user`, \
        `signup-disabled`, `email-domain-not-allowed`, `provider-already-linked`.",
    params(("provider" = String, Path, description = "The provider's name."), CallbackParams),
    responses(
        (status = 302, description = "To `redirectTo`, with `code` or `error`. `Cache-Control: no-store`."),
        (status = 400, description = "`invalid-state`: no flow of this state (unknown, used \
            or expired), so no app to report to.", body = ErrorBody),
        (status = 404, description = "`unknown-provider`.", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn callback_get(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path(provider): Path<String>,
    Query(params): Query<CallbackParams>,
) -> Result<Response, ApiError> {
    let callback = Callback {
        state: params.state,
        code: params.code,
        error: params.error,
        error_description: params.error_description,
    };
    let browser = flow_cookie(&headers);
    match state
        .providers
        .callback(&provider, callback, browser.as_deref(), &client)
        .await
    {
        Ok(location) => Ok(redirect(StatusCode::FOUND, location.as_str())),
        Err(failure) => failed(failure),
    }
}

#[utoipa::path(
    post,
    path = "/signin/provider/{provider}/callback",
    operation_id = "signInProviderCallbackPost",
    tag = "auth",
    summary = "The provider's `form_post` answer (Apple)",
    description = "A provider set to `TESSERA_OIDC_<NAME>_RESPONSE_MODE=form_post` posts its \
        answer here, cross-site, where no SameSite=Lax cookie comes along: this answers 303 \
        to the GET callback with the same fields, which the browser follows with the flow \
        cookie. Nothing else is read from the form.",
    params(("provider" = String, Path, description = "The provider's name.")),
    request_body(content = CallbackParams, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the GET callback."),
        (status = 404, description = "`unknown-provider`.", body = ErrorBody),
    )
)]
async fn callback_post(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Form(params): Form<CallbackParams>,
) -> Result<Response, ApiError> {
    if !state.providers.names().contains(&provider.as_str()) {
        return Err(crate::domain::errors::AuthError::UnknownProvider.into());
    }
    let mut url =
        crate::domain::providers::callback_url(&state.config.server.public_url, &provider);
    let fields = [
        ("state", params.state),
        ("code", params.code),
        ("error", params.error),
        ("error_description", params.error_description),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            url = with_param(url, name, &value);
        }
    }
    Ok(redirect(StatusCode::SEE_OTHER, url.as_str()))
}

/// Nhost's `SignInIdTokenRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SignInIdTokenRequest)]
struct IdTokenRequest {
    /// A configured OpenID Connect provider's name.
    provider: String,
    /// The ID token the app got from the provider, issued for this server's client id.
    id_token: String,
    /// The nonce the app made; the token's `nonce` claim must be its hex SHA-256. A token
    /// with a nonce claim needs it.
    nonce: Option<String>,
    #[serde(default)]
    options: Option<SignUpOptionsBody>,
}

const ID_TOKEN_DESCRIPTION: &str = "For native apps that signed in with the provider's own \
    SDK. The ID token is verified as the browser flow's: the provider's keys (refetched \
    for a key Tessera does not know yet), `iss`, `aud` (this server's client id), `exp`, \
    and the nonce. The account is found, linked or created by the same rules. Answers \
    `{session}`, or `{session: null, mfa}` when the user has TOTP on.";

#[utoipa::path(
    post,
    path = "/signin/idtoken",
    operation_id = "signInIdToken",
    tag = "auth",
    summary = "Sign in with a provider's ID token",
    description = ID_TOKEN_DESCRIPTION,
    request_body = IdTokenRequest,
    responses(
        (status = 200, description = "`Cache-Control: no-store`.", body = SignInResponse),
        (status = 400, description = "`invalid-request`: malformed JSON, missing or mistyped fields.", body = ErrorBody),
        (status = 401, description = "`provider-error`: the token failed verification; \
            `email-not-verified`; `disabled-user`.", body = ErrorBody),
        (status = 403, description = "`signup-disabled`; `email-domain-not-allowed`.", body = ErrorBody),
        (status = 404, description = "`unknown-provider`.", body = ErrorBody),
        (status = 409, description = "`account-exists`.", body = ErrorBody),
        (status = 429, description = "`too-many-requests`, with `Retry-After`.", body = ErrorBody),
        (status = 502, description = "`provider-unavailable`.", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sign_in_id_token(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<IdTokenRequest>,
) -> Result<Response, ApiError> {
    id_token(&state, &client, &cookies, &headers, request).await
}

#[utoipa::path(
    post,
    path = "/signup/idtoken",
    operation_id = "signUpIdToken",
    tag = "auth",
    summary = "Sign up with a provider's ID token",
    description = "The same as `POST /signin/idtoken` (Nhost's SDK has both).",
    request_body = IdTokenRequest,
    responses(
        (status = 200, description = "`Cache-Control: no-store`.", body = SignInResponse),
        (status = 400, description = "`invalid-request`: malformed JSON, missing or mistyped fields.", body = ErrorBody),
        (status = 401, description = "`provider-error`; `email-not-verified`; `disabled-user`.",
            body = ErrorBody),
        (status = 403, description = "`signup-disabled`; `email-domain-not-allowed`.", body = ErrorBody),
        (status = 404, description = "`unknown-provider`.", body = ErrorBody),
        (status = 409, description = "`account-exists`.", body = ErrorBody),
        (status = 429, description = "`too-many-requests`, with `Retry-After`.", body = ErrorBody),
        (status = 502, description = "`provider-unavailable`.", body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sign_up_id_token(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<IdTokenRequest>,
) -> Result<Response, ApiError> {
    id_token(&state, &client, &cookies, &headers, request).await
}

async fn id_token(
    state: &AppState,
    client: &crate::domain::sessions::ClientInfo,
    cookies: &Cookies,
    headers: &HeaderMap,
    request: IdTokenRequest,
) -> Result<Response, ApiError> {
    let options = request.options.unwrap_or_default().into_options(None);
    let outcome = state
        .providers
        .sign_in_with_id_token(
            &request.provider,
            &request.id_token,
            request.nonce.as_deref(),
            options.profile,
            client,
        )
        .await?;
    let mode = requested_mode(headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(deliver_sign_in(state, cookies, mode, outcome))).into_response())
}

/// The flow cookie this browser sent, if any.
fn flow_cookie(headers: &HeaderMap) -> Option<String> {
    raw_cookie_values(headers, PROVIDER_FLOW_COOKIE)
        .into_iter()
        .next()
}

fn redirect(status: StatusCode, location: &str) -> Response {
    (
        status,
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response()
}

/// A failed flow: to the app with `error` and `errorDescription` when its URL is known,
/// else the error itself.
fn failed(failure: FlowFailure) -> Result<Response, ApiError> {
    let error = ApiError::from(failure.error);
    let Some(target) = failure.redirect_to else {
        return Err(error);
    };
    if error.status.is_server_error() && error.code == "internal-error" {
        tracing::error!(message = %error.message, "provider flow failed");
    }
    let target: Url = with_param(target, "error", error.code);
    let target = with_param(target, "errorDescription", &error.message);
    Ok(redirect(StatusCode::FOUND, target.as_str()))
}
