//! Account lifecycle routes, in Nhost's shapes: verification, password reset and change,
//! email change, passwordless links, anonymous users, and the PKCE code exchange.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use tower_cookies::Cookies;

use super::AppState;
use super::auth::deliver;
use super::bearer::Authenticated;
use super::bodies::no_store;
use super::client::Client;
use super::cookies::requested_mode;
use super::error::ApiError;
use super::json::Json;
use crate::anonymous::Upgrade;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/user/email/send-verification-email",
            post(send_verification),
        )
        .route("/verify", get(verify_link))
        .route("/user/password/reset", post(request_reset))
        .route("/user/password", post(change_password))
        .route("/user/email/change", post(change_email))
        .route("/signin/passwordless/email", post(passwordless))
        .route("/signin/anonymous", post(anonymous))
        .route("/user/deanonymize", post(deanonymize))
        .route("/token/exchange", post(exchange))
}

/// Nhost's `options` of link-sending requests.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LinkOptions {
    redirect_to: Option<String>,
    display_name: Option<String>,
    code_challenge: Option<String>,
}

fn ok() -> Json<&'static str> {
    Json("OK")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailRequest {
    email: String,
    #[serde(default)]
    options: Option<LinkOptions>,
}

async fn send_verification(
    State(state): State<AppState>,
    Json(request): Json<EmailRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let options = request.options.unwrap_or_default();
    state
        .lifecycle
        .resend_verification(&request.email, options.redirect_to.as_deref())
        .await?;
    Ok(ok())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkQuery {
    ticket: Option<String>,
    #[serde(rename = "type")]
    link_type: Option<String>,
    redirect_to: Option<String>,
}

/// `GET /verify?ticket=...&type=...&redirectTo=...`: the target of every emailed link.
async fn verify_link(
    State(state): State<AppState>,
    Client(client): Client,
    Query(query): Query<LinkQuery>,
) -> Result<Response, ApiError> {
    let outcome = state
        .lifecycle
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

async fn request_reset(
    State(state): State<AppState>,
    Json(request): Json<EmailRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let options = request.options.unwrap_or_default();
    state
        .lifecycle
        .request_password_reset(&request.email, options.redirect_to.as_deref())
        .await?;
    Ok(ok())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordRequest {
    new_password: SecretString,
    ticket: Option<String>,
}

/// With a reset `ticket`: sets the password, ending every session. Without: requires an
/// access token and ends every other session.
async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    cookies: Cookies,
    Json(request): Json<PasswordRequest>,
) -> Result<Json<&'static str>, ApiError> {
    match request.ticket {
        Some(ticket) => {
            state
                .lifecycle
                .reset_password(&ticket, &request.new_password, &client)
                .await?
        }
        None => {
            let claims = super::bearer::authenticate(&state, &headers, &cookies).await?;
            state
                .lifecycle
                .change_password(claims.sub, claims.sid, &request.new_password, &client)
                .await?
        }
    }
    Ok(ok())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChangeEmailRequest {
    new_email: String,
    #[serde(default)]
    options: Option<LinkOptions>,
    code_challenge: Option<String>,
}

async fn change_email(
    State(state): State<AppState>,
    Authenticated(claims): Authenticated,
    Json(request): Json<ChangeEmailRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let options = request.options.unwrap_or_default();
    state
        .lifecycle
        .request_email_change(
            claims.sub,
            &request.new_email,
            options.redirect_to.as_deref(),
            request.code_challenge.or(options.code_challenge),
        )
        .await?;
    Ok(ok())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PasswordlessRequest {
    email: String,
    #[serde(default)]
    options: Option<LinkOptions>,
    code_challenge: Option<String>,
}

async fn passwordless(
    State(state): State<AppState>,
    Client(client): Client,
    Json(request): Json<PasswordlessRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let options = request.options.unwrap_or_default();
    state
        .lifecycle
        .request_signin_link(
            &request.email,
            options.redirect_to.as_deref(),
            request.code_challenge.or(options.code_challenge),
            options.display_name,
            &client,
        )
        .await?;
    Ok(ok())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AnonymousRequest {
    display_name: Option<String>,
}

async fn anonymous(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<AnonymousRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .lifecycle
        .sign_in_anonymous(request.display_name, &client)
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(json!({
        "session": deliver(&state, &cookies, mode, session),
        "mfa": null,
    }))))
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum SignInMethod {
    EmailPassword,
    Passwordless,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeanonymizeRequest {
    sign_in_method: SignInMethod,
    email: String,
    password: Option<SecretString>,
    #[serde(default)]
    options: Option<LinkOptions>,
}

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
        .lifecycle
        .deanonymize(claims.sub, upgrade, options.redirect_to.as_deref(), &client)
        .await?;
    Ok(ok())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeRequest {
    code: String,
    code_verifier: String,
}

/// `POST /token/exchange {code, codeVerifier}`: a bare Session, or cookies in cookie mode.
async fn exchange(
    State(state): State<AppState>,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    Json(request): Json<ExchangeRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .lifecycle
        .exchange(&request.code, &request.code_verifier, &client)
        .await?;
    let mode = requested_mode(&headers, state.config.cookies.default_auth_mode);
    Ok(no_store(Json(deliver(&state, &cookies, mode, session))))
}
