//! `POST /signup/email-password`: a new account with email and password, in Nhost's shape.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::transport::{deliver, set_device_cookie};
use crate::domain::email_password::SignUpOptions;
use crate::domain::profile::NewProfile;
use crate::http::AppState;
use crate::http::cookies::{AuthModeHeader, requested_mode};
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::Json;
use crate::http::views::{SignUpResponse, no_store};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_up))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct-Horse-battery-9"}))]
struct SignUpRequest {
    /// Trimmed and lower-cased before use.
    #[schema(format = Email)]
    email: String,
    /// At least `TESSERA_PASSWORD_MIN_LENGTH` characters, and not easily guessed.
    #[schema(value_type = String, format = Password)]
    password: SecretString,
    #[serde(default)]
    options: Option<SignUpOptionsBody>,
    /// PKCE S256 challenge (43 characters of base64url) for the verification link, when
    /// verification is required: the link then leads to `redirectTo?code=...` for
    /// `POST /token/exchange`.
    code_challenge: Option<String>,
}

/// Nhost's sign-up options.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SignUpOptions)]
pub(super) struct SignUpOptionsBody {
    /// At most 256 characters; default: the email address.
    display_name: Option<String>,
    /// 2 or 3 letters; default `en`. Emails to the account use this language when a
    /// template of it exists, else English.
    locale: Option<String>,
    /// A JSON object of at most 8 KiB.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// One of the account's allowed roles (else 400
    /// `default-role-must-be-in-allowed-roles`); default `TESSERA_DEFAULT_ROLE` (or, when
    /// `allowedRoles` leaves it out, the first of them).
    default_role: Option<String>,
    /// A non-empty subset of `TESSERA_ALLOWED_ROLES` (else 400 `role-not-allowed`);
    /// default: all of them.
    allowed_roles: Option<Vec<String>>,
    /// Where the verification link leads; must be an allowed redirect URL.
    #[schema(format = "uri")]
    redirect_to: Option<String>,
    /// Same as the top-level `codeChallenge`.
    code_challenge: Option<String>,
}

/// Sign up with email and password.
impl SignUpOptionsBody {
    /// The domain's options; a top-level `codeChallenge` wins over the one in `options`.
    pub(super) fn into_options(self, code_challenge: Option<String>) -> SignUpOptions {
        SignUpOptions {
            profile: NewProfile {
                display_name: self.display_name,
                locale: self.locale,
                metadata: self.metadata,
                default_role: self.default_role,
                allowed_roles: self.allowed_roles,
            },
            redirect_to: self.redirect_to,
            code_challenge: code_challenge.or(self.code_challenge),
        }
    }
}

#[utoipa::path(
    post,
    path = "/signup/email-password",
    operation_id = "signUpEmailPassword",
    tag = "auth",
    summary = "Sign up with email and password",
    description = "Creates an account and signs it in. Its roles are `TESSERA_ALLOWED_ROLES` \
        and its default role `TESSERA_DEFAULT_ROLE`, unless `options.allowedRoles` narrows \
        them and `options.defaultRole` picks one of them. With \
        `TESSERA_REQUIRE_EMAIL_VERIFICATION=true` the answer is `{session: null}` and a \
        verification link is emailed instead. Refused when `TESSERA_DISABLE_SIGNUP=true` or \
        the email domain is not allowed. In cookie mode the tokens go into cookies.",
    request_body(content = SignUpRequest, description = "The new account."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "The new account's session, or `{session: null}` when \
            the address must be verified first. `Cache-Control: no-store`.",
            body = SignUpResponse,
            headers(("Set-Cookie" = String, description = "The device cookie \
                `tessera-device` (every mode); in cookie mode also the access cookie, the \
                refresh cookie and the `tessera-session` hint."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a missing \
            field, an invalid email, bad `metadata`, `displayName` or `locale`; \
            `role-not-allowed`; `default-role-must-be-in-allowed-roles`; \
            `password-too-short`; `password-too-weak`; `redirect-not-allowed`.",
            body = ErrorBody),
        (status = 403, description = "`signup-disabled`; `email-domain-not-allowed`; \
            `invalid-origin` (cookies from a foreign origin).", body = ErrorBody),
        (status = 409, description = "`email-already-in-use`.", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sign_up(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<SignUpRequest>,
) -> Result<Response, ApiError> {
    let options = request
        .options
        .unwrap_or_default()
        .into_options(request.code_challenge);
    let session = state
        .email_password
        .sign_up(&request.email, &request.password, options, &client)
        .await?;
    if let Some(session) = &session {
        set_device_cookie(&state, &cookies, session.user.id);
    }
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    let session = session.map(|s| deliver(&state, &cookies, mode, s));
    Ok(no_store(Json(SignUpResponse { session })))
}
