//! Sign-up, sign-in, refresh, token verification and sign-out, in Nhost's shapes.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::bearer::bearer_token;
use super::bodies::{SessionBody, no_store};
use super::client::Client;
use super::error::ApiError;
use super::json::{Json, OptionalJson};
use crate::accounts::SignUpOptions;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup/email-password", post(sign_up))
        .route("/signin/email-password", post(sign_in))
        .route("/token", post(refresh))
        .route("/token/verify", post(verify))
        .route("/signout", post(sign_out))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignUpRequest {
    email: String,
    password: SecretString,
    #[serde(default)]
    options: Option<SignUpOptionsBody>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SignUpOptionsBody {
    display_name: Option<String>,
    locale: Option<String>,
    metadata: Option<Value>,
    default_role: Option<String>,
    allowed_roles: Option<Vec<String>>,
    /// Where the verification email's link lands (used with email verification).
    #[allow(dead_code)]
    redirect_to: Option<String>,
}

async fn sign_up(
    State(state): State<AppState>,
    Client(client): Client,
    Json(request): Json<SignUpRequest>,
) -> Result<Response, ApiError> {
    let options = request.options.unwrap_or_default();
    let session = state
        .accounts
        .sign_up(
            &request.email,
            &request.password,
            SignUpOptions {
                display_name: options.display_name,
                locale: options.locale,
                metadata: options.metadata,
                default_role: options.default_role,
                allowed_roles: options.allowed_roles,
            },
            &client,
        )
        .await?;
    let session = session.map(SessionBody::from);
    Ok(no_store(Json(json!({ "session": session }))))
}

#[derive(Deserialize)]
struct SignInRequest {
    email: String,
    password: SecretString,
}

async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    Json(request): Json<SignInRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .accounts
        .sign_in(&request.email, &request.password, &client)
        .await?;
    Ok(no_store(Json(json!({
        "session": SessionBody::from(session),
        "mfa": null,
    }))))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    Json(request): Json<RefreshRequest>,
) -> Result<Response, ApiError> {
    let session = state
        .sessions
        .refresh(&request.refresh_token, &client)
        .await?;
    Ok(no_store(Json(SessionBody::from(session))))
}

#[derive(Deserialize, Default)]
struct VerifyRequest {
    token: Option<String>,
}

/// 200 `"OK"` when the access token (body or `Authorization`) is valid and its session
/// live; 401 `invalid-token` otherwise.
async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<VerifyRequest>,
) -> Result<Json<&'static str>, ApiError> {
    let from_body = body.and_then(|b| b.token);
    let token = from_body
        .as_deref()
        .or_else(|| bearer_token(&headers))
        .ok_or_else(ApiError::invalid_token)?;
    state.sessions.authenticate(token).await?;
    Ok(Json("OK"))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SignOutRequest {
    refresh_token: Option<String>,
    #[serde(default)]
    all: bool,
}

/// Always 200 `"OK"`: signing out twice, or with a token that is already dead, is fine.
async fn sign_out(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<SignOutRequest>,
) -> Result<Response, ApiError> {
    let request = body.unwrap_or_default();
    state
        .sessions
        .sign_out(
            request.refresh_token.as_deref(),
            bearer_token(&headers),
            request.all,
            &client,
        )
        .await?;
    Ok(no_store(Json("OK")))
}
