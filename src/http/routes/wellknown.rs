//! `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::json::Json;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(discovery))
        .routes(routes!(authorization_server))
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
pub async fn jwks(State(state): State<AppState>, request_headers: HeaderMap) -> Response {
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

/// OpenID Connect Discovery (and RFC 8414 metadata): what a JOSE library needs to verify
/// Tessera's tokens, and with `TESSERA_OAUTH2_PROVIDER=true` what an OpenID relying party
/// needs to sign users in (snake_case, as the standards name the members).
#[derive(Serialize, ToSchema)]
struct Discovery {
    /// Byte for byte the `iss` of every token (`TESSERA_ISSUER`, default the public
    /// URL without a trailing `/`).
    issuer: String,
    /// `<public URL>/.well-known/jwks.json`.
    #[schema(format = "uri")]
    jwks_uri: String,
    /// `["ES256"]`.
    id_token_signing_alg_values_supported: [&'static str; 1],
    /// `client_secret_basic`, `client_secret_post` and `none` (public clients) with the
    /// provider on; `none` otherwise.
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `["public"]`.
    subject_types_supported: [&'static str; 1],
    /// `["code"]` with the provider on; empty otherwise.
    response_types_supported: Vec<&'static str>,
    /// The claims of Tessera's tokens (and of ID tokens, with the provider on).
    claims_supported: Vec<&'static str>,
    #[serde(flatten)]
    #[schema(inline)]
    provider: Option<ProviderMetadata>,
    tessera_endpoints: TesseraEndpoints,
}

/// The provider's members (`TESSERA_OAUTH2_PROVIDER=true`).
#[derive(Serialize, ToSchema)]
struct ProviderMetadata {
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    end_session_endpoint: String,
    /// Only when dynamic registration is on (`TESSERA_OAUTH2_REGISTRATION_TOKEN`).
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    scopes_supported: Vec<String>,
    response_modes_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 2],
    code_challenge_methods_supported: [&'static str; 1],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    /// RFC 9207: authorization responses carry `iss`.
    authorization_response_iss_parameter_supported: bool,
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
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
        issuer URL alone: `issuer` and `jwks_uri`, plus Tessera's endpoints; with \
        `TESSERA_OAUTH2_PROVIDER=true`, also the OpenID provider's endpoints and what it \
        supports (authorization code with PKCE S256, ES256 ID tokens).",
    responses(
        (status = 200, description = "The discovery document.", body = Discovery),
        (status = 503, description = doc::TIMEOUT, body = ErrorBody),
    )
)]
async fn discovery(State(state): State<AppState>) -> Json<Discovery> {
    Json(document(&state))
}

/// RFC 8414 authorization server metadata: the same document as the OpenID discovery.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "getOAuthAuthorizationServer",
    tag = "keys",
    summary = "OAuth 2.0 authorization server metadata (RFC 8414)",
    description = "The discovery document, for OAuth clients. 404 `not-found` unless \
        `TESSERA_OAUTH2_PROVIDER=true`.",
    responses(
        (status = 200, description = "The metadata.", body = Discovery),
        (status = 404, description = "`not-found`: the provider is off.", body = ErrorBody),
        (status = 503, description = doc::TIMEOUT, body = ErrorBody),
    )
)]
async fn authorization_server(State(state): State<AppState>) -> Result<Json<Discovery>, ApiError> {
    if !state.oauth2.enabled() {
        return Err(ApiError::for_status(StatusCode::NOT_FOUND));
    }
    Ok(Json(document(&state)))
}

fn document(state: &AppState) -> Discovery {
    let base = state
        .config
        .server
        .public_url
        .as_str()
        .trim_end_matches('/');
    let endpoint = |path: &str| format!("{base}{path}");
    let provider = state.oauth2.enabled().then(|| ProviderMetadata {
        authorization_endpoint: endpoint("/oauth2/authorize"),
        token_endpoint: endpoint("/oauth2/token"),
        userinfo_endpoint: endpoint("/oauth2/userinfo"),
        revocation_endpoint: endpoint("/oauth2/revoke"),
        introspection_endpoint: endpoint("/oauth2/introspect"),
        end_session_endpoint: endpoint("/oauth2/logout"),
        registration_endpoint: state
            .oauth2
            .registration_enabled()
            .then(|| endpoint("/oauth2/register")),
        scopes_supported: state.oauth2.scopes(),
        response_modes_supported: ["query"],
        grant_types_supported: ["authorization_code", "refresh_token"],
        code_challenge_methods_supported: ["S256"],
        revocation_endpoint_auth_methods_supported: [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: [
            "client_secret_basic",
            "client_secret_post",
        ],
        authorization_response_iss_parameter_supported: true,
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
    });
    let mut claims = vec!["sid", "sub", "iss", "aud", "iat", "exp", "auth_time", "amr"];
    if provider.is_some() {
        claims.extend([
            "nonce",
            "at_hash",
            "email",
            "email_verified",
            "name",
            "picture",
            "locale",
            "preferred_username",
            "updated_at",
        ]);
    }
    Discovery {
        issuer: state.config.tokens.issuer.clone(),
        jwks_uri: endpoint("/.well-known/jwks.json"),
        id_token_signing_alg_values_supported: ["ES256"],
        token_endpoint_auth_methods_supported: if provider.is_some() {
            vec!["client_secret_basic", "client_secret_post", "none"]
        } else {
            vec!["none"]
        },
        subject_types_supported: ["public"],
        response_types_supported: if provider.is_some() {
            vec!["code"]
        } else {
            Vec::new()
        },
        claims_supported: claims,
        provider,
        tessera_endpoints: TesseraEndpoints {
            signup_email_password: endpoint("/signup/email-password"),
            signin_email_password: endpoint("/signin/email-password"),
            token: endpoint("/token"),
            token_verify: endpoint("/token/verify"),
            signout: endpoint("/signout"),
            user: endpoint("/user"),
            user_sessions: endpoint("/user/sessions"),
        },
    }
}
