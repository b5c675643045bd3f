//! The HTTP request decoders, end to end: a real Tessera router (on a SQLite file) gets a
//! request whose route, content type, headers and body come from the fuzzer. Whatever
//! arrives, the answer is never a 5xx, and every error is in the envelope.
#![no_main]

use std::sync::LazyLock;

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Harness {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("DATABASE_URL".to_owned(), format!("sqlite://{}", dir.path().join("fuzz.db").display())),
        ("TESSERA_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("TESSERA_ARGON2_MEMORY_KIB".to_owned(), "64".to_owned()),
        ("TESSERA_ARGON2_ITERATIONS".to_owned(), "1".to_owned()),
        ("TESSERA_ADMIN_SECRET".to_owned(), "fuzzing-admin-secret-of-32-characters".to_owned()),
        ("TESSERA_OUTBOX_DIR".to_owned(), dir.path().join("outbox").display().to_string()),
    ];
    let lookup = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let config = tessera::config::Config::from_lookup(&lookup).unwrap();
    let app = runtime.block_on(async {
        tessera::startup::Application::build(config, std::sync::Arc::new(tessera::support::clock::SystemClock))
            .await
            .unwrap()
    });
    let router = tessera::http::router(app.state().clone());
    Harness { runtime, router, _dir: dir }
});

const ROUTES: [(&str, &str); 16] = [
    ("POST", "/signup/email-password"),
    ("POST", "/signin/email-password"),
    ("POST", "/token"),
    ("POST", "/token/verify"),
    ("POST", "/token/exchange"),
    ("POST", "/signout"),
    ("GET", "/user"),
    ("POST", "/user/password"),
    ("POST", "/user/password/reset"),
    ("POST", "/user/email/change"),
    ("POST", "/signin/passwordless/email"),
    ("POST", "/signin/anonymous"),
    ("POST", "/user/deanonymize"),
    ("GET", "/verify"),
    ("GET", "/token/refresh"),
    ("POST", "/admin/users"),
];

const CONTENT_TYPES: [&str; 4] = ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8"];

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let harness = &*HARNESS;
    let (method, path) = ROUTES[data[0] as usize % ROUTES.len()];
    let content_type = CONTENT_TYPES[data[1] as usize % CONTENT_TYPES.len()];
    let flags = data[2];
    let body = data[3..].to_vec();
    let mut request = Request::builder().method(method).header("content-type", content_type);
    let mut uri = path.to_owned();
    if flags & 1 != 0 {
        // The first line of the body becomes a query string.
        let line = String::from_utf8_lossy(&body).lines().next().unwrap_or_default().to_owned();
        uri = format!("{path}?{}", line.replace(' ', "%20"));
    }
    if flags & 2 != 0 {
        request = request.header("authorization", format!("Bearer {}", String::from_utf8_lossy(&body).trim()));
    }
    if flags & 4 != 0 {
        request = request.header("cookie", String::from_utf8_lossy(&body).replace(['\r', '\n'], ""));
    }
    if flags & 8 != 0 {
        request = request.header("tessera-auth-mode", "cookie").header("origin", "http://localhost:4000");
    }
    if flags & 16 != 0 {
        request = request.header("x-tessera-admin-secret", "fuzzing-admin-secret-of-32-characters");
    }
    let Ok(request) = request.uri(uri).body(Body::from(body)) else {
        return; // not a valid HTTP request at all: hyper would have refused it first
    };
    let response = harness
        .runtime
        .block_on(harness.router.clone().oneshot(request))
        .unwrap();
    let status = response.status();
    assert!(!status.is_server_error(), "{method} {path}: {status}");
    if status.is_client_error() {
        let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap_or_default().to_owned());
        assert_eq!(content_type.as_deref(), Some("application/json"), "{method} {path}: {status}");
    }
});
