//! The in-memory session liveness view (`src/domain/liveness`, `docs/security.md`): what
//! one replica (or another process) changes reaches every replica's memory within the
//! bound, a replica reads its own writes at once, and a replica whose change feed is lost
//! checks the database until it has resynchronised.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera::config::Config;
use tessera::store::Store;
use tessera::support::clock::Clock;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, admin_database_url, test_env, unique_email};

const SECRET: &str = "a-liveness-admin-secret-of-32-characters";

/// The acceptance bound: a revocation on one replica is refused by the other
/// within this, measured from the first replica's answer.
const REVOCATION_BOUND: Duration = Duration::from_millis(100);
/// The documented worst case (`TRUST_WINDOW`): beyond it a replica has stopped trusting
/// memory anyway.
const TRUST_WINDOW: Duration = tessera::domain::liveness::TRUST_WINDOW;

/// Two replicas on one Postgres database, both with the admin API, both in sync.
async fn two_replicas() -> (TestApp, TestApp) {
    let vars = [("TESSERA_ADMIN_SECRET", SECRET)];
    let a = TestApp::spawn_with(Backend::Postgres, &vars).await;
    let b = TestApp::start(
        Backend::Postgres,
        a.db.clone(),
        &vars,
        false,
        a.clock.clone(),
    )
    .await;
    wait_for_view(&a, "trusted").await;
    wait_for_view(&b, "trusted").await;
    (a, b)
}

/// The view's state as `/healthz` reports it.
async fn view_state(app: &TestApp) -> String {
    let body: Value = app.get("/healthz").await.json().await.unwrap();
    body["sessionCache"].as_str().unwrap_or_default().to_owned()
}

/// Waits (10 s at most) until the view is in `state`.
async fn wait_for_view(app: &TestApp, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = view_state(app).await;
        if now == state {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the view stayed {now}, not {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> StatusCode {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("x-tessera-admin-secret", SECRET);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status()
}

async fn get_user(app: &TestApp, access: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url("/user"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn access(session: &Value) -> &str {
    session["accessToken"].as_str().unwrap()
}

fn user_id(session: &Value) -> Uuid {
    session["user"]["id"].as_str().unwrap().parse().unwrap()
}

/// Polls `/token/verify` on `app` until it refuses `token`; returns how long after `since`
/// it first did. Fails after twice the trust window.
async fn refused_after(app: &TestApp, token: &str, since: Instant) -> Duration {
    loop {
        if app.verify(token).await == StatusCode::UNAUTHORIZED {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < 2 * TRUST_WINDOW,
            "still accepted {:?} after the change",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn sign_out(app: &TestApp, session: &Value) {
    let response = app
        .post_json(
            "/signout",
            &json!({ "refreshToken": session["refreshToken"] }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// The acceptance test: 100 sessions signed in on A and verified once on B (so B
/// answers them from memory); each is signed out on A, and B's `/token/verify` is polled
/// until it refuses. Every one must be refused, the slowest within 100 ms of A's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_replica_is_refused_by_the_other_within_100_ms() {
    let (a, b) = two_replicas().await;
    let email = unique_email();
    let mut sessions = vec![a.sign_up(&email).await];
    for _ in 1..100 {
        sessions.push(a.sign_in(&email).await);
    }
    for session in &sessions {
        assert_eq!(b.verify(access(session)).await, StatusCode::OK);
    }
    assert_eq!(view_state(&b).await, "trusted");

    let mut latencies = Vec::new();
    for session in &sessions {
        sign_out(&a, session).await;
        let answered = Instant::now();
        latencies.push(refused_after(&b, access(session), answered).await);
    }
    latencies.sort();
    let (max, median) = (
        latencies[latencies.len() - 1],
        latencies[latencies.len() / 2],
    );
    println!(
        "revocation seen by the other replica: max {max:?}, median {median:?} over {} revocations",
        latencies.len()
    );
    assert_eq!(latencies.len(), 100, "every revocation was refused");
    assert!(
        max < REVOCATION_BOUND,
        "slowest revocation took {max:?} (median {median:?})"
    );
}

/// A user disabled on A, by the store call alone (no session is revoked: only the users
/// row changes, as `tessera users disable` does before it revokes) and by the admin route:
/// B refuses within the bound. A profile change on A shows in B's `/user`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_and_a_profile_change_reach_the_other_replica() {
    let (a, b) = two_replicas().await;

    let session = a.sign_up(&unique_email()).await;
    assert_eq!(b.verify(access(&session)).await, StatusCode::OK);
    let (status, user) = get_user(&b, access(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["displayName"], session["user"]["displayName"]);
    let changed = admin(
        &a,
        Method::PATCH,
        &format!("/admin/users/{}", user_id(&session)),
        Some(json!({ "displayName": "Renamed on A", "metadata": { "plan": "pro" } })),
    )
    .await;
    assert_eq!(changed, StatusCode::OK);
    let answered = Instant::now();
    loop {
        let (status, user) = get_user(&b, access(&session)).await;
        assert_eq!(status, StatusCode::OK);
        if user["displayName"] == "Renamed on A" {
            assert_eq!(user["metadata"], json!({ "plan": "pro" }));
            break;
        }
        assert!(
            answered.elapsed() < REVOCATION_BOUND,
            "B still shows the old profile {:?} later",
            answered.elapsed()
        );
    }

    let disabled = a
        .store
        .set_user_disabled(user_id(&session), true, a.clock.now())
        .await
        .unwrap();
    assert!(disabled);
    let took = refused_after(&b, access(&session), Instant::now()).await;
    assert!(
        took < REVOCATION_BOUND,
        "disabled user refused after {took:?}"
    );
    let (status, _) = get_user(&b, access(&session)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let other = a.sign_up(&unique_email()).await;
    assert_eq!(b.verify(access(&other)).await, StatusCode::OK);
    let disabled = admin(
        &a,
        Method::POST,
        &format!("/admin/users/{}/disable", user_id(&other)),
        None,
    )
    .await;
    assert_eq!(disabled, StatusCode::OK);
    let took = refused_after(&b, access(&other), Instant::now()).await;
    assert!(
        took < REVOCATION_BOUND,
        "disabled user refused after {took:?}"
    );
}

/// B's listener is terminated and cannot come back (the database refuses new connections
/// for a while). B stops trusting its memory as soon as the listener is lost, so a
/// revocation on A right after is refused by B within the bound, from the database, and so
/// is one made while B is still without a listener. When connections are allowed again B
/// listens again, forgets what it remembered (what it looked up during the outage may have
/// changed unheard), is trusted again, and revocations reach it as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_listener_is_lost_checks_the_database_until_it_resynchronises() {
    let (a, b) = two_replicas().await;
    let email = unique_email();
    let first = a.sign_up(&email).await;
    let second = a.sign_in(&email).await;
    let third = a.sign_in(&email).await;
    for session in [&first, &second, &third] {
        assert_eq!(b.verify(access(session)).await, StatusCode::OK);
    }
    let name = url::Url::parse(a.db.url())
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut admin_db = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_database_url())
        .await
        .unwrap();
    let allow = |allowed: bool| {
        sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {allowed}"
        ))
    };
    sqlx::query(allow(false))
        .execute(&mut admin_db)
        .await
        .unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND application_name = 'tessera-liveness'",
    )
    .bind(&name)
    .fetch_all(&mut admin_db)
    .await
    .unwrap();
    assert_eq!(killed.len(), 2, "one listener per replica");

    // Revoked on A at once: B, its listener lost, asks the database.
    sign_out(&a, &first).await;
    let took = refused_after(&b, access(&first), Instant::now()).await;
    assert!(took < REVOCATION_BOUND, "refused after {took:?}");
    assert_eq!(view_state(&b).await, "fallback");
    // Still no listener a while later: still the database. B looks `second` up (live), then
    // it is revoked on A, unheard by B, which refuses it all the same.
    tokio::time::sleep(TRUST_WINDOW).await;
    assert_eq!(view_state(&b).await, "fallback");
    assert_eq!(b.verify(access(&second)).await, StatusCode::OK);
    sign_out(&a, &second).await;
    assert_eq!(b.verify(access(&second)).await, StatusCode::UNAUTHORIZED);

    sqlx::query(allow(true))
        .execute(&mut admin_db)
        .await
        .unwrap();
    wait_for_view(&b, "trusted").await;
    // What B looked up while it could not listen was forgotten when it listened again.
    for revoked in [&first, &second] {
        assert_eq!(b.verify(access(revoked)).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(b.verify(access(&third)).await, StatusCode::OK);
    sign_out(&a, &third).await;
    let took = refused_after(&b, access(&third), Instant::now()).await;
    assert!(
        took < REVOCATION_BOUND,
        "after the resync: refused after {took:?}"
    );
}

/// A second store on the same SQLite file, as the `tessera` CLI opens it from another
/// process.
async fn second_handle(app: &TestApp) -> Arc<dyn Store> {
    let env = test_env(app.db.url());
    let config = Config::from_lookup(&|var| env.get(var).cloned()).unwrap();
    tessera::store::connect(&config.database).await.unwrap()
}

/// SQLite: a revocation and a disable written by another process (the CLI) reach the
/// server's memory within its poll (50 ms), well inside the trust window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_changes_from_another_process_are_refused_within_the_poll() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    wait_for_view(&app, "trusted").await;
    let cli = second_handle(&app).await;
    let email = unique_email();
    let revoked = app.sign_up(&email).await;
    let kept = app.sign_in(&email).await;
    for session in [&revoked, &kept] {
        assert_eq!(app.verify(access(session)).await, StatusCode::OK);
    }

    let event = tessera::domain::sessions::event(
        app.clock.now(),
        "session-revoked",
        Some(user_id(&revoked)),
        None,
        &Default::default(),
        json!({ "by": "cli" }),
    );
    let session_id = crate::helpers::sid(access(&revoked));
    assert!(
        cli.revoke_session(session_id, user_id(&revoked), "admin", &event)
            .await
            .unwrap()
    );
    let took = refused_after(&app, access(&revoked), Instant::now()).await;
    println!("SQLite: revocation by another handle refused after {took:?}");
    assert!(took < Duration::from_millis(300), "refused after {took:?}");
    assert_eq!(app.verify(access(&kept)).await, StatusCode::OK);

    assert!(
        cli.set_user_disabled(user_id(&kept), true, app.clock.now())
            .await
            .unwrap()
    );
    let took = refused_after(&app, access(&kept), Instant::now()).await;
    println!("SQLite: disable by another handle refused after {took:?}");
    assert!(took < Duration::from_millis(300), "refused after {took:?}");
    cli.close().await;
}

/// A client of one replica reads its own writes there at once, never the feed's lag:
/// sign-out, a profile change, a password change (which ends the other sessions) and a
/// disable, each followed at once by `/token/verify` or `/user` on the same replica.
async fn a_replica_reads_its_own_writes_at_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_ADMIN_SECRET", SECRET)]).await;
    wait_for_view(&app, "trusted").await;
    let email = unique_email();
    let signed_out = app.sign_up(&email).await;
    let current = app.sign_in(&email).await;
    let other = app.sign_in(&email).await;
    for session in [&signed_out, &current, &other] {
        assert_eq!(app.verify(access(session)).await, StatusCode::OK);
        assert_eq!(get_user(&app, access(session)).await.0, StatusCode::OK);
    }

    sign_out(&app, &signed_out).await;
    assert_eq!(
        app.verify(access(&signed_out)).await,
        StatusCode::UNAUTHORIZED
    );

    let id = user_id(&current);
    let path = format!("/admin/users/{id}");
    let changed = admin(
        &app,
        Method::PATCH,
        &path,
        Some(json!({ "metadata": { "n": 2 } })),
    )
    .await;
    assert_eq!(changed, StatusCode::OK);
    let (status, user) = get_user(&app, access(&current)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["metadata"], json!({ "n": 2 }));

    let changed = app
        .client
        .post(app.url("/user/password"))
        .bearer_auth(access(&current))
        .json(&json!({ "newPassword": "another-Horse-battery-8", "currentPassword": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(app.verify(access(&other)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.verify(access(&current)).await, StatusCode::OK);

    let disabled = admin(&app, Method::POST, &format!("{path}/disable"), None).await;
    assert_eq!(disabled, StatusCode::OK);
    assert_eq!(
        get_user(&app, access(&current)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.verify(access(&current)).await, StatusCode::UNAUTHORIZED);
}

/// `TESSERA_SESSION_CACHE_SIZE=0`: no cache, no listener; every check asks the database.
async fn the_cache_can_be_turned_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_SESSION_CACHE_SIZE", "0")]).await;
    assert_eq!(view_state(&app).await, "off");
    let session = app.sign_up(&unique_email()).await;
    assert_eq!(app.verify(access(&session)).await, StatusCode::OK);
    assert_eq!(get_user(&app, access(&session)).await.0, StatusCode::OK);
    sign_out(&app, &session).await;
    assert_eq!(app.verify(access(&session)).await, StatusCode::UNAUTHORIZED);
}

both_backends!(
    a_replica_reads_its_own_writes_at_once,
    the_cache_can_be_turned_off
);
