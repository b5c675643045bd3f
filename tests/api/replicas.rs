//! Several replicas on one Postgres database, database faults under load, a crash, and the
//! database upkeep.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, admin_database_url, sid, simultaneous_posts, unique_email};
use crate::proxy::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_sessions_and_rotations() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = TestApp::start(Backend::Postgres, a.db.clone(), &[], false, a.clock.clone()).await;
    // A session created on one replica refreshes on the other.
    let session = a.sign_up(&unique_email()).await;
    let on_b = b.refresh(session["refreshToken"].as_str().unwrap()).await;
    assert_eq!(on_b.status(), StatusCode::OK);
    let on_b: Value = on_b.json().await.unwrap();
    assert_eq!(on_b["refreshTokenId"], session["refreshTokenId"]);

    // The same token sent to both at once yields one successor.
    let token = on_b["refreshToken"].as_str().unwrap().to_owned();
    let body = json!({ "refreshToken": token });
    let (from_a, from_b) = tokio::join!(
        simultaneous_posts(&a.address, "/token", &body, 10),
        simultaneous_posts(&b.address, "/token", &body, 10)
    );
    let successors: std::collections::HashSet<String> = from_a
        .iter()
        .chain(&from_b)
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["refreshToken"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(successors.len(), 1);
    let session_id = sid(on_b["accessToken"].as_str().unwrap());
    let live = a
        .scalar(
            "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1 AND rotated_at IS NULL",
            session_id,
        )
        .await;
    assert_eq!(live, 1);

    // A rotation made on one is served by the other without a restart.
    let rotation = a.state.tokens.keys().rotate().await.unwrap();
    b.state.tokens.keys().maintain().await.unwrap();
    let jwks: Value = b.get("/.well-known/jwks.json").await.json().await.unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == rotation.kid)
    );
}

/// Clients that each keep one session and refresh in a loop, retrying a failed refresh
/// with the token they still hold, until `stop`. Returns every status seen per client and
/// each client's last token.
async fn refresh_load(
    addresses: Vec<String>,
    sessions: Vec<String>,
    stop: Arc<AtomicBool>,
) -> (Vec<HashMap<u16, u32>>, Vec<String>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (i, token) in sessions.into_iter().enumerate() {
        let (client, stop, results, addresses) = (
            client.clone(),
            stop.clone(),
            results.clone(),
            addresses.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut token = token;
            let mut statuses: HashMap<u16, u32> = HashMap::new();
            let mut round = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let address = &addresses[(i + round) % addresses.len()];
                round += 1;
                let response = client
                    .post(format!("{address}/token"))
                    .json(&json!({ "refreshToken": token }))
                    .send()
                    .await;
                match response {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        *statuses.entry(status).or_default() += 1;
                        if status == 200 {
                            let body: Value = response.json().await.unwrap();
                            token = body["refreshToken"].as_str().unwrap().to_owned();
                        } else {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    Err(_) => {
                        // The server is down: keep the token, try again shortly.
                        *statuses.entry(0).or_default() += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            results.lock().await.push((i, statuses, token));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut results = std::mem::take(&mut *results.lock().await);
    results.sort_by_key(|r| r.0);
    results.into_iter().map(|(_, s, t)| (s, t)).unzip()
}

/// After a fault: no 5xx but 503, no refusal, every session has one live token and every
/// client refreshes again with the last token it got.
async fn assert_recovered(app: &TestApp, statuses: &[HashMap<u16, u32>], tokens: &[String]) {
    for (client, seen) in statuses.iter().enumerate() {
        for (status, count) in seen {
            assert!(
                matches!(status, 200 | 503 | 0),
                "client {client} saw {count} x {status}: {seen:?}"
            );
        }
        assert!(
            seen.get(&200).copied().unwrap_or(0) > 0,
            "client {client} made progress: {seen:?}"
        );
    }
    let doubled = app
        .scalar(
            "SELECT COUNT(*) FROM (SELECT session_id FROM refresh_tokens WHERE rotated_at IS NULL
             GROUP BY session_id HAVING COUNT(*) > 1) AS doubled WHERE $1 IS NOT NULL",
            uuid::Uuid::nil(),
        )
        .await;
    assert_eq!(doubled, 0, "no session with two live refresh tokens");
    for (client, token) in tokens.iter().enumerate() {
        let mut status = StatusCode::SERVICE_UNAVAILABLE;
        for _ in 0..50 {
            status = app.refresh(token).await.status();
            if status != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, StatusCode::OK, "client {client} lost its session");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_faults_under_refresh_load() {
    let app = TestApp::spawn_behind_proxy(&[]).await;
    let mut sessions = Vec::new();
    for _ in 0..8 {
        sessions.push(
            app.sign_up(&unique_email()).await["refreshToken"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(refresh_load(
        vec![app.address.clone()],
        sessions,
        stop.clone(),
    ));

    tokio::time::sleep(Duration::from_millis(700)).await;
    // The database goes away and comes back.
    app.proxy.as_ref().unwrap().set(Mode::Down);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.proxy.as_ref().unwrap().set(Mode::Up);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // Its backends are killed, twice.
    let name = url::Url::parse(app.db.url())
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_database_url())
        .await
        .unwrap();
    for _ in 0..2 {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&name)
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert!(!killed.is_empty(), "there were connections to kill");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let (statuses, tokens) = load.await.unwrap();
    assert!(
        statuses.iter().any(|s| s.contains_key(&503)),
        "the faults were felt: {statuses:?}"
    );
    assert_recovered(&app, &statuses, &tokens).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_loses_no_session() {
    use std::process::{Command, Stdio};
    let app = TestApp::spawn(Backend::Postgres).await;
    let port = crate::helpers::free_port();
    let address = format!("http://127.0.0.1:{port}");
    let start = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in crate::helpers::test_env(app.db.url()) {
            command.env(k, v);
        }
        command
            .env("TESSERA_LISTEN", format!("127.0.0.1:{port}"))
            .env("TESSERA_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    let mut sessions = Vec::new();
    for _ in 0..6 {
        sessions.push(
            app.sign_up(&unique_email()).await["refreshToken"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    // Half the clients talk to the in-process replica, half to the one that will crash.
    let load = tokio::spawn(refresh_load(
        vec![address.clone(), app.address.clone()],
        sessions,
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL, mid-load
    child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut restarted = start();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::SeqCst);
    let (statuses, tokens) = load.await.unwrap();
    assert!(
        statuses.iter().any(|s| s.contains_key(&0)),
        "the crash was felt: {statuses:?}"
    );
    assert_recovered(&app, &statuses, &tokens).await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}

async fn the_upkeep_removes_ended_sessions_and_spent_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let live = app.sign_up(&unique_email()).await;
    let ended = app.sign_up(&unique_email()).await;
    app.post_json(
        "/signout",
        &json!({ "refreshToken": ended["refreshToken"] }),
    )
    .await;
    let rotated: Value = app
        .refresh(live["refreshToken"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let live_id = sid(live["accessToken"].as_str().unwrap());
    let ended_id = sid(ended["accessToken"].as_str().unwrap());
    let sealed = "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1 AND successor_sealed IS NOT NULL";
    assert_eq!(app.scalar(sealed, live_id).await, 1);

    // Within the grace window nothing goes.
    let store = app.store.as_ref();
    let retention = app.retention();
    let report = tessera::domain::upkeep::run_once(store, &app.clock, &retention)
        .await
        .unwrap();
    assert_eq!(report, tessera::domain::upkeep::Report::default());
    // After it, the sealed successor is forgotten; the rotated token stays, so reuse is
    // still detected.
    app.clock.advance(Duration::from_secs(31));
    let retention = app.retention();
    let report = tessera::domain::upkeep::run_once(store, &app.clock, &retention)
        .await
        .unwrap();
    assert_eq!(report.sealed_successors, 1);
    assert_eq!(app.scalar(sealed, live_id).await, 0);
    // A week after it ended, the signed-out session goes with its tokens.
    app.clock.advance(Duration::from_secs(7 * 86_400));
    let retention = app.retention();
    let report = tessera::domain::upkeep::run_once(store, &app.clock, &retention)
        .await
        .unwrap();
    assert_eq!(report.sessions, 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sessions WHERE id = $1", ended_id)
            .await,
        0
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1",
            ended_id
        )
        .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sessions WHERE id = $1", live_id)
            .await,
        1
    );
    let reuse = app.refresh(live["refreshToken"].as_str().unwrap()).await;
    assert_eq!(reuse.status(), StatusCode::UNAUTHORIZED);
    let body: Value = reuse.json().await.unwrap();
    assert_eq!(
        body["error"], "refresh-token-reused",
        "the rotated token was kept for detection"
    );
    drop(rotated);
}

/// Rows that would otherwise grow for ever: a rate-limit counter for every address ever
/// tried, and anonymous users who never came back. Anonymous users with a live session,
/// and regular users, stay.
async fn the_upkeep_removes_spent_counters_and_abandoned_anonymous_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let count = async |sql: &'static str| app.scalar(sql, uuid::Uuid::nil()).await;
    const COUNTERS: &str = "SELECT COUNT(*) FROM rate_limits WHERE $1 IS NOT NULL";
    const USERS: &str = "SELECT COUNT(*) FROM users WHERE id <> $1";
    for _ in 0..2 {
        let wrong = app
            .post_json(
                "/signin/email-password",
                &json!({ "email": unique_email(), "password": "Wrong-password-1" }),
            )
            .await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(count(COUNTERS).await, 2);
    let anonymous = async |app: &TestApp| {
        let body: Value = app
            .post_json("/signin/anonymous", &json!({}))
            .await
            .json()
            .await
            .unwrap();
        crate::helpers::audit_session(&body["session"]);
        body["session"].clone()
    };
    let gone = anonymous(&app).await;
    app.post_json("/signout", &json!({ "refreshToken": gone["refreshToken"] }))
        .await;
    let mut returning = anonymous(&app).await;
    app.sign_up(&unique_email()).await;
    assert_eq!(count(USERS).await, 3);

    // Twenty days on, the returning visitor refreshes; eleven more, and the other's
    // session ended 31 days ago.
    app.clock.advance(Duration::from_secs(20 * 86_400));
    returning = app
        .refresh(returning["refreshToken"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    crate::helpers::audit_session(&returning);
    app.clock.advance(Duration::from_secs(11 * 86_400));
    let retention = app.retention();
    let report = tessera::domain::upkeep::run_once(app.store.as_ref(), &app.clock, &retention)
        .await
        .unwrap();
    assert_eq!(report.rate_limits, 2);
    assert_eq!(count(COUNTERS).await, 0, "spent counters are gone");
    assert_eq!(report.anonymous_users, 1);
    assert_eq!(
        count(USERS).await,
        2,
        "the returning visitor and the regular user stay"
    );
    assert_eq!(
        app.refresh(returning["refreshToken"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}

both_backends!(
    the_upkeep_removes_ended_sessions_and_spent_secrets,
    the_upkeep_removes_spent_counters_and_abandoned_anonymous_users,
);
