//! `GET /openapi.json`: a valid OpenAPI 3.1 document that matches the router both ways
//! (every documented operation is served, every route the server must have is documented),
//! with the error envelope on every operation and every documented error code.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

const ADMIN_SECRET: &str = "openapi-test-admin-secret-0123456789abcdef";

/// Every route the server must have, relative to the base path. The document must list
/// exactly these: a route added without documentation, or documentation without a route,
/// fails `the_document_matches_the_router`. (`HEAD /healthz` is served by the `GET`.)
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/healthz"),
    ("GET", "/version"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("POST", "/signup/email-password"),
    ("POST", "/signin/email-password"),
    ("POST", "/token"),
    ("POST", "/token/verify"),
    ("GET", "/token/refresh"),
    ("POST", "/signout"),
    ("GET", "/user"),
    ("GET", "/user/sessions"),
    ("DELETE", "/user/sessions/{id}"),
    ("POST", "/user/email/send-verification-email"),
    ("GET", "/verify"),
    ("POST", "/user/password/reset"),
    ("POST", "/user/password"),
    ("POST", "/user/email/change"),
    ("POST", "/signin/passwordless/email"),
    ("POST", "/signin/otp/email"),
    ("POST", "/signin/otp/email/verify"),
    ("POST", "/signin/anonymous"),
    ("POST", "/user/deanonymize"),
    ("POST", "/token/exchange"),
    ("POST", "/pat"),
    ("POST", "/signin/pat"),
    ("GET", "/user/pats"),
    ("DELETE", "/user/pats/{id}"),
    ("GET", "/mfa/totp/generate"),
    ("POST", "/user/mfa"),
    ("POST", "/user/mfa/recovery-codes"),
    ("POST", "/signin/mfa/totp"),
    ("POST", "/elevate/totp"),
    ("POST", "/signup/webauthn"),
    ("POST", "/signup/webauthn/verify"),
    ("POST", "/signin/webauthn"),
    ("POST", "/signin/webauthn/verify"),
    ("POST", "/signin/mfa/webauthn"),
    ("POST", "/signin/mfa/webauthn/verify"),
    ("POST", "/user/webauthn/add"),
    ("POST", "/user/webauthn/verify"),
    ("POST", "/elevate/webauthn"),
    ("POST", "/elevate/webauthn/verify"),
    ("GET", "/user/passkeys"),
    ("PATCH", "/user/passkeys/{id}"),
    ("DELETE", "/user/passkeys/{id}"),
    ("GET", "/signin/provider/{provider}"),
    ("GET", "/signup/provider/{provider}"),
    ("GET", "/signin/provider/{provider}/callback"),
    ("POST", "/signin/provider/{provider}/callback"),
    ("POST", "/signin/idtoken"),
    ("POST", "/signup/idtoken"),
    ("POST", "/link/idtoken"),
    ("GET", "/user/providers"),
    ("POST", "/user/providers/{provider}/link"),
    ("DELETE", "/user/providers/{provider}"),
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("GET", "/admin/users/{id}"),
    ("PATCH", "/admin/users/{id}"),
    ("DELETE", "/admin/users/{id}"),
    ("POST", "/admin/users/{id}/disable"),
    ("POST", "/admin/users/{id}/enable"),
    ("DELETE", "/admin/users/{id}/mfa"),
    ("GET", "/admin/users/{id}/sessions"),
    ("DELETE", "/admin/users/{id}/sessions"),
    ("DELETE", "/admin/users/{id}/sessions/{session}"),
    ("GET", "/admin/users/{id}/pats"),
    ("GET", "/admin/users/{id}/passkeys"),
    ("DELETE", "/admin/users/{id}/passkeys/{passkeyId}"),
    ("GET", "/admin/users/{id}/providers"),
    ("DELETE", "/admin/users/{id}/providers/{provider}"),
    ("DELETE", "/admin/pats/{id}"),
    ("GET", "/admin/keys"),
    ("POST", "/admin/keys/rotate"),
    ("POST", "/admin/keys/{kid}/revoke"),
    ("GET", "/admin/events"),
    // The OpenID provider (served with TESSERA_OAUTH2_PROVIDER=true; the client routes with
    // the admin secret too).
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/oauth2/authorize"),
    ("POST", "/oauth2/authorize"),
    ("GET", "/oauth2/login"),
    ("POST", "/oauth2/login"),
    ("POST", "/oauth2/token"),
    ("POST", "/oauth2/revoke"),
    ("POST", "/oauth2/introspect"),
    ("GET", "/oauth2/userinfo"),
    ("POST", "/oauth2/userinfo"),
    ("GET", "/oauth2/jwks"),
    ("GET", "/oauth2/logout"),
    ("POST", "/oauth2/logout"),
    ("POST", "/oauth2/register"),
    ("GET", "/oauth2/clients"),
    ("POST", "/oauth2/clients"),
    ("GET", "/oauth2/clients/{clientId}"),
    ("PUT", "/oauth2/clients/{clientId}"),
    ("DELETE", "/oauth2/clients/{clientId}"),
    ("GET", "/user/oauth2/apps"),
    ("DELETE", "/user/oauth2/apps/{clientId}"),
    ("GET", "/admin/users/{id}/oauth2/apps"),
    ("DELETE", "/admin/users/{id}/oauth2/apps/{clientId}"),
    ("GET", "/oauth2/ui"),
    ("POST", "/oauth2/ui/signin"),
    ("POST", "/oauth2/ui/consent"),
];

/// Tags whose operations are also served under `<base>/v1`.
const V1_TAGS: &[&str] = &[
    "auth",
    "session",
    "user",
    "lifecycle",
    "keys",
    "health",
    "oauth2",
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One documented operation.
struct Operation<'a> {
    method: String,
    path: String,
    body: &'a Value,
}

fn operations(document: &Value) -> Vec<Operation<'_>> {
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(body) = item.get(*method) {
                operations.push(Operation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    body,
                });
            }
        }
    }
    operations
}

/// The document as served, checking the response on the way.
async fn fetch_document(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-request-id"));
    response.json().await.expect("the document is JSON")
}

/// `path` with every `{parameter}` replaced by a random UUID.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closing brace") + start;
        out.push_str(&rest[..start]);
        out.push_str(&Uuid::new_v4().to_string());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Sends `method url` with no body and no credentials and tells whether the router knew
/// the route: anything but its 404 `not-found` and 405 `method-not-allowed`.
async fn is_routed(app: &TestApp, method: &str, url: &str) -> (bool, StatusCode, Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let response = app.client.request(method, url).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && body["error"] == "not-found");
    (!unrouted, status, body)
}

async fn the_document_is_valid_openapi_3_1(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_ADMIN_SECRET", ADMIN_SECRET)]).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-request-id"));
    let bytes = response.bytes().await.unwrap();
    let document: Value = serde_json::from_slice(&bytes).expect("the document is JSON");

    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    assert_eq!(document["info"]["title"], "Tessera");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        document["info"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("tessera-auth-mode")),
        "the description explains the transports"
    );
    assert_eq!(
        document["servers"],
        serde_json::json!([{ "url": "http://localhost:4000" }])
    );

    // Precomputed: every request gets the same bytes.
    let again = app.get("/openapi.json").await.bytes().await.unwrap();
    assert_eq!(bytes, again);

    // A real OpenAPI parser and validator (openapi-spec-validator, installed by
    // scripts/install-test-deps) accepts it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &bytes).unwrap();
    let output = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(&file)
        .output()
        .expect("python3 is needed for the OpenAPI validation (see scripts/install-test-deps)");
    assert!(
        output.status.success(),
        "openapi-spec-validator refused the document (pip install openapi-spec-validator, \
         see scripts/install-test-deps):\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The drift test. Under a base path, with the admin API and the OpenID provider enabled:
/// every documented operation answers something other than the router's 404/405, at the
/// base path and, for the account API, under `/v1` too (and nothing else there); and the
/// documented operations are exactly `ROUTES`.
async fn the_document_matches_the_router(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_ADMIN_SECRET", ADMIN_SECRET),
            ("TESSERA_PUBLIC_URL", "http://localhost:4000/auth"),
            ("TESSERA_OAUTH2_PROVIDER", "true"),
        ],
    )
    .await;
    let document = fetch_document(&app, "/auth/openapi.json").await;
    let server = document["servers"][0]["url"].as_str().unwrap();
    assert_eq!(server, "http://localhost:4000/auth");
    let base = url::Url::parse(server).unwrap().path().to_owned();

    // The probe tells a missing route from a present one.
    let (routed, ..) = is_routed(&app, "GET", &app.url(&format!("{base}/no-such-route"))).await;
    assert!(!routed, "an unknown path is not routed");
    let (routed, ..) = is_routed(&app, "PUT", &app.url(&format!("{base}/user"))).await;
    assert!(!routed, "a wrong method is not routed");
    let (routed, ..) = is_routed(&app, "GET", &app.url("/openapi.json")).await;
    assert!(!routed, "nothing is served outside the base path");

    let operations = operations(&document);
    for operation in &operations {
        let path = concrete(&operation.path);
        let url = app.url(&format!("{base}{path}"));
        let (routed, status, body) = is_routed(&app, &operation.method, &url).await;
        assert!(
            routed,
            "{} {} is documented but not served: {status} {body}",
            operation.method, operation.path
        );

        let tags: Vec<&str> = operation.body["tags"]
            .as_array()
            .expect("every operation has a tag")
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        let url = app.url(&format!("{base}/v1{path}"));
        let (routed, status, body) = is_routed(&app, &operation.method, &url).await;
        let under_v1 = tags.iter().all(|t| V1_TAGS.contains(t));
        assert_eq!(
            routed, under_v1,
            "{} /v1{} ({tags:?}): {status} {body}",
            operation.method, operation.path
        );
    }

    let documented: BTreeSet<(String, String)> = operations
        .iter()
        .map(|o| (o.method.clone(), o.path.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(operations.len(), documented.len(), "no operation twice");
    let undocumented: Vec<_> = expected.difference(&documented).collect();
    let unexpected: Vec<_> = documented.difference(&expected).collect();
    assert!(
        undocumented.is_empty() && unexpected.is_empty(),
        "routes missing from the document: {undocumented:?}; documented operations missing \
         from ROUTES: {unexpected:?}"
    );

    // Every route of the list is served, too (the loop above probed each documented one).
    assert_eq!(documented.len(), ROUTES.len());
}

/// Every operation declares at least one error response with the envelope schema, every
/// error code of the README is in the document, and the cookies, the auth-mode header and
/// the security schemes are described.
async fn errors_cookies_and_security_are_documented(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_ADMIN_SECRET", ADMIN_SECRET)]).await;
    let document = fetch_document(&app, "/openapi.json").await;
    let text = document.to_string();

    let error_ref = "#/components/schemas/Error";
    let error = &document["components"]["schemas"]["Error"];
    let mut envelope: Vec<&str> = error["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    envelope.sort_unstable();
    assert_eq!(envelope, ["error", "message", "status"]);

    let mut operation_ids = BTreeSet::new();
    for operation in operations(&document) {
        let name = format!("{} {}", operation.method, operation.path);
        let id = operation.body["operationId"].as_str().expect("operationId");
        assert!(operation_ids.insert(id.to_owned()), "{id} twice");
        assert!(
            operation.body["summary"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{name} has a summary"
        );
        let responses = operation.body["responses"].as_object().unwrap();
        let errors: Vec<&String> = responses
            .iter()
            .filter(|(status, response)| {
                (status.starts_with('4') || status.starts_with('5'))
                    && response["content"]["application/json"]["schema"]["$ref"] == error_ref
            })
            .map(|(status, _)| status)
            .collect();
        assert!(!errors.is_empty(), "{name} documents no error response");
        for (status, response) in responses {
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name} {status} has a description"
            );
            assert!(
                response["headers"]["x-request-id"].is_object(),
                "{name} {status} documents x-request-id"
            );
            if status == "503" {
                assert!(
                    response["headers"]["Retry-After"].is_object(),
                    "{name} 503 documents Retry-After"
                );
            }
        }
    }

    // Every code of the README's "Error codes" paragraph.
    let readme = include_str!("../../README.md");
    let start = readme
        .find("Error codes:")
        .expect("README lists the error codes");
    let paragraph = readme[start..].split("\n\n").next().unwrap();
    let codes: Vec<&str> = paragraph
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-'))
        .collect();
    assert!(codes.len() >= 20, "{codes:?}");
    for code in codes {
        assert!(
            text.contains(&format!("`{code}`")),
            "error code {code} is not in the document"
        );
    }

    // Security schemes, with this server's cookie names (Secure, no domain: prefixed).
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["bearer"]["bearerFormat"], "JWT");
    assert_eq!(schemes["accessCookie"]["type"], "apiKey");
    assert_eq!(schemes["accessCookie"]["in"], "cookie");
    assert_eq!(schemes["accessCookie"]["name"], "__Host-tessera-token");
    assert_eq!(
        schemes["refreshCookie"]["name"],
        "__Secure-tessera-refresh-token"
    );
    assert_eq!(schemes["adminSecret"]["type"], "apiKey");
    assert_eq!(schemes["adminSecret"]["in"], "header");
    assert_eq!(schemes["adminSecret"]["name"], "x-tessera-admin-secret");
    for name in [
        "__Host-tessera-token",
        "tessera-token",
        "__Secure-tessera-refresh-token",
        "tessera-refresh-token",
        "tessera-session",
    ] {
        assert!(text.contains(&format!("`{name}`")), "cookie {name}");
    }

    let operation = |method: &str, path: &str| document["paths"][path][method].clone();
    let security = |method: &str, path: &str| -> BTreeSet<String> {
        operation(method, path)["security"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r.as_object().unwrap().keys().cloned())
            .collect()
    };
    let set = |names: &[&str]| {
        names
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(security("get", "/user"), set(&["bearer", "accessCookie"]));
    assert_eq!(
        security("delete", "/user/sessions/{id}"),
        set(&["bearer", "accessCookie"])
    );
    assert_eq!(security("post", "/token"), set(&["refreshCookie"]));
    assert_eq!(security("get", "/token/refresh"), set(&["refreshCookie"]));
    assert_eq!(security("post", "/admin/users"), set(&["adminSecret"]));
    assert_eq!(security("post", "/signin/email-password"), set(&[]));
    for (method, path) in ROUTES.iter().filter(|(_, p)| p.starts_with("/admin")) {
        assert_eq!(
            security(&method.to_lowercase(), path),
            set(&["adminSecret"]),
            "{method} {path}"
        );
    }

    // Set-Cookie on every response that sets or clears the cookies.
    for (method, path, status) in [
        ("post", "/signin/email-password", "200"),
        ("post", "/signup/email-password", "200"),
        ("post", "/signin/anonymous", "200"),
        ("post", "/token", "200"),
        ("post", "/token/exchange", "200"),
        ("post", "/signin/otp/email/verify", "200"),
        ("post", "/signout", "200"),
        ("get", "/token/refresh", "303"),
    ] {
        assert!(
            operation(method, path)["responses"][status]["headers"]["Set-Cookie"].is_object(),
            "{method} {path} {status} documents Set-Cookie"
        );
    }
    // The transport header where it chooses the transport.
    for path in [
        "/signin/email-password",
        "/signup/email-password",
        "/signin/anonymous",
        "/token",
        "/token/exchange",
        "/signin/otp/email/verify",
    ] {
        let parameters = operation("post", path)["parameters"].clone();
        let header = parameters
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "tessera-auth-mode")
            .unwrap_or_else(|| panic!("{path} documents tessera-auth-mode"));
        assert_eq!(header["in"], "header");
        assert_eq!(
            header["schema"]["enum"],
            serde_json::json!(["bearer", "cookie"])
        );
    }
    // "OK" answers are the JSON string "OK".
    assert_eq!(
        document["components"]["schemas"]["Ok"]["enum"],
        serde_json::json!(["OK"])
    );
    assert_eq!(
        operation("post", "/signout")["responses"]["200"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/Ok"
    );
}

/// Without `TESSERA_ADMIN_SECRET` the admin operations are still documented (the document
/// describes the product, and says they exist only with the secret) but not served; cookie
/// names follow the configuration.
async fn admin_operations_are_documented_when_disabled(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_COOKIE_SECURE", "false")]).await;
    let document = fetch_document(&app, "/openapi.json").await;
    let admin: Vec<_> = operations(&document)
        .into_iter()
        .filter(|o| o.path.starts_with("/admin"))
        .collect();
    assert_eq!(
        admin.len(),
        ROUTES
            .iter()
            .filter(|(_, p)| p.starts_with("/admin"))
            .count()
    );
    for operation in admin {
        let url = app.url(&concrete(&operation.path));
        let (routed, status, _) = is_routed(&app, &operation.method, &url).await;
        assert!(
            !routed && status == StatusCode::NOT_FOUND,
            "{} {}",
            operation.method,
            operation.path
        );
    }
    let admin_tag = document["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "admin")
        .expect("the admin tag");
    assert!(
        admin_tag["description"]
            .as_str()
            .unwrap()
            .contains("TESSERA_ADMIN_SECRET")
    );
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["accessCookie"]["name"], "tessera-token");
    assert_eq!(schemes["refreshCookie"]["name"], "tessera-refresh-token");
}

both_backends!(
    the_document_is_valid_openapi_3_1,
    the_document_matches_the_router,
    errors_cookies_and_security_are_documented,
    admin_operations_are_documented_when_disabled,
);
