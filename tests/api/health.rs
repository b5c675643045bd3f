//! `GET|HEAD /healthz` and `GET /version`, including a database that goes away.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_error};
use crate::proxy::Mode;

async fn healthz_reports_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let expected = match backend {
        Backend::Postgres => "postgres",
        Backend::Sqlite => "sqlite",
    };
    assert_eq!(body["database"], expected);

    let head = app.client.head(app.url("/healthz")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.bytes().await.unwrap().is_empty());
}

async fn version_is_the_crate_version(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body: Value = app.get("/version").await.json().await.unwrap();
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

both_backends!(healthz_reports_the_database, version_is_the_crate_version);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_while_postgres_is_unreachable_and_recovers() {
    let app = TestApp::spawn_behind_proxy(&[]).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    app.proxy.as_ref().unwrap().set(Mode::Down);
    let response = app.get("/healthz").await;
    assert_eq!(response.headers()["retry-after"], "1");
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service-unavailable",
    )
    .await;

    app.proxy.as_ref().unwrap().set(Mode::Up);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        status = app.get("/healthz").await.status();
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "Tessera recovers when the database returns"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_503_when_postgres_hangs() {
    // TESSERA_DATABASE_TIMEOUT is 2s in tests; the request must not hang past it for long.
    let app = TestApp::spawn_behind_proxy(&[("TESSERA_REQUEST_TIMEOUT", "10s")]).await;
    app.proxy.as_ref().unwrap().set(Mode::Blackhole);
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(9), app.get("/healthz"))
        .await
        .expect("healthz answers before the request timeout");
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "service-unavailable",
    )
    .await;
    // Not a timing assertion on speed: only that it did not wait for the request timeout.
    assert!(started.elapsed() < Duration::from_secs(9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_requests_outcomes_and_state() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let email = crate::helpers::unique_email();
    let session = app.sign_up(&email).await;
    app.refresh(session["refreshToken"].as_str().unwrap()).await;
    app.refresh("not-a-token").await;
    app.post_json(
        "/signin/email-password",
        &serde_json::json!({ "email": email, "password": "Wrong-password-77" }),
    )
    .await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for needle in [
        "tessera_http_requests_total{route=\"/token\",method=\"POST\",status=\"200\"}",
        "tessera_http_request_duration_seconds_bucket{route=\"/signup/email-password\"",
        "tessera_refresh_total{outcome=\"rotated\"}",
        "tessera_refresh_total{outcome=\"invalid\"}",
        "tessera_signin_total{outcome=\"failure\"}",
        "tessera_password_hash_wait_seconds",
        "tessera_db_pool_connections{state=\"idle\"}",
        "tessera_db_pool_max",
        "tessera_signing_key_age_seconds",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}
