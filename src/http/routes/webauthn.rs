//! Passkey sign-up and sign-in in Nhost's shapes: `POST /signup/webauthn[/verify]`,
//! `POST /signin/webauthn[/verify]`; and Tessera's `POST /signin/mfa/webauthn[/verify]`, a
//! passkey at the second step of a password sign-in. The options routes answer the bare
//! WebAuthn options (binary fields base64url), ready for the browser's
//! `PublicKeyCredential.parseCreationOptionsFromJSON` / `parseRequestOptionsFromJSON`; the
//! verify routes take the credential as `PublicKeyCredential.toJSON()` gives it.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::signup::SignUpOptionsBody;
use super::transport::deliver;
use crate::http::AppState;
use crate::http::cookies::{AuthModeHeader, requested_mode};
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::client::Client;
use crate::http::extract::json::{Json, OptionalJson};
use crate::http::views::{SessionPayload, SignUpResponse, no_store};

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(verify_sign_up))
        .routes(routes!(sign_in))
        .routes(routes!(verify_sign_in))
        .routes(routes!(second_factor))
        .routes(routes!(verify_second_factor))
}

/// What every ceremony's verify route may answer beyond its own errors.
pub(super) const CEREMONY_REFUSED: &str = "`invalid-webauthn-challenge`: the challenge is \
    unknown, already used, expired (`TESSERA_WEBAUTHN_TIMEOUT`) or was issued to another \
    route, user or session; `invalid-webauthn-credential`: a check failed (an origin not in \
    `TESSERA_WEBAUTHN_ORIGINS`, another relying party, the signature, user verification \
    not done, a credential not registered or not this user's); `webauthn-counter-regressed`: \
    the signature counter did not go up (a cloned authenticator?), recorded as a \
    `passkey-counter-regressed` security event.";
/// The refusals of the second step's verify route.
const SECOND_STEP_REFUSED: &str = "`invalid-ticket`: unknown, expired or spent ticket; \
    `disabled-user`; `invalid-webauthn-challenge`, `invalid-webauthn-credential`, \
    `webauthn-counter-regressed` as for `POST /signin/webauthn/verify`.";
/// The answer of every route while passkeys are off.
pub(super) const NOT_CONFIGURED: &str = "`webauthn-not-configured`: passkeys are off (the \
    public URL's host is an IP address and `TESSERA_WEBAUTHN_RP_ID` is not set).";

/// Nhost's `SignUpWebauthnRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SignUpWebauthnRequest, example = json!({"email": "ada@example.com"}))]
struct SignUpRequest {
    #[schema(format = Email)]
    email: String,
    #[serde(default)]
    options: Option<SignUpOptionsBody>,
}

#[utoipa::path(
    post,
    path = "/signup/webauthn",
    operation_id = "signUpWebauthn",
    tag = "auth",
    summary = "Sign up with a passkey: the creation options",
    description = "Checks what a sign-up checks (sign-up open, the address free and of an \
        allowed domain, the options) and begins a registration: the answer is the bare \
        `PublicKeyCredentialCreationOptions` (binary fields base64url) for \
        `navigator.credentials.create`, asking for a discoverable passkey with user \
        verification required. The account is created by `POST /signup/webauthn/verify`.",
    request_body(content = SignUpRequest, description = "The address and Nhost's sign-up \
        options."),
    responses(
        (status = 200, description = "The creation options. `Cache-Control: no-store`.",
            body = Object),
        (status = 400, description = "`invalid-request`: malformed JSON, an invalid email \
            or option; `role-not-allowed`; `redirect-not-allowed`.", body = ErrorBody),
        (status = 403, description = "`signup-disabled`; `email-domain-not-allowed`; \
            `webauthn-not-configured`.", body = ErrorBody),
        (status = 409, description = "`email-already-in-use`.", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sign_up(
    State(state): State<AppState>,
    Json(request): Json<SignUpRequest>,
) -> Result<Response, ApiError> {
    let options = request.options.unwrap_or_default().into_options(None);
    let options = state
        .passkeys
        .begin_sign_up(&request.email, &options)
        .await?;
    Ok(no_store(Json(options)))
}

/// Nhost's `SignUpWebauthnVerifyRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SignUpWebauthnVerifyRequest)]
struct VerifySignUpRequest {
    /// The new credential, as `PublicKeyCredential.toJSON()` gives it.
    #[schema(value_type = Object)]
    credential: Value,
    /// Accepted for Nhost's shape; the options given to `POST /signup/webauthn` apply.
    #[serde(default)]
    #[allow(dead_code)]
    options: Option<SignUpOptionsBody>,
    /// A name for the passkey (default `Passkey`), at most 64 characters.
    nickname: Option<String>,
    /// PKCE (S256): the verification link then leads to a code, not a session.
    code_challenge: Option<String>,
}

#[utoipa::path(
    post,
    path = "/signup/webauthn/verify",
    operation_id = "verifySignUpWebauthn",
    tag = "auth",
    summary = "Sign up with a passkey: the new account",
    description = "Verifies the new passkey against the ceremony `POST /signup/webauthn` \
        began (found by the challenge in its client data; single use) and creates the \
        account with it, in one transaction. Answers its first session (`amr`: `hwk`, \
        `user`, `mfa`), or `session: null` when the address must be verified first \
        (`TESSERA_REQUIRE_EMAIL_VERIFICATION`; the link is sent). In cookie mode the \
        tokens go into cookies.",
    request_body(content = VerifySignUpRequest, description = "The credential."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "`{session}`. `Cache-Control: no-store`.",
            body = SignUpResponse),
        (status = 400, description = "`invalid-request`: malformed JSON or credential.",
            body = ErrorBody),
        (status = 401, description = CEREMONY_REFUSED, body = ErrorBody),
        (status = 403, description = NOT_CONFIGURED, body = ErrorBody),
        (status = 409, description = "`email-already-in-use` (taken meanwhile); \
            `webauthn-credential-exists`.", body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn verify_sign_up(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<VerifySignUpRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .passkeys
        .finish_sign_up(
            request.credential,
            request.nickname.as_deref(),
            request.code_challenge,
            &client,
        )
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    let session = session.map(|s| deliver(&state, &cookies, mode, s));
    Ok(no_store(Json(SignUpResponse { session })))
}

/// Nhost's `SignInWebauthnRequest`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
#[schema(as = SignInWebauthnRequest)]
struct SignInRequest {
    /// Optional: without it the authenticator offers the passkeys it keeps for this site.
    #[schema(format = Email)]
    email: Option<String>,
}

#[utoipa::path(
    post,
    path = "/signin/webauthn",
    operation_id = "signInWebauthn",
    tag = "auth",
    summary = "Sign in with a passkey: the request options",
    description = "Begins a sign-in: the answer is the bare \
        `PublicKeyCredentialRequestOptions` for `navigator.credentials.get`, user \
        verification required. Without `email` (or an empty body), `allowCredentials` is \
        empty and the user picks one of the passkeys their authenticator keeps for this \
        site (nothing typed). With the email of an account that has passkeys, they are \
        listed (for security keys that keep none); any other email gets the empty list, \
        but a listed answer does tell that the account has passkeys.",
    request_body(content = Option<SignInRequest>, description = "Optional."),
    responses(
        (status = 200, description = "The request options. `Cache-Control: no-store`.",
            body = Object),
        (status = 400, description = "`invalid-request`: malformed JSON, an invalid email.",
            body = ErrorBody),
        (status = 403, description = NOT_CONFIGURED, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn sign_in(
    State(state): State<AppState>,
    OptionalJson(request): OptionalJson<SignInRequest>,
) -> Result<Response, ApiError> {
    let request = request.unwrap_or_default();
    let options = state
        .passkeys
        .begin_sign_in(request.email.as_deref())
        .await?;
    Ok(no_store(Json(options)))
}

/// Nhost's `SignInWebauthnVerifyRequest`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SignInWebauthnVerifyRequest)]
pub(super) struct VerifyRequest {
    /// The assertion, as `PublicKeyCredential.toJSON()` gives it.
    #[schema(value_type = Object)]
    pub(super) credential: Value,
    /// Accepted for Nhost's shape and ignored: the passkey names its account.
    #[allow(dead_code)]
    #[schema(format = Email)]
    email: Option<String>,
}

#[utoipa::path(
    post,
    path = "/signin/webauthn/verify",
    operation_id = "verifySignInWebauthn",
    tag = "auth",
    summary = "Sign in with a passkey: the session",
    description = "Verifies the assertion against the ceremony `POST /signin/webauthn` \
        began (single use) and the registered passkey, raises its signature counter, and \
        answers a session of its account (`amr`: `hwk`, `user`, `mfa`; no TOTP step: the \
        passkey verified the user). In cookie mode the tokens go into cookies.",
    request_body(content = VerifyRequest, description = "The assertion."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "`{session}`. `Cache-Control: no-store`.",
            body = SessionPayload),
        (status = 400, description = "`invalid-request`: malformed JSON or credential.",
            body = ErrorBody),
        (status = 401, description = CEREMONY_REFUSED, body = ErrorBody),
        (status = 403, description = NOT_CONFIGURED, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn verify_sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<VerifyRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .passkeys
        .finish_sign_in(request.credential, &client)
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(SessionPayload {
        session: deliver(&state, &cookies, mode, session),
    })))
}

/// The second step's ticket.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SignInMfaWebauthnRequest)]
struct SecondFactorRequest {
    /// The `mfa.ticket` of the first step.
    #[schema(pattern = "^mfaTotp:.*$")]
    ticket: String,
}

#[utoipa::path(
    post,
    path = "/signin/mfa/webauthn",
    operation_id = "signInMfaWebauthn",
    tag = "auth",
    summary = "Second step of a sign-in with a passkey: the request options (Tessera)",
    description = "For a sign-in that answered `mfa: {ticket}`: instead of a TOTP code, one \
        of the user's passkeys. Answers request options listing them; the ticket is not \
        spent. Not an Nhost route.",
    request_body(content = SecondFactorRequest, description = "The ticket."),
    responses(
        (status = 200, description = "The request options. `Cache-Control: no-store`.",
            body = Object),
        (status = 400, description = "`invalid-request`; `no-passkey`: the user has none.",
            body = ErrorBody),
        (status = 401, description = "`invalid-ticket`; `disabled-user`.", body = ErrorBody),
        (status = 403, description = NOT_CONFIGURED, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn second_factor(
    State(state): State<AppState>,
    Json(request): Json<SecondFactorRequest>,
) -> Result<Response, ApiError> {
    let options = state.passkeys.begin_second_factor(&request.ticket).await?;
    Ok(no_store(Json(options)))
}

/// The ticket and the assertion.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SignInMfaWebauthnVerifyRequest)]
struct VerifySecondFactorRequest {
    #[schema(pattern = "^mfaTotp:.*$")]
    ticket: String,
    /// The assertion, as `PublicKeyCredential.toJSON()` gives it.
    #[schema(value_type = Object)]
    credential: Value,
}

#[utoipa::path(
    post,
    path = "/signin/mfa/webauthn/verify",
    operation_id = "verifySignInMfaWebauthn",
    tag = "auth",
    summary = "Second step of a sign-in with a passkey: the session (Tessera)",
    description = "Verifies the assertion of the ceremony `POST /signin/mfa/webauthn` began \
        for this ticket, spends the ticket, and answers the session (`amr`: the first \
        factor's and `hwk`, `user`, `mfa`). In cookie mode the tokens go into cookies.",
    request_body(content = VerifySecondFactorRequest, description = "The ticket and the \
        assertion."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "`{session}`. `Cache-Control: no-store`.",
            body = SessionPayload),
        (status = 400, description = "`invalid-request`: malformed JSON or credential.",
            body = ErrorBody),
        (status = 401, description = SECOND_STEP_REFUSED, body = ErrorBody),
        (status = 403, description = NOT_CONFIGURED, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn verify_second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<VerifySecondFactorRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .passkeys
        .finish_second_factor(&request.ticket, request.credential, &client)
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(SessionPayload {
        session: deliver(&state, &cookies, mode, session),
    })))
}
