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

/// The backends serving this test's database, other than the test's own.
async fn backend_pids(conn: &mut sqlx::PgConnection) -> std::collections::BTreeSet<i32> {
    sqlx::query_scalar::<_, i32>(
        "SELECT pid FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(conn)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_mid_request_cost_no_database_connection() {
    use sqlx::Connection;
    use tokio::io::AsyncWriteExt;
    let app = TestApp::spawn(Backend::Postgres).await;
    let session = app.sign_up(&crate::helpers::unique_email()).await;
    let access = session["accessToken"].as_str().unwrap().to_owned();
    let mut conn = sqlx::PgConnection::connect(app.db.url()).await.unwrap();
    // Open the pool's connections (5 in the test configuration).
    let warm: Vec<_> = (0..20)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/user");
            let access = access.clone();
            tokio::spawn(async move { client.get(url).bearer_auth(access).send().await })
        })
        .collect();
    for request in warm {
        request.await.unwrap().unwrap();
    }
    let before = backend_pids(&mut conn).await;
    assert!(!before.is_empty());

    // Clients that send `GET /user` (two queries) and hang up while it is being served.
    let host = app.address.trim_start_matches("http://").to_owned();
    let request =
        format!("GET /user HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {access}\r\n\r\n");
    for round in 0..40u64 {
        let mut streams = Vec::new();
        for _ in 0..10 {
            let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            streams.push(stream);
        }
        // Hang up at different points of the work.
        tokio::time::sleep(Duration::from_micros(100 * (round % 10))).await;
        drop(streams);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let after = backend_pids(&mut conn).await;
    assert!(
        before.is_subset(&after),
        "every database connection survived the abandoned requests: before {before:?}, after {after:?}"
    );
    let response = app
        .client
        .get(app.url("/user"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Metric labels come from closed sets: a made-up method becomes `other`, an unknown path
/// `unmatched`, so no request can add a series (and memory) to `/metrics` for ever.
async fn metrics_labels_come_from_closed_sets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let made_up = reqwest::Method::from_bytes(b"PWNED123").unwrap();
    app.client
        .request(made_up, app.url("/healthz"))
        .send()
        .await
        .unwrap();
    let long_method = "Q".repeat(30_000);
    let request = format!("{long_method} /user HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let _ = crate::helpers::raw_http(&app.address, request.as_bytes()).await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("PWNED123"),
        "a made-up method is no label"
    );
    assert!(!metrics.contains("QQQQ"), "nor a long one");
    assert!(metrics.contains(r#"method="other""#), "they count as other");
}

/// `/metrics` is open by default (the Prometheus convention); an operator can require a
/// bearer secret, or serve it on a listener of its own.
async fn metrics_can_require_a_secret_or_a_listener_of_their_own(backend: Backend) {
    let secret = "a-metrics-secret-of-32-characters-at-least";
    let app = TestApp::spawn_with(backend, &[("TESSERA_METRICS_TOKEN", secret)]).await;
    let anonymous = app.get("/metrics").await;
    assert_error(
        anonymous,
        reqwest::StatusCode::UNAUTHORIZED,
        "invalid-token",
    )
    .await;
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("not-the-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let scraper = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(scraper.status(), 200);
    assert!(
        scraper
            .text()
            .await
            .unwrap()
            .contains("tessera_http_requests_total")
    );

    let port = crate::helpers::free_port();
    let listen = format!("127.0.0.1:{port}");
    let separate = TestApp::spawn_with(backend, &[("TESSERA_METRICS_LISTEN", &listen)]).await;
    let on_main = separate.get("/metrics").await;
    assert_eq!(on_main.status(), 404, "not on the public listener");
    let scraped = separate
        .client
        .get(format!("http://{listen}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped
            .text()
            .await
            .unwrap()
            .contains("tessera_http_requests_total")
    );
}

crate::both_backends!(
    metrics_labels_come_from_closed_sets,
    metrics_can_require_a_secret_or_a_listener_of_their_own,
);
