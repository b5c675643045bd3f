//! Property tests: whatever arrives (bodies, tokens, cookies, headers), Tessera answers
//! with a 4xx in the envelope or a success, never a 5xx, never a panic, and in bounded
//! time. Requests go through the real router in process (`tower::ServiceExt::oneshot`).

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use tower::ServiceExt;

use crate::helpers::{Backend, TestApp};

/// One server (SQLite) and runtime for every case.
struct Shared {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _app: TestApp,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let app = runtime.block_on(TestApp::spawn_with(
            Backend::Sqlite,
            &[(
                "TESSERA_ADMIN_SECRET",
                "property-tests-admin-secret-32-chars",
            )],
        ));
        let router = tessera::http::router(app.state.clone());
        Shared {
            runtime,
            router,
            _app: app,
        }
    })
}

/// Sends one request; checks the answer is no 5xx and errors are in the envelope.
fn check(request: Request<Body>) -> Result<(), TestCaseError> {
    let shared = shared();
    let response = shared.runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(10),
            shared.router.clone().oneshot(request),
        )
        .await
        .map_err(|_| TestCaseError::fail("no answer within 10 s"))
    })?;
    let response = response.unwrap();
    let status = response.status();
    prop_assert!(!status.is_server_error(), "status {}", status);
    if status.is_client_error() {
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        prop_assert_eq!(content_type, "application/json");
        let body = shared
            .runtime
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
            .unwrap();
        let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
        prop_assert_eq!(
            envelope["status"].as_u64(),
            Some(u64::from(status.as_u16()))
        );
        prop_assert!(envelope["error"].is_string() && envelope["message"].is_string());
    }
    Ok(())
}

const POSTS: [&str; 16] = [
    "/signup/email-password",
    "/signin/email-password",
    "/token",
    "/token/verify",
    "/token/exchange",
    "/signout",
    "/user/password",
    "/user/password/reset",
    "/user/email/change",
    "/user/email/send-verification-email",
    "/signin/passwordless/email",
    "/signin/otp/email",
    "/signin/otp/email/verify",
    "/signin/anonymous",
    "/user/deanonymize",
    "/admin/users",
];

/// Arbitrary JSON values, nested a little.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".{0,80}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::hash_map(
                prop_oneof![
                    Just("email".to_owned()),
                    Just("password".to_owned()),
                    Just("refreshToken".to_owned()),
                    Just("options".to_owned()),
                    Just("ticket".to_owned()),
                    Just("code".to_owned()),
                    Just("otp".to_owned()),
                    ".{0,12}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_bodies(route in 0..POSTS.len(), body in json_value(), admin in any::<bool>()) {
        let mut request = Request::post(POSTS[route]).header("content-type", "application/json");
        if admin {
            request = request.header("x-tessera-admin-secret", "property-tests-admin-secret-32-chars");
        }
        check(request.body(Body::from(body.to_string())).unwrap())?;
    }

    #[test]
    fn arbitrary_bytes_and_content_types(
        route in 0..POSTS.len(),
        body in prop::collection::vec(any::<u8>(), 0..2048),
        content_type in prop_oneof![
            Just("application/json".to_owned()),
            Just("text/plain".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
            ".{0,40}",
        ],
    ) {
        let request = Request::post(POSTS[route]).header("content-type", content_type.as_str()).body(Body::from(body));
        if let Ok(request) = request {
            check(request)?;
        }
    }

    #[test]
    fn arbitrary_refresh_tokens(token in ".{0,200}", cookie in any::<bool>()) {
        let request = if cookie {
            Request::post("/token")
                .header("content-type", "application/json")
                .header("cookie", format!("__Secure-tessera-refresh-token={}", token.replace(['\r', '\n', ';'], "")))
                .header("sec-fetch-site", "same-origin")
                .body(Body::from("{}"))
        } else {
            Request::post("/token")
                .header("content-type", "application/json")
                .body(Body::from(serde_json::json!({ "refreshToken": token }).to_string()))
        };
        if let Ok(request) = request {
            check(request)?;
        }
    }

    #[test]
    fn arbitrary_access_tokens_and_cookies(token in "[ -~]{0,600}", header in any::<bool>()) {
        let request = if header {
            Request::get("/user").header("authorization", format!("Bearer {token}")).body(Body::empty())
        } else {
            Request::get("/user").header("cookie", token.clone()).body(Body::empty())
        };
        if let Ok(request) = request {
            check(request)?;
        }
        // The same text through the verifier crate's primitive and cookie parser.
        let rules = tessera_verify::Rules {
            issuer: "x".into(), audience: "tessera".into(), exp_leeway: 60, iat_leeway: 60, check_exp: true,
        };
        prop_assert!(tessera_verify::verify_token(&token, |_| None, &rules, 0).is_err());
        let _ = tessera_verify::token_from_headers(Some(&token), &mut std::iter::once(token.as_str()), "tessera-token");
    }

    #[test]
    fn arbitrary_query_strings(query in "[ -~]{0,300}", route in 0..2usize) {
        let path = ["/verify", "/token/refresh"][route];
        let uri = format!("{path}?{}", query.replace(' ', "%20").replace('#', "%23"));
        if let Ok(request) = Request::get(uri).body(Body::empty()) {
            check(request)?;
        }
    }
}
