//! Account lifecycle routes, in Nhost's shapes: verification, password reset and change,
//! email change, passwordless links, anonymous users, and the PKCE code exchange.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use tower_cookies::Cookies;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::deliver;
use super::bearer::Authenticated;
use super::bodies::{OkBody, SessionPayload, SignInResponse, no_store};
use super::client::Client;
use super::cookies::{AuthModeHeader, requested_mode};
use super::error::{ApiError, ErrorBody, doc};
use super::json::Json;
use crate::domain::anonymous::Upgrade;
use crate::domain::profile::NewProfile;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_verification))
        .routes(routes!(verify_link))
        .routes(routes!(request_reset))
        .routes(routes!(change_password))
        .routes(routes!(change_email))
        .routes(routes!(passwordless))
        .routes(routes!(anonymous))
        .routes(routes!(deanonymize))
        .routes(routes!(exchange))
}

/// Nhost's `options` of link-sending requests (its sign-up options). The profile fields
/// apply only to an account the request creates (a sign-in link to an unknown address);
/// for an existing account, and on the other routes, they are accepted and do nothing.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LinkOptions {
    /// Where the emailed link finally leads: under an entry of
    /// `TESSERA_ALLOWED_REDIRECT_URLS` or under the public URL (else 400
    /// `redirect-not-allowed`). Default: the first allowed redirect URL, else the public URL.
    #[schema(format = "uri")]
    redirect_to: Option<String>,
    /// Same as the top-level `codeChallenge`.
    code_challenge: Option<String>,
    /// The display name of an account a sign-in link creates (at most 256 characters);
    /// default: the address.
    display_name: Option<String>,
    /// The locale of an account a sign-in link creates (2 or 3 letters); default `en`.
    locale: Option<String>,
    /// The metadata of an account a sign-in link creates (a JSON object of at most 8 KiB).
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// The roles of an account a sign-in link creates: a non-empty subset of
    /// `TESSERA_ALLOWED_ROLES` (else 400 `role-not-allowed`); default: all of them.
    allowed_roles: Option<Vec<String>>,
    /// The default role of an account a sign-in link creates: one of its roles (else 400
    /// `default-role-must-be-in-allowed-roles`); default `TESSERA_DEFAULT_ROLE`.
    default_role: Option<String>,
}

impl LinkOptions {
    /// The profile of an account the request creates.
    fn profile(&mut self) -> NewProfile {
        NewProfile {
            display_name: self.display_name.take(),
            locale: self.locale.take(),
            metadata: self.metadata.take(),
            default_role: self.default_role.take(),
            allowed_roles: self.allowed_roles.take(),
        }
    }
}

fn ok() -> Json<&'static str> {
    Json("OK")
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EmailRequest {
    #[schema(format = Email)]
    email: String,
    /// Only `redirectTo` is used.
    #[serde(default)]
    options: Option<LinkOptions>,
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
    Ok(ok())
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
    Ok(ok())
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
            let claims = super::bearer::authenticate(&state, &headers).await?;
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
    Ok(ok())
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
        7 days) that puts it back and ends every session of the user.",
    request_body(content = ChangeEmailRequest, description = "The new address."),
    security(("bearer" = []), ("accessCookie" = [])),
    responses(
        (status = 200, description = "The link is on its way.", body = OkBody),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, an \
            invalid email; `redirect-not-allowed`.", body = ErrorBody),
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
            &request.new_email,
            options.redirect_to.as_deref(),
            request.code_challenge.or(options.code_challenge),
        )
        .await?;
    Ok(ok())
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
    Ok(ok())
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
        .links
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
        session: deliver(&state, &cookies, mode, session),
        mfa: (),
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
        .links
        .deanonymize(claims.sub, upgrade, options.redirect_to.as_deref(), &client)
        .await?;
    Ok(ok())
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExchangeRequest {
    /// The `code` of the redirect (valid 5 minutes, once).
    code: String,
    /// The PKCE verifier of the `codeChallenge` the link was requested with.
    code_verifier: String,
}

/// `POST /token/exchange {code, codeVerifier}`: `{session}` (Nhost's `SessionPayload`), with
/// cookies in cookie mode.
#[utoipa::path(
    post,
    path = "/token/exchange",
    operation_id = "exchangeCode",
    tag = "lifecycle",
    summary = "Exchange a one-time code for a session (PKCE)",
    description = "The code is spent whatever the verifier: it gets one attempt.",
    request_body(content = ExchangeRequest, description = "The code and its PKCE verifier."),
    params(
        ("tessera-auth-mode" = inline(Option<AuthModeHeader>), Header,
            description = "`cookie` for cookie transport (see the API description)."),
    ),
    responses(
        (status = 200, description = "`{session}`, as Nhost's `SessionPayload`. \
            `Cache-Control: no-store`.",
            body = SessionPayload,
            headers(("Set-Cookie" = String, description = "Cookie mode only: the access \
                cookie, the refresh cookie and the `tessera-session` hint."))),
        (status = 400, description = "`invalid-request`: malformed or mistyped JSON, a \
            missing field.", body = ErrorBody),
        (status = 401, description = "`invalid-ticket`: the code is invalid, used or expired, \
            or the verifier does not match; `disabled-user`.", body = ErrorBody),
        (status = 403, description = doc::INVALID_ORIGIN, body = ErrorBody),
        (status = 413, description = doc::PAYLOAD_TOO_LARGE, body = ErrorBody),
        (status = 415, description = doc::UNSUPPORTED_MEDIA_TYPE, body = ErrorBody),
        (status = 500, description = doc::INTERNAL_ERROR, body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn exchange(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<ExchangeRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .links
        .exchange(&request.code, &request.code_verifier, &client)
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(SessionPayload {
        session: deliver(&state, &cookies, mode, session),
    })))
}
