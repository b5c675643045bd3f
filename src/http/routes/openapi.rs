//! The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json`.
//!
//! Every route is registered through `utoipa_axum`'s `routes!`, which takes the path, the
//! method and the documentation from the handler's `#[utoipa::path]`, so a route cannot
//! exist without being documented. [`document`] completes what the annotations collected
//! with what only the running configuration knows (the server URL, the cookie names) and
//! with what every response shares (`x-request-id`, `Retry-After`), then serializes it once:
//! the route answers the same bytes every time.

use axum::Extension;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::info::{InfoBuilder, LicenseBuilder};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{Components, OpenApi, Ref, RefOr, Server};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{AuthMode, Config};
use crate::http::AppState;
use crate::http::admin::ADMIN_SECRET_HEADER;
use crate::http::cookies::{AUTH_MODE_HEADER, CookiePolicy, HINT_COOKIE};
use crate::http::error::{ErrorBody, doc};

/// The route of the document itself.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The serialized document, shared by every request.
#[derive(Clone)]
pub struct Document(Bytes);

/// The OpenAPI 3.1 document of this server.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    summary = "This OpenAPI 3.1 document",
    description = "Generated from the code: every route is registered together with its \
        documentation. The `servers` entry is this server's public URL.",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.",
            content_type = "application/json", body = Object),
        (status = 503, description = doc::TIMEOUT, body = ErrorBody),
    )
)]
async fn openapi_json(Extension(document): Extension<Document>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document.0,
    )
        .into_response()
}

/// Names of the components [`document`] adds.
const REQUEST_ID_HEADER: &str = "XRequestId";
const RETRY_AFTER_HEADER: &str = "RetryAfter";

/// Completes the document the routes collected and serializes it.
pub fn document(config: &Config, admin_enabled: bool, mut api: OpenApi) -> Document {
    let public_url = config.server.public_url.as_str().trim_end_matches('/');
    api.info = InfoBuilder::new()
        .title("Tessera")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(description(config, admin_enabled)))
        .license(Some(
            LicenseBuilder::new()
                .name(env!("CARGO_PKG_LICENSE"))
                .identifier(Some(env!("CARGO_PKG_LICENSE")))
                .build(),
        ))
        .build();
    api.servers = Some(vec![Server::new(public_url)]);
    api.tags = Some(tags());

    let components = api.components.get_or_insert_with(Components::new);
    add_security_schemes(components, config);
    components.headers.insert(
        REQUEST_ID_HEADER.into(),
        RefOr::T(
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some(
                    "The request id: the request's own `x-request-id` when it had one, else \
                     a new UUID. Every log line of the request carries it; quote it when \
                     reporting a problem.",
                ))
                .build(),
        ),
    );
    components.headers.insert(
        RETRY_AFTER_HEADER.into(),
        RefOr::T(
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ))
                .description(Some(
                    "Seconds to wait before retrying. On every 503, and on 429 once rate \
                     limits exist.",
                ))
                .build(),
        ),
    );

    for item in api.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
            &mut item.query,
        ];
        for operation in operations.into_iter().flatten() {
            add_shared_headers(operation);
        }
        for operation in item.additional_operations.values_mut() {
            add_shared_headers(operation);
        }
    }

    let mut json = serde_json::to_value(&api).expect("the OpenAPI document serializes");
    optional_inputs_are_absent_not_null(&mut json);
    let bytes = serde_json::to_vec(&json).expect("the OpenAPI document serializes");
    Document(Bytes::from(bytes))
}

/// utoipa describes an optional parameter or request body (an `Option<T>`) as "T or
/// `null`"; but an optional input is one that may be left out, and a `null` header, query
/// value or body is not accepted. So the `null` alternative is removed from the schema of
/// every input that is not required.
fn optional_inputs_are_absent_not_null(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(Value::as_object_mut)
    {
        if let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            for parameter in parameters {
                if parameter["required"] != Value::Bool(true)
                    && let Some(schema) = parameter.get_mut("schema")
                {
                    without_null(schema);
                }
            }
        }
        if let Some(body) = operation.get_mut("requestBody")
            && body["required"] != Value::Bool(true)
            && let Some(content) = body.get_mut("content").and_then(Value::as_object_mut)
        {
            for media in content.values_mut() {
                if let Some(schema) = media.get_mut("schema") {
                    without_null(schema);
                }
            }
        }
    }
}

/// `{"oneOf": [S, {"type": "null"}]}` becomes `S`; `{"type": [T, "null"]}` becomes
/// `{"type": T}`.
fn without_null(schema: &mut Value) {
    let is_null = |s: &Value| s.get("type") == Some(&Value::from("null"));
    if let Some(items) = schema.get("oneOf").and_then(Value::as_array)
        && items.len() == 2
        && let Some(position) = items.iter().position(is_null)
    {
        let mut kept = items[1 - position].clone();
        if let (Some(kept), Some(outer)) = (kept.as_object_mut(), schema.as_object()) {
            for (key, value) in outer {
                if key != "oneOf" {
                    kept.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
        }
        *schema = kept;
        return;
    }
    if let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            schema["type"] = types[0].clone();
        }
    }
}

/// `x-request-id` on every response; `Retry-After` on 503 and 429.
fn add_shared_headers(operation: &mut Operation) {
    let header_ref = |name: &str| RefOr::Ref(Ref::new(format!("#/components/headers/{name}")));
    for (status, response) in operation.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        response
            .headers
            .insert("x-request-id".into(), header_ref(REQUEST_ID_HEADER));
        if status == "503" || status == "429" {
            response
                .headers
                .insert("Retry-After".into(), header_ref(RETRY_AFTER_HEADER));
        }
    }
}

fn add_security_schemes(components: &mut Components, config: &Config) {
    let cookies = CookiePolicy::new(config);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "The access token (an ES256 JWT) in `Authorization: Bearer <token>`. \
                     When a request has both, this header wins over the access cookie.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "accessCookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            cookies.access_name.to_owned(),
            format!(
                "The access token in its HttpOnly cookie, set in cookie mode. Named \
                 `__Host-tessera-token` when cookies are Secure and have no Domain, else \
                 `tessera-token`: on this server `{}`.",
                cookies.access_name
            ),
        ))),
    );
    components.add_security_scheme(
        "refreshCookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            cookies.refresh_name.to_owned(),
            format!(
                "The refresh token in its HttpOnly cookie, set in cookie mode, with \
                 `Path=<base>/token` so that it reaches only the refresh endpoints. Named \
                 `__Secure-tessera-refresh-token` when cookies are Secure and have no Domain, \
                 else `tessera-refresh-token`: on this server `{}`.",
                cookies.refresh_name
            ),
        ))),
    );
    components.add_security_scheme(
        "metricsToken",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "`TESSERA_METRICS_TOKEN` as a bearer token, compared in constant time; \
                     required by `/metrics` only when that variable is set.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "adminSecret",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            ADMIN_SECRET_HEADER.to_owned(),
            "`TESSERA_ADMIN_SECRET`, compared in constant time. The admin API exists only \
             when that variable is set."
                .to_owned(),
        ))),
    );
}

fn tags() -> Vec<utoipa::openapi::Tag> {
    let tag = |name: &str, description: &str| {
        TagBuilder::new()
            .name(name)
            .description(Some(description))
            .build()
    };
    vec![
        tag(
            "auth",
            "Signing up and signing in (Nhost's shapes), also with a personal access token. \
             Also served under `/v1`.",
        ),
        tag(
            "session",
            "Refreshing, verifying and ending sessions, and the user's own sessions. Also \
             served under `/v1`.",
        ),
        tag(
            "user",
            "The signed-in user and their personal access tokens. Also served under `/v1`.",
        ),
        tag(
            "lifecycle",
            "Email links, password reset and change, email change, passwordless and \
             anonymous sign-in, and the PKCE code exchange. Also served under `/v1`.",
        ),
        tag(
            "admin",
            "User, session, key and event administration. **Exists only when \
             `TESSERA_ADMIN_SECRET` is set** (otherwise every `/admin` path answers 404 \
             `not-found`); every request carries the secret in `x-tessera-admin-secret`.",
        ),
        tag(
            "keys",
            "The public signing keys and the discovery document, for services that verify \
             access tokens offline. Also served under `/v1`.",
        ),
        tag("health", "Liveness and version. Also served under `/v1`."),
        tag(
            "oauth2",
            "Tessera as an OAuth 2.1 / OpenID Connect provider for other apps (Nhost's \
             `/oauth2/*` routes), and the user's authorised apps. **Served only with \
             `TESSERA_OAUTH2_PROVIDER=true`** (otherwise 404). Errors are OAuth's \
             (`error`, `error_description`) with Tessera's `status` and `message` beside \
             them. Also served under `/v1`.",
        ),
        tag(
            "oauth2-pages",
            "The sign-in and consent pages Tessera ships for the provider \
             (`TESSERA_OAUTH2_LOGIN_URL` by default): HTML, no JavaScript, bound to the browser \
             that began the request. Only with `TESSERA_OAUTH2_PROVIDER=true`.",
        ),
        tag(
            "oauth2-admin",
            "Registering the apps that sign users in through Tessera, behind the admin secret. \
             Only with `TESSERA_ADMIN_SECRET` set and `TESSERA_OAUTH2_PROVIDER=true`.",
        ),
        tag(
            "operations",
            "Prometheus metrics (on their own listener with `TESSERA_METRICS_LISTEN`) and this \
             document.",
        ),
    ]
}

/// `info.description`: what the operations share, with this server's cookie names.
fn description(config: &Config, admin_enabled: bool) -> String {
    let cookies = CookiePolicy::new(config);
    let base = match config.server.base_path() {
        "" => "/".to_owned(),
        base => base.to_owned(),
    };
    let default_mode = match config.cookies.default_auth_mode {
        AuthMode::Bearer => "bearer",
        AuthMode::Cookie => "cookie",
    };
    let base_token = format!("{}/token", config.server.base_path());
    let admin = if admin_enabled {
        "enabled on this server"
    } else {
        "disabled on this server (`TESSERA_ADMIN_SECRET` is not set): its paths answer 404"
    };
    format!(
        r#"Tessera is a self-hosted auth server: sign-up, sign-in, rotating refresh tokens and short-lived ES256 access tokens that other services verify offline against the JWKS. The API follows Nhost's auth service, so `@nhost/nhost-js` works against it.

## Paths

Paths are relative to the server URL, the public URL (`TESSERA_PUBLIC_URL`), whose path (here `{base}`) is the base of every route. The operations tagged `auth`, `session`, `user`, `lifecycle`, `keys` and `health` are also served under `<public URL>/v1`, the URL shape Nhost clients use; those copies are not listed separately. Request and response bodies are JSON (camelCase). Responses that carry tokens have `Cache-Control: no-store`.

## Bearer or cookie transport

In bearer mode, tokens travel in response bodies and the access token in `Authorization: Bearer <token>`. In cookie mode (the request header `{mode_header}: cookie`; this server's default is `{default_mode}`, `TESSERA_DEFAULT_AUTH_MODE`), the operations that start or rotate a session (sign-up, sign-in, anonymous sign-in, email-code sign-in, refresh, code exchange, the refresh bounce) set three cookies with `Set-Cookie` instead of returning the tokens; the Session body keeps `accessTokenExpiresIn`, `refreshTokenId` and `user` (and `accessToken` only with `TESSERA_EXPOSE_ACCESS_TOKEN=true`). Sign-out always clears them.

| cookie | on this server | holds | attributes |
|---|---|---|---|
| `__Host-tessera-token` (Secure, no `TESSERA_COOKIE_DOMAIN`), else `tessera-token` | `{access}` | the access token | HttpOnly, `Path=/` |
| `__Secure-tessera-refresh-token` (Secure, no domain), else `tessera-refresh-token` | `{refresh}` | the refresh token | HttpOnly, `Path={base_token}` (only the refresh endpoints receive it) |
| `{hint}` | `{hint}` | `1`: a session may exist (for pages and server-side rendering) | readable by scripts, `Path=/` |

All three have `SameSite` from `TESSERA_COOKIE_SAMESITE`, `Secure` unless `TESSERA_COOKIE_SECURE=false` on plain http, the optional `Domain` of `TESSERA_COOKIE_DOMAIN`, and `Max-Age` the session's remaining lifetime. Operations that need an access token read `Authorization: Bearer` first, then the access cookie.

**CSRF**: a request that changes state (any method but GET, HEAD and OPTIONS) and carries a credential cookie or asks for cookie mode must be `application/json` (else 415 `unsupported-media-type`) and come from an allowed origin: `Origin` in `TESSERA_ALLOWED_ORIGINS` or the public URL's origin or, without `Origin`, `Sec-Fetch-Site: same-origin` or `same-site` (else 403 `invalid-origin`). CORS allows exactly those origins, with credentials.

## Errors

Every error, whatever the route, is `{{"status": <http>, "error": "<kebab-case-code>", "message": "..."}}` (schema `Error`). Messages never echo submitted values. The codes:

- 400: `invalid-request` (malformed JSON, missing or mistyped fields, an invalid email, a bad query), `role-not-allowed` (an `allowedRoles` outside `TESSERA_ALLOWED_ROLES`), `default-role-must-be-in-allowed-roles`, `password-too-short`, `password-too-weak`, `redirect-not-allowed`, `user-not-anonymous`
- 401: `invalid-email-password`, `disabled-user`, `unverified-user`, `invalid-refresh-token`, `refresh-token-reused`, `invalid-token`, `invalid-ticket`, `invalid-pat`, `invalid-otp`, `invalid-admin-secret`
- 403: `signup-disabled`, `email-domain-not-allowed`, `invalid-origin`, `elevated-claim-required`
- 404: `not-found` (no such route, on any path), `session-not-found`, `pat-not-found`, `user-not-found`, `key-not-found`
- 405: `method-not-allowed` (a known path with another method; with `Allow`)
- 409: `email-already-in-use`, `rotation-pending`
- 413: `payload-too-large` (a body over `TESSERA_MAX_BODY_BYTES`, on any route)
- 415: `unsupported-media-type`
- 500: `internal-error` (the body says nothing internal; the log line has the detail)
- 503: `service-unavailable` (the database did not answer within `TESSERA_DATABASE_TIMEOUT`, or a request outlasted `TESSERA_REQUEST_TIMEOUT`, on any route), with `Retry-After`
- for statuses produced outside the handlers: `forbidden` (403), `request-timeout` (408), `uri-too-long` (414), `too-many-requests` (429, with `Retry-After`), `request-header-fields-too-large` (431)

## Headers on every response

`x-request-id` (components `headers/{request_id}`) echoes the request's id or a new UUID. `Retry-After` (components `headers/{retry_after}`) comes with every 503 and 429.

## Administration

The operations tagged `admin` exist only when `TESSERA_ADMIN_SECRET` is set (at least 32 characters); they are {admin}. Each request carries the secret in `{admin_header}`, else 401 `invalid-admin-secret` with no side effect.
"#,
        base = base,
        base_token = base_token,
        mode_header = AUTH_MODE_HEADER,
        default_mode = default_mode,
        access = cookies.access_name,
        refresh = cookies.refresh_name,
        hint = HINT_COOKIE,
        request_id = REQUEST_ID_HEADER,
        retry_after = RETRY_AFTER_HEADER,
        admin = admin,
        admin_header = ADMIN_SECRET_HEADER,
    )
}
