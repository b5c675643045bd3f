//! Refresh-token generations, as a client sees them: a session keeps two token rows however
//! often it refreshes, reuse of any earlier token still revokes it, a forged token harms
//! nobody, and tokens issued before generations keep working.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, assert_error, unique_email};

fn refresh_token(session: &Value) -> String {
    session["refreshToken"].as_str().unwrap().to_owned()
}

fn access_token(session: &Value) -> String {
    session["accessToken"].as_str().unwrap().to_owned()
}

fn session_id(session: &Value) -> Uuid {
    session["refreshTokenId"].as_str().unwrap().parse().unwrap()
}

const ROWS: &str = "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1";

/// Refreshes with `token` and returns the new session.
async fn refreshed(app: &TestApp, token: &str) -> Value {
    let response = app.refresh(token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn a_session_keeps_two_token_rows_however_often_it_refreshes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.sign_up(&unique_email()).await;
    let id = session_id(&first);
    assert_eq!(app.scalar(ROWS, id).await, 1);
    let mut session = first;
    for refresh in 1..=100 {
        app.clock.advance(Duration::from_secs(60));
        session = refreshed(&app, &refresh_token(&session)).await;
        assert_eq!(session_id(&session), id, "the same session");
        if refresh == 1 || refresh % 25 == 0 {
            assert_eq!(app.scalar(ROWS, id).await, 2, "after {refresh} refreshes");
        }
    }
    assert_eq!(
        app.verify(&access_token(&session)).await,
        StatusCode::OK,
        "still signed in"
    );
}

async fn reuse_of_any_earlier_token_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.sign_up(&unique_email()).await;
    let mut tokens = vec![refresh_token(&first)];
    let mut session = first;
    for _ in 0..5 {
        app.clock.advance(Duration::from_secs(60));
        session = refreshed(&app, tokens.last().unwrap()).await;
        tokens.push(refresh_token(&session));
    }
    // The first token's row was deleted four rotations ago; it is still recognised.
    assert_error(
        app.refresh(&tokens[0]).await,
        StatusCode::UNAUTHORIZED,
        "refresh-token-reused",
    )
    .await;
    assert_error(
        app.refresh(tokens.last().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
    assert_eq!(
        app.verify(&access_token(&session)).await,
        StatusCode::UNAUTHORIZED
    );
    let events = app.store.events(None, 50).await.unwrap();
    let reuse = events
        .iter()
        .find(|e| e.kind == "refresh-token-reused")
        .expect("a security event");
    assert_eq!(reuse.session_id, Some(session_id(&session)));
    assert!(reuse.user_id.is_some(), "the event names the user");
    assert_eq!(reuse.detail["cause"], "earlier-generation");
    assert_eq!(reuse.detail["generation"], 1);
    // A second presentation changes nothing more.
    assert_error(
        app.refresh(&tokens[1]).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
}

async fn a_forged_token_is_refused_and_harms_nobody(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.sign_up(&unique_email()).await;
    app.clock.advance(Duration::from_secs(60));
    let second = refreshed(&app, &refresh_token(&first)).await;
    let current = refresh_token(&second);
    let bytes = URL_SAFE_NO_PAD.decode(&current).unwrap();
    // The same session, an earlier generation, the tag left as it was: were the tag not
    // checked, this would revoke the session (reuse).
    let mut earlier = bytes.clone();
    earlier[24] -= 1;
    // A tag guessed wrong.
    let mut retagged = bytes.clone();
    *retagged.last_mut().unwrap() ^= 0x80;
    for forged in [earlier, retagged] {
        let forged = URL_SAFE_NO_PAD.encode(&forged);
        assert_error(
            app.refresh(&forged).await,
            StatusCode::UNAUTHORIZED,
            "invalid-refresh-token",
        )
        .await;
        // Nor does a forged token sign anyone out.
        let signed_out = app
            .post_json("/signout", &json!({ "refreshToken": forged }))
            .await;
        assert_eq!(signed_out.status(), StatusCode::OK);
    }
    assert_eq!(app.verify(&access_token(&second)).await, StatusCode::OK);
    assert!(
        app.store
            .events(None, 50)
            .await
            .unwrap()
            .iter()
            .all(|e| e.kind != "refresh-token-reused"),
        "no reuse recorded"
    );
    app.clock.advance(Duration::from_secs(60));
    refreshed(&app, &current).await;
}

async fn signing_out_with_an_earlier_token_ends_its_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.sign_up(&unique_email()).await;
    let mut session = first.clone();
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(60));
        session = refreshed(&app, &refresh_token(&session)).await;
    }
    let signed_out = app
        .post_json(
            "/signout",
            &json!({ "refreshToken": refresh_token(&first) }),
        )
        .await;
    assert_eq!(signed_out.status(), StatusCode::OK);
    assert_eq!(
        app.verify(&access_token(&session)).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Makes the session's only token row look as a build before generations left it: the hash
/// of a 43-character token, no generation. Returns that token.
async fn make_legacy(app: &TestApp, session: Uuid) -> String {
    let random = [*Uuid::new_v4().as_bytes(), *Uuid::new_v4().as_bytes()].concat();
    let legacy = URL_SAFE_NO_PAD.encode(random);
    let hash = tessera::domain::sessions::hash_refresh_token(&legacy);
    match app.backend {
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.db.url()).await.unwrap();
            let done = sqlx::query(
                "UPDATE refresh_tokens SET token_hash = $2, generation = NULL WHERE session_id = $1",
            )
            .bind(session)
            .bind(hash)
            .execute(&pool)
            .await
            .unwrap();
            assert_eq!(done.rows_affected(), 1);
            pool.close().await;
        }
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(app.db.url()).await.unwrap();
            let done = sqlx::query(
                "UPDATE refresh_tokens SET token_hash = ?2, generation = NULL WHERE session_id = ?1",
            )
            .bind(session)
            .bind(hash)
            .execute(&pool)
            .await
            .unwrap();
            assert_eq!(done.rows_affected(), 1);
            pool.close().await;
        }
    }
    legacy
}

async fn tokens_issued_before_generations_keep_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.sign_up(&unique_email()).await;
    let id = session_id(&first);
    let legacy = make_legacy(&app, id).await;
    app.clock.advance(Duration::from_secs(60));
    let second = refreshed(&app, &legacy).await;
    assert_eq!(session_id(&second), id, "nobody is signed out");
    assert_eq!(
        refresh_token(&second).len(),
        98,
        "the successor has a generation"
    );
    // A retry inside the grace window gets the same successor, as before.
    let retry = refreshed(&app, &legacy).await;
    assert_eq!(refresh_token(&retry), refresh_token(&second));
    let mut session = second;
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(60));
        session = refreshed(&app, &refresh_token(&session)).await;
    }
    // The legacy row stays while its token is unexpired: only it can detect its reuse.
    assert_eq!(app.scalar(ROWS, id).await, 3);
    assert_error(
        app.refresh(&legacy).await,
        StatusCode::UNAUTHORIZED,
        "refresh-token-reused",
    )
    .await;
    assert_eq!(
        app.verify(&access_token(&session)).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn an_expired_legacy_row_is_pruned_by_the_next_rotation(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_REFRESH_TOKEN_TTL", "1h")]).await;
    let first = app.sign_up(&unique_email()).await;
    let id = session_id(&first);
    let legacy = make_legacy(&app, id).await;
    app.clock.advance(Duration::from_secs(60));
    let mut session = refreshed(&app, &legacy).await;
    // Sliding expiry keeps the session alive past the legacy token's own hour.
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(30 * 60));
        session = refreshed(&app, &refresh_token(&session)).await;
    }
    assert_eq!(
        app.scalar(ROWS, id).await,
        2,
        "the expired legacy row is gone"
    );
    assert_error(
        app.refresh(&legacy).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
    assert_eq!(app.verify(&access_token(&session)).await, StatusCode::OK);
}

crate::both_backends!(
    a_session_keeps_two_token_rows_however_often_it_refreshes,
    reuse_of_any_earlier_token_revokes_the_session,
    a_forged_token_is_refused_and_harms_nobody,
    signing_out_with_an_earlier_token_ends_its_session,
    tokens_issued_before_generations_keep_working,
    an_expired_legacy_row_is_pruned_by_the_next_rotation,
);
