//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ErrorBody, doc};
use crate::http::extract::json::Json;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(discovery))
}

/// The JWKS (RFC 7517), as served: the body is precomputed from the key set.
#[derive(ToSchema)]
#[allow(dead_code)]
struct Jwks {
    /// Every published key: the signing one, the next one (published
    /// `TESSERA_KEY_PUBLISH_LEAD` before it signs) and retired ones still verifying tokens.
    keys: Vec<Jwk>,
}

/// A public P-256 signing key.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({
    "kty": "EC", "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", "use": "sig", "alg": "ES256"
}))]
struct Jwk {
    /// Always `EC`.
    kty: String,
    /// Always `P-256`.
    crv: String,
    /// 32 bytes, base64url.
    x: String,
    /// 32 bytes, base64url.
    y: String,
    /// The RFC 7638 thumbprint of the key; the `kid` header of the tokens it signs.
    kid: String,
    /// Always `sig`.
    #[schema(rename = "use")]
    use_: String,
    /// Always `ES256`.
    alg: String,
}

/// The public keys, from bytes precomputed at the last key-set reload (so this answers
/// from memory even while the database is down). `ETag`/`If-None-Match` give 304s.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "jwks",
    tag = "keys",
    summary = "The public signing keys (JWKS)",
    description = "Served from memory (the key set is reloaded every 30 s), so it answers \
        while the database is down. Cacheable for `TESSERA_JWKS_MAX_AGE`, shorter than the \
        time a new key is published before it signs.",
    params(("If-None-Match" = Option<String>, Header,
        description = "An `ETag` from an earlier answer (or `*`): 304 if unchanged.")),
    responses(
        (status = 200, description = "The key set.", body = Jwks,
            headers(
                ("Cache-Control" = String, description = "`public, max-age=<TESSERA_JWKS_MAX_AGE in seconds>`."),
                ("ETag" = String, description = "The version of the key set.")
            )),
        (status = 304, description = "Unchanged since the `If-None-Match` tag.",
            headers(
                ("Cache-Control" = String, description = "`public, max-age=<TESSERA_JWKS_MAX_AGE in seconds>`."),
                ("ETag" = String, description = "The version of the key set.")
            )),
        (status = 503, description = doc::TIMEOUT, body = ErrorBody),
    )
)]
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

/// OpenID-style discovery (the members a JOSE library needs, snake_case as in OpenID
/// Connect Discovery).
#[derive(Serialize, ToSchema)]
struct Discovery {
    /// Byte for byte the `iss` of every access token (`TESSERA_ISSUER`, default the public
    /// URL without a trailing `/`).
    issuer: String,
    /// `<public URL>/.well-known/jwks.json`.
    #[schema(format = "uri")]
    jwks_uri: String,
    /// `["ES256"]`.
    id_token_signing_alg_values_supported: [&'static str; 1],
    /// `["none"]`.
    token_endpoint_auth_methods_supported: [&'static str; 1],
    /// `["public"]`.
    subject_types_supported: [&'static str; 1],
    /// Empty: Tessera is no OpenID provider.
    response_types_supported: [&'static str; 0],
    /// The claims of the access tokens.
    claims_supported: [&'static str; 8],
    tessera_endpoints: TesseraEndpoints,
}

/// Absolute URLs of Tessera's main endpoints.
#[derive(Serialize, ToSchema)]
struct TesseraEndpoints {
    signup_email_password: String,
    signin_email_password: String,
    token: String,
    token_verify: String,
    signout: String,
    user: String,
    user_sessions: String,
}

/// OpenID-style discovery: `issuer` is byte for byte the `iss` of every token.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "openidConfiguration",
    tag = "keys",
    summary = "Discovery document",
    description = "What a JOSE or OpenID library needs to verify the access tokens from the \
        issuer URL alone: `issuer` and `jwks_uri`, plus Tessera's endpoints.",
    responses(
        (status = 200, description = "The discovery document.", body = Discovery),
        (status = 503, description = doc::TIMEOUT, body = ErrorBody),
    )
)]
async fn discovery(State(state): State<AppState>) -> Json<Discovery> {
    let base = state
        .config
        .server
        .public_url
        .as_str()
        .trim_end_matches('/');
    let endpoint = |path: &str| format!("{base}{path}");
    Json(Discovery {
        issuer: state.config.tokens.issuer.clone(),
        jwks_uri: endpoint("/.well-known/jwks.json"),
        id_token_signing_alg_values_supported: ["ES256"],
        token_endpoint_auth_methods_supported: ["none"],
        subject_types_supported: ["public"],
        response_types_supported: [],
        claims_supported: ["sid", "sub", "iss", "aud", "iat", "exp", "auth_time", "amr"],
        tessera_endpoints: TesseraEndpoints {
            signup_email_password: endpoint("/signup/email-password"),
            signin_email_password: endpoint("/signin/email-password"),
            token: endpoint("/token"),
            token_verify: endpoint("/token/verify"),
            signout: endpoint("/signout"),
            user: endpoint("/user"),
            user_sessions: endpoint("/user/sessions"),
        },
    })
}
