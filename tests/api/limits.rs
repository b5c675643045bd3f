//! Rate limits and input limits.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, raw_http, unique_email};

/// `Forwarded: for=...` naming `ip` (IPv6 bracketed and quoted, as RFC 7239 requires).
fn forwarded_for(ip: &str) -> String {
    if ip.contains(':') {
        format!("for=\"[{ip}]\"")
    } else {
        format!("for={ip}")
    }
}

/// A sign-in attempt that appears to come from `ip` (through a trusted proxy).
async fn sign_in_from(app: &TestApp, ip: &str, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/signin/email-password"))
        .header("forwarded", forwarded_for(ip))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

fn headers_without_ids(response: &reqwest::Response) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id" | "retry-after"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    headers
}

async fn failed_sign_ins_are_limited_per_account_across_ips(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_TRUSTED_PROXIES", "127.0.0.1")]).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let unknown = unique_email();
    for attempt in 0..100 {
        let ip = format!("198.51.{}.{}", attempt / 250, attempt % 250 + 1);
        let wrong = sign_in_from(&app, &ip, &email, "Wrong-password-77").await;
        assert_eq!(
            wrong.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
        let nobody = sign_in_from(&app, &ip, &unknown, "Wrong-password-77").await;
        assert_eq!(
            nobody.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    // The 101st, from yet another IP, is refused, even with the right password...
    let locked = sign_in_from(&app, "203.0.113.200", &email, PASSWORD).await;
    let locked_unknown = sign_in_from(&app, "203.0.113.201", &unknown, PASSWORD).await;
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3000..=3600).contains(&retry_after),
        "the rest of the hour: {retry_after}"
    );
    // ...and a locked address says nothing about whether the account exists.
    assert_eq!(
        headers_without_ids(&locked),
        headers_without_ids(&locked_unknown)
    );
    let (a, b) = (
        locked.text().await.unwrap(),
        locked_unknown.text().await.unwrap(),
    );
    assert_eq!(a, b);
    let body: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(
        (body["status"].as_u64(), body["error"].as_str()),
        (Some(429), Some("too-many-requests"))
    );
    // Other accounts are not affected.
    let other = unique_email();
    app.sign_up(&other).await;
    assert_eq!(
        sign_in_from(&app, "198.51.0.1", &other, PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    // Once the window has passed, the right password works again.
    app.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        sign_in_from(&app, "198.51.0.1", &email, PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn per_ip_limits_answer_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_RATE_LIMIT_SIGNIN", "3/1m"),
            ("TESSERA_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let email = unique_email();
    for _ in 0..3 {
        assert_eq!(
            sign_in_from(&app, "192.0.2.1", &email, "Wrong-password-77")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = sign_in_from(&app, "192.0.2.1", &email, "Wrong-password-77").await;
    let wait: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "one token every 20 s: {wait}");
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
    // Another client IP (as reported by the trusted proxy) has its own bucket.
    assert_eq!(
        sign_in_from(&app, "192.0.2.2", &email, "Wrong-password-77")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

/// HEAD is GET without a body: it counts against the same limits, and it never changes
/// anything (a link scanner that HEADs an emailed link must not spend it; a HEAD of the
/// SSR bounce must not rotate the session).
async fn head_counts_as_get_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_RATE_LIMIT_VERIFY", "3/1m"),
            ("TESSERA_ALLOWED_REDIRECT_URLS", "https://app.example.com/"),
        ],
    )
    .await;
    let head = |path: &str| app.client.head(app.url(path)).send();
    for _ in 0..3 {
        let response = head("/verify?ticket=x&type=emailVerify").await.unwrap();
        assert_ne!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let limited = head("/verify?ticket=x&type=emailVerify").await.unwrap();
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "HEAD is limited"
    );
    let get = app.get("/verify?ticket=x&type=emailVerify").await;
    assert_eq!(
        get.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "one bucket with GET"
    );

    // A HEAD of the SSR bounce with the refresh cookie rotates nothing.
    let session = app.sign_up(&unique_email()).await;
    let refresh = session["refreshToken"].as_str().unwrap();
    let bounced = app
        .client
        .head(app.url("/token/refresh?redirectTo=https://app.example.com/"))
        .header(
            reqwest::header::COOKIE,
            format!("__Secure-tessera-refresh-token={refresh}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bounced.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(bounced.headers()["allow"], "GET");
    assert!(bounced.headers().get("set-cookie").is_none());
    assert_eq!(
        app.refresh(refresh).await.status(),
        StatusCode::OK,
        "the token was not rotated"
    );
}

/// The client address comes from the one header the operator's proxy sets: by default the
/// standard `Forwarded`, so a client-supplied `X-Forwarded-For` (which a proxy that sets
/// only `Forwarded` passes through untouched) is ignored; `X-Forwarded-For` when chosen.
async fn only_the_proxys_own_header_names_the_client(backend: Backend) {
    let ip_of_session = |app: &TestApp, headers: Vec<(&'static str, String)>| {
        let email = unique_email();
        let client = app.client.clone();
        let (signup, sessions) = (app.url("/signup/email-password"), app.url("/user/sessions"));
        async move {
            let mut request = client
                .post(signup)
                .json(&json!({ "email": email, "password": PASSWORD }));
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            crate::helpers::audit_session(&body["session"]);
            let listed: Value = client
                .get(sessions)
                .bearer_auth(body["session"]["accessToken"].as_str().unwrap())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            listed["sessions"][0]["ip"].as_str().unwrap().to_owned()
        }
    };
    let spoofed = || {
        vec![
            ("x-forwarded-for", "6.6.6.6".to_owned()),
            ("forwarded", "for=192.0.2.1".to_owned()),
        ]
    };
    let standard = TestApp::spawn_with(backend, &[("TESSERA_TRUSTED_PROXIES", "127.0.0.1")]).await;
    assert_eq!(ip_of_session(&standard, spoofed()).await, "192.0.2.1");
    let xff = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_TRUSTED_PROXIES", "127.0.0.1"),
            ("TESSERA_CLIENT_IP_HEADER", "x-forwarded-for"),
        ],
    )
    .await;
    let chosen = vec![
        ("x-forwarded-for", "192.0.2.7".to_owned()),
        ("forwarded", "for=6.6.6.6".to_owned()),
    ];
    assert_eq!(ip_of_session(&xff, chosen).await, "192.0.2.7");
}

/// One IPv6 /64 is one client for the per-IP limits: its owner controls every address in
/// it, so counting them apart would make every limit useless.
async fn ipv6_clients_share_a_bucket_per_64(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_RATE_LIMIT_SIGNIN", "3/1m"),
            ("TESSERA_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let email = unique_email();
    for address in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff:ffff:ffff:3",
    ] {
        let response = sign_in_from(&app, address, &email, "Wrong-77").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = sign_in_from(&app, "2001:db8:1:2::4", &email, "Wrong-77").await;
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
    let neighbour = sign_in_from(&app, "2001:db8:1:3::1", &email, "Wrong-77").await;
    assert_eq!(neighbour.status(), StatusCode::UNAUTHORIZED, "another /64");
}

async fn spoofed_forwarded_for_is_ignored_from_an_untrusted_peer(backend: Backend) {
    // No trusted proxy: the socket's address is the client, whatever the headers say.
    let app = TestApp::spawn_with(backend, &[("TESSERA_RATE_LIMIT_SIGNUP", "2/1m")]).await;
    let signup = |i: u32| {
        app.client
            .post(app.url("/signup/email-password"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .header("forwarded", format!("for=198.51.100.{i}"))
            .json(&json!({ "email": unique_email(), "password": PASSWORD }))
            .send()
    };
    assert_eq!(signup(1).await.unwrap().status(), StatusCode::OK);
    assert_eq!(signup(2).await.unwrap().status(), StatusCode::OK);
    assert_error(
        signup(3).await.unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
    )
    .await;
    let events = app.store.events(None, 20).await.unwrap();
    assert!(
        !events.is_empty() && events.iter().all(|e| e.ip == "127.0.0.1"),
        "recorded with the real address"
    );
}

async fn oversize_inputs_are_refused_before_any_hashing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let before = app.store.events(None, 100).await.unwrap().len();
    let cases = [
        (
            "/signin/email-password",
            json!({ "email": email, "password": "p".repeat(2000) }),
        ),
        (
            "/signup/email-password",
            json!({ "email": unique_email(), "password": "p".repeat(2000) }),
        ),
        (
            "/signup/email-password",
            json!({ "email": format!("{}@example.com", "a".repeat(300)), "password": PASSWORD }),
        ),
        (
            "/signup/email-password",
            json!({ "email": unique_email(), "password": PASSWORD, "options": { "displayName": "d".repeat(300) } }),
        ),
        (
            "/signup/email-password",
            json!({ "email": unique_email(), "password": PASSWORD, "options": { "metadata": { "blob": "m".repeat(9000) } } }),
        ),
        (
            "/signin/email-password",
            json!({ "email": email, "password": PASSWORD, "rememberMe": true }),
        ),
    ];
    for (path, body) in cases {
        assert_error(
            app.post_json(path, &body).await,
            StatusCode::BAD_REQUEST,
            "invalid-request",
        )
        .await;
    }
    let after = app.store.events(None, 100).await.unwrap();
    assert_eq!(
        after.len(),
        before,
        "no sign-in failure or sign-up was recorded: nothing was hashed"
    );
    let huge = format!(
        "POST /signin/email-password HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        1 << 20
    );
    let (status, _, body) = raw_http(&app.address, huge.as_bytes()).await;
    assert_eq!(status, 413);
    assert!(body.contains("payload-too-large"));
}

async fn oversized_headers_get_431_in_the_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", "p".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request-header-fields-too-large",
    )
    .await;
}

both_backends!(
    head_counts_as_get_and_changes_nothing,
    only_the_proxys_own_header_names_the_client,
    ipv6_clients_share_a_bucket_per_64,
    failed_sign_ins_are_limited_per_account_across_ips,
    per_ip_limits_answer_429_with_retry_after,
    spoofed_forwarded_for_is_ignored_from_an_untrusted_peer,
    oversize_inputs_are_refused_before_any_hashing,
    oversized_headers_get_431_in_the_envelope,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let host = app.address.trim_start_matches("http://").to_owned();
    // A client that never finishes its header section...
    let slow_head = {
        let host = host.clone();
        tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            let started = Instant::now();
            let mut buf = Vec::new();
            let _ =
                tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf)).await;
            (
                started.elapsed(),
                String::from_utf8_lossy(&buf).into_owned(),
            )
        })
    };
    // ...and one whose body trickles in and stops.
    let slow_body = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        stream
            .write_all(b"POST /signin/email-password HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\"")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut buf)).await;
        String::from_utf8_lossy(&buf).into_owned()
    });
    let (elapsed, head_answer) = slow_head.await.unwrap();
    assert!(
        elapsed < Duration::from_secs(29),
        "the connection was closed, not left open"
    );
    assert!(!head_answer.contains("200 OK"), "{head_answer}");
    let body_answer = slow_body.await.unwrap();
    assert!(body_answer.starts_with("HTTP/1.1 408"), "{body_answer}");
    assert!(body_answer.contains("request-timeout"), "{body_answer}");
}
