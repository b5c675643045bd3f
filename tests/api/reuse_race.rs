//! Reuse detection when the successor is used while the reuse waits for the session lock.
//!
//! Postgres only: there the exchange locks the presented token and its session row, and a
//! caller that waited for the lock works on rows re-read after the wait but, in READ
//! COMMITTED, on anything else as its statement's snapshot saw it. SQLite serialises writers
//! (every exchange starts with an immediate write lock), so its exchange always reads the
//! database as committed and this interleaving cannot happen there.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, assert_error, audit_session, unique_email};

fn refresh_token(session: &Value) -> String {
    session["refreshToken"].as_str().unwrap().to_owned()
}

/// Waits until `n` other backends of this database wait for a lock. Polled on a connection
/// outside any transaction: `pg_stat_activity` is read once per transaction.
async fn wait_for_lock_waiters(monitor: &mut PgConnection, n: i64) {
    for _ in 0..1000 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut *monitor)
        .await
        .unwrap();
        if waiting >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{n} requests never queued for the session lock");
}

/// `POST /token` on a task of its own.
fn refresh_in_background(
    app: &TestApp,
    token: String,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let client = app.client.clone();
    let url = app.url("/token");
    tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({ "refreshToken": token }))
            .send()
            .await
            .unwrap()
    })
}

/// T0 was rotated to T1 a moment ago (inside the grace window). The owner rotates T1 while
/// an attacker presents T0; the attacker's statement starts before the owner's rotation
/// commits and is granted the lock after it. The attacker must see that T1 is used: a
/// reuse, not a replay of T1 (and then of the owner's live token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_is_detected_when_the_successor_is_used_while_waiting_for_the_lock() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let session = app.sign_up(&unique_email()).await;
    let session_id: Uuid = session["refreshTokenId"].as_str().unwrap().parse().unwrap();
    let t0 = refresh_token(&session);
    let first: Value = app.refresh(&t0).await.json().await.unwrap();
    audit_session(&first);
    let t1 = refresh_token(&first);

    // Hold the session row, which every exchange of this session locks.
    let mut holder = PgConnection::connect(app.db.url()).await.unwrap();
    let mut monitor = PgConnection::connect(app.db.url()).await.unwrap();
    let mut lock = holder.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE")
        .bind(session_id)
        .execute(&mut *lock)
        .await
        .unwrap();

    // The owner queues first (its one-statement rotation of the current T1 waits for the
    // session row), then the attacker (T0 is rotated, so the one-statement path passes it
    // by without locking; the locked path takes its snapshot now and queues behind the
    // owner). Row-lock waiters are granted in order, so once the holder lets go the owner
    // rotates T1 and commits before the attacker's statement goes on.
    let owner = refresh_in_background(&app, t1.clone());
    wait_for_lock_waiters(&mut monitor, 1).await;
    let attacker = refresh_in_background(&app, t0.clone());
    wait_for_lock_waiters(&mut monitor, 2).await;
    lock.commit().await.unwrap();

    let owner = owner.await.unwrap();
    assert_eq!(owner.status(), StatusCode::OK, "the owner rotates T1");
    let owners: Value = owner.json().await.unwrap();
    audit_session(&owners);
    let attacker = attacker.await.unwrap();
    if attacker.status() == StatusCode::OK {
        let body: Value = attacker.json().await.unwrap();
        audit_session(&body);
        panic!(
            "the attacker was handed a token (the used successor: {})",
            body["refreshToken"] == t1.as_str()
        );
    }
    assert_error(attacker, StatusCode::UNAUTHORIZED, "refresh-token-reused").await;

    // The whole session is revoked: the owner's newest token is dead too.
    assert_error(
        app.refresh(&refresh_token(&owners)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
    let events = app.store.events(None, 50).await.unwrap();
    let reuse = events
        .iter()
        .find(|e| e.kind == "refresh-token-reused")
        .expect("a security event");
    assert_eq!(reuse.session_id, Some(session_id));
    assert_eq!(reuse.detail["cause"], "successor-already-used");
}
