//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::json::Json;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
}

/// The public keys, from bytes precomputed at the last key-set reload (so this answers
/// from memory even while the database is down). `ETag`/`If-None-Match` give 304s.
async fn jwks(State(state): State<AppState>, request_headers: HeaderMap) -> Response {
    let set = state.tokens.keys().snapshot();
    let cache_control = format!(
        "public, max-age={}",
        state.config.keys.jwks_max_age.as_secs()
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&cache_control).expect("ASCII"),
    );
    if let Ok(etag) = HeaderValue::from_str(&set.etag) {
        headers.insert(header::ETAG, etag);
    }
    let unchanged = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == set.etag || tag.trim() == "*")
        });
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (headers, set.jwks.clone()).into_response()
}

/// OpenID-style discovery: `issuer` is byte for byte the `iss` of every token.
async fn discovery(State(state): State<AppState>) -> Json<Value> {
    let base = state.config.public_url.as_str().trim_end_matches('/');
    let endpoint = |path: &str| format!("{base}{path}");
    Json(json!({
        "issuer": state.config.issuer,
        "jwks_uri": endpoint("/.well-known/jwks.json"),
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "subject_types_supported": ["public"],
        "response_types_supported": [],
        "claims_supported": ["sid", "sub", "iss", "aud", "iat", "exp"],
        "tessera_endpoints": {
            "signup_email_password": endpoint("/signup/email-password"),
            "signin_email_password": endpoint("/signin/email-password"),
            "token": endpoint("/token"),
            "token_verify": endpoint("/token/verify"),
            "signout": endpoint("/signout"),
            "user": endpoint("/user"),
            "user_sessions": endpoint("/user/sessions"),
        },
    }))
}
