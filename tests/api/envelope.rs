//! Every error, ours or the framework's, comes in the error envelope.

use reqwest::StatusCode;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_error, raw_http};

async fn unknown_route_is_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_error(
        app.get("/no/such/route").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}

async fn wrong_method_is_405_with_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert!(
        response.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
    )
    .await;
}

async fn ten_megabyte_body_is_413(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The head announces 10 MB; Tessera answers from the head alone, without reading it.
    let head = "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 10485760\r\n\r\n";
    let (status, head, body) = raw_http(&app.address, head.as_bytes()).await;
    assert_eq!(status, 413, "{head}");
    assert!(head.contains("x-request-id"), "{head}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "payload-too-large");
}

both_backends!(
    unknown_route_is_404,
    wrong_method_is_405_with_allow,
    ten_megabyte_body_is_413
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_live_under_the_public_urls_base_path() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("TESSERA_PUBLIC_URL", "https://example.com/auth/")],
    )
    .await;
    assert_eq!(app.get("/auth/healthz").await.status(), StatusCode::OK);
    assert_error(
        app.get("/healthz").await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
}
