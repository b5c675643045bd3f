//! Anonymous users: sign in as a new one (`POST /signin/anonymous`) and give one an email
//! address later (`POST /user/deanonymize`).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use secrecy::SecretString;
use serde::Deserialize;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::link_options::LinkOptions;
use super::transport::deliver;
use crate::domain::anonymous::Upgrade;
use crate::domain::profile::NewProfile;
use crate::http::AppState;
use crate::http::cookies::{AuthModeHeader, requested_mode};
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::bearer::Authenticated;
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{OkBody, SignInResponse, no_store};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(anonymous))
        .routes(routes!(deanonymize))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AnonymousRequest {
    /// At most 256 characters; default `Anonymous`.
    display_name: Option<String>,
    /// 2 or 3 letters; default `en`.
    locale: Option<String>,
    /// A JSON object of at most 8 KiB; default `{}`.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/signin/anonymous",
    operation_id = "signInAnonymous",
    tag = "lifecycle",
    summary = "Sign in as a new anonymous user",
    description = "Creates an anonymous user (role `anonymous`, `isAnonymous: true`, no \
        email) and signs it in; `POST /user/deanonymize` gives it an address later. Refused \
        when `TESSERA_DISABLE_SIGNUP=true`. The body is required (`{}` will do).",
    request_body(content = AnonymousRequest, description = "Optional display name, locale \
        and metadata."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "The session (`mfa` is always `null`). \
            `Cache-Control: no-store`.", body = SignInResponse,
            headers(("Set-Cookie" = String, description = "Cookie mode only: the access \
                cookie, the refresh cookie and the `tessera-session` hint."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, bad \
            `displayName`, `locale` or `metadata`.", body = ErrorBody),
        (status = 403, description = "`signup-disabled`; `invalid-origin` (cookies from a \
            foreign origin).", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn anonymous(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<AnonymousRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .anonymous
        .sign_in_anonymous(
            NewProfile {
                display_name: request.display_name,
                locale: request.locale,
                metadata: request.metadata,
                ..NewProfile::default()
            },
            &client,
        )
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(SignInResponse {
        session: Some(deliver(&state, &cookies, mode, session)),
        mfa: None,
    })))
}

/// How a deanonymized user signs in from now on.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
enum SignInMethod {
    EmailPassword,
    Passwordless,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeanonymizeRequest {
    sign_in_method: SignInMethod,
    #[schema(format = Email)]
    email: String,
    /// Required with `email-password`.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<SecretString>,
    /// Only `redirectTo` (of the verification link) is used.
    #[serde(default)]
    options: Option<LinkOptions>,
}

#[utoipa::path(
    post,
    path = "/user/deanonymize",
    operation_id = "deanonymize",
    tag = "lifecycle",
    summary = "Give an anonymous user an email address",
    description = "The calling anonymous user gets an email (and a password with \
        `email-password`, or a verification link to follow with `passwordless`), keeping its \
        id, data and sessions; its roles become `TESSERA_ALLOWED_ROLES` (default role \
        `TESSERA_DEFAULT_ROLE`) at the next refresh.",
    request_body(content = DeanonymizeRequest, description = "The new sign-in method."),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "Done.", body = OkBody),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, an \
            invalid email, no password with `email-password`; `password-too-short`; \
            `password-too-weak`; `redirect-not-allowed`; `user-not-anonymous`.",
            body = ErrorBody),
        (status = 401, description = doc::INVALID_TOKEN, body = ErrorBody),
        (status = 403, description = "`email-domain-not-allowed`; `invalid-origin` (cookies \
            from a foreign origin).", body = ErrorBody),
        (status = 409, description = "`email-already-in-use`.", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn deanonymize(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Client(client): Client,
    Json(request): Json<DeanonymizeRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let upgrade = match (request.sign_in_method, request.password) {
        (SignInMethod::EmailPassword, Some(password)) => Upgrade::EmailPassword {
            email: request.email,
            password,
        },
        (SignInMethod::EmailPassword, None) => {
            return Err(ApiError::invalid_request(
                "password is required for email-password.",
            ));
        }
        (SignInMethod::Passwordless, _) => Upgrade::Passwordless {
            email: request.email,
        },
    };
    let options = request.options.unwrap_or_default();
    state
        .anonymous
        .deanonymize(claims.sub, upgrade, options.redirect_to.as_deref(), &client)
        .await?;
    Ok(Json("OK"))
}
