//! Refresh-token rotation, reuse detection, expiry and sign-out, over HTTP on both stores.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::support::clock::Clock;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_error, sid, simultaneous_posts, unique_email};

fn refresh_token(session: &Value) -> String {
    session["refreshToken"].as_str().unwrap().to_owned()
}

fn access_token(session: &Value) -> String {
    session["accessToken"].as_str().unwrap().to_owned()
}

async fn rotation_issues_a_new_token_in_the_same_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let response = app.refresh(&refresh_token(&session)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let rotated: Value = response.json().await.unwrap();
    assert_ne!(rotated["refreshToken"], session["refreshToken"]);
    assert_eq!(
        rotated["refreshTokenId"], session["refreshTokenId"],
        "same session id"
    );
    assert_eq!(
        sid(&access_token(&rotated)).to_string(),
        session["refreshTokenId"].as_str().unwrap()
    );
    assert_eq!(rotated["user"]["id"], session["user"]["id"]);
    assert_eq!(rotated["accessTokenExpiresIn"], 3600);
    assert_eq!(app.verify(&access_token(&rotated)).await, StatusCode::OK);

    // The newest token keeps working after the grace window of the old one has passed.
    app.clock.advance(Duration::from_secs(31));
    let newer: Value = app
        .refresh(&refresh_token(&rotated))
        .await
        .json()
        .await
        .unwrap();
    assert!(newer["refreshToken"].is_string());
}

async fn without_a_grace_window_the_old_token_is_refused_at_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_REFRESH_REUSE_GRACE", "0")]).await;
    let session = app.sign_up(&unique_email()).await;
    let rotated: Value = app
        .refresh(&refresh_token(&session))
        .await
        .json()
        .await
        .unwrap();
    let reuse = app.refresh(&refresh_token(&session)).await;
    assert_error(reuse, StatusCode::UNAUTHORIZED, "refresh-token-reused").await;
    let newest = app.refresh(&refresh_token(&rotated)).await;
    assert_error(newest, StatusCode::UNAUTHORIZED, "invalid-refresh-token").await;
}

async fn a_retry_inside_the_grace_window_gets_the_identical_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let first: Value = app
        .refresh(&refresh_token(&session))
        .await
        .json()
        .await
        .unwrap();
    // The response was "lost"; the client retries with the token it still has.
    app.clock.advance(Duration::from_secs(29));
    let retry = app.refresh(&refresh_token(&session)).await;
    assert_eq!(retry.status(), StatusCode::OK);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(
        retry["refreshToken"], first["refreshToken"],
        "the same successor"
    );
    assert_eq!(
        app.verify(&access_token(&retry)).await,
        StatusCode::OK,
        "and a fresh access token"
    );
    // And the successor works normally afterwards.
    let next = app.refresh(&refresh_token(&retry)).await;
    assert_eq!(next.status(), StatusCode::OK);
}

async fn reuse_after_the_grace_window_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let stolen = refresh_token(&session);
    let rotated: Value = app.refresh(&stolen).await.json().await.unwrap();
    app.clock.advance(Duration::from_secs(31));

    assert_error(
        app.refresh(&stolen).await,
        StatusCode::UNAUTHORIZED,
        "refresh-token-reused",
    )
    .await;
    // The whole session is gone: the legitimate newest token fails too...
    assert_error(
        app.refresh(&refresh_token(&rotated)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
    // ...and /token/verify reports the session dead.
    assert_eq!(
        app.verify(&access_token(&rotated)).await,
        StatusCode::UNAUTHORIZED
    );
    let events = app.store.events(None, 50).await.unwrap();
    let reuse = events
        .iter()
        .find(|e| e.kind == "refresh-token-reused")
        .expect("a security event");
    assert_eq!(
        reuse.session_id.unwrap().to_string(),
        session["refreshTokenId"].as_str().unwrap()
    );
    assert_eq!(reuse.detail["cause"], "outside-grace-window");
    assert!(
        !reuse.detail.to_string().contains(&stolen),
        "no token in the event"
    );
}

async fn reusing_a_token_whose_successor_was_used_revokes_even_in_the_grace_window(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let second: Value = app
        .refresh(&refresh_token(&session))
        .await
        .json()
        .await
        .unwrap();
    let third = app.refresh(&refresh_token(&second)).await;
    assert_eq!(third.status(), StatusCode::OK);
    let third: Value = third.json().await.unwrap();
    assert_error(
        app.refresh(&refresh_token(&session)).await,
        StatusCode::UNAUTHORIZED,
        "refresh-token-reused",
    )
    .await;
    assert_eq!(
        app.verify(&access_token(&third)).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn twenty_concurrent_refreshes_make_one_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let token = refresh_token(&session);
    let session_id: uuid::Uuid = session["refreshTokenId"].as_str().unwrap().parse().unwrap();

    let results = simultaneous_posts(
        &app.address,
        "/token",
        &json!({ "refreshToken": token }),
        20,
    )
    .await;
    let mut successors = HashSet::new();
    for (status, body) in results {
        assert!(status < 500, "never a 5xx: {status} {body}");
        if status == 200 {
            successors.insert(body["refreshToken"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(
                body["error"], "invalid-refresh-token",
                "a refusal never revokes: {body}"
            );
        }
    }
    assert_eq!(successors.len(), 1, "every caller got the same successor");
    let live = app
        .scalar(
            "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1 AND rotated_at IS NULL",
            session_id,
        )
        .await;
    assert_eq!(live, 1, "exactly one live refresh token in the database");
    let all = app
        .scalar(
            "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1",
            session_id,
        )
        .await;
    assert_eq!(all, 2, "no orphan successors");
    let successor = successors.into_iter().next().unwrap();
    assert_eq!(
        app.refresh(&successor).await.status(),
        StatusCode::OK,
        "session still live"
    );
}

async fn sessions_expire_after_the_refresh_ttl_and_slide_on_use(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_REFRESH_TOKEN_TTL", "1d")]).await;
    let session = app.sign_up(&unique_email()).await;
    app.clock.advance(Duration::from_secs(86_400 - 60));
    let slid: Value = app
        .refresh(&refresh_token(&session))
        .await
        .json()
        .await
        .unwrap();
    // Used just before expiry: the session slides another day.
    app.clock.advance(Duration::from_secs(86_400 - 60));
    let slid_again = app.refresh(&refresh_token(&slid)).await;
    assert_eq!(slid_again.status(), StatusCode::OK);
    let slid_again: Value = slid_again.json().await.unwrap();
    // Unused for a whole day: expired.
    app.clock.advance(Duration::from_secs(86_400));
    assert_error(
        app.refresh(&refresh_token(&slid_again)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
}

async fn the_absolute_cap_is_never_extended(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_REFRESH_TOKEN_TTL", "1d"),
            ("TESSERA_SESSION_MAX_AGE", "2d"),
        ],
    )
    .await;
    let mut session = app.sign_up(&unique_email()).await;
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(12 * 3600));
        session = app
            .refresh(&refresh_token(&session))
            .await
            .json()
            .await
            .unwrap();
    }
    // 36h in, refreshed every 12h; the cap is at 48h whatever the sliding expiry says.
    app.clock.advance(Duration::from_secs(12 * 3600));
    assert_error(
        app.refresh(&refresh_token(&session)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
}

async fn sign_out_ends_the_session_and_is_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let body = json!({ "refreshToken": refresh_token(&session) });
    for _ in 0..2 {
        let response = app.post_json("/signout", &body).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.json::<Value>().await.unwrap(), json!("OK"));
    }
    assert_error(
        app.refresh(&refresh_token(&session)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
    assert_eq!(
        app.verify(&access_token(&session)).await,
        StatusCode::UNAUTHORIZED
    );
    // No body at all, or a token that never existed: still 200.
    let empty = app.client.post(app.url("/signout")).send().await.unwrap();
    assert_eq!(empty.status(), StatusCode::OK);
    let unknown = app
        .post_json("/signout", &json!({ "refreshToken": "x".repeat(43) }))
        .await;
    assert_eq!(unknown.status(), StatusCode::OK);
}

async fn sign_out_with_an_expired_access_token_revokes_its_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    app.clock.advance(Duration::from_secs(7200));
    let response = app
        .client
        .post(app.url("/signout"))
        .bearer_auth(access_token(&session))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_error(
        app.refresh(&refresh_token(&session)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
}

async fn sign_out_all_ends_every_session_of_the_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    let phone = app.sign_up(&email).await;
    let laptop = app.sign_in(&email).await;
    let other_user = app.sign_up(&unique_email()).await;
    let response = app
        .post_json(
            "/signout",
            &json!({ "refreshToken": refresh_token(&laptop), "all": true }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    for session in [&phone, &laptop] {
        assert_eq!(
            app.refresh(&refresh_token(session)).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.refresh(&refresh_token(&other_user)).await.status(),
        StatusCode::OK
    );
}

async fn users_list_and_revoke_their_own_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    let first = app.sign_up(&email).await;
    let second = app.sign_in(&email).await;
    let stranger = app.sign_up(&unique_email()).await;

    let listed: Value = app
        .client
        .get(app.url("/user/sessions"))
        .bearer_auth(access_token(&second))
        .header("user-agent", "test-browser/1.0")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], second["refreshTokenId"]);
    for s in sessions {
        for field in ["id", "createdAt", "lastUsedAt", "userAgent", "ip"] {
            assert!(s.get(field).is_some(), "{field} in {s}");
        }
        assert_eq!(s["ip"], "127.0.0.1");
    }

    // Another user's session is not ours to revoke: 404, and it stays alive.
    let foreign = app
        .client
        .delete(app.url(&format!(
            "/user/sessions/{}",
            stranger["refreshTokenId"].as_str().unwrap()
        )))
        .bearer_auth(access_token(&second))
        .send()
        .await
        .unwrap();
    assert_error(foreign, StatusCode::NOT_FOUND, "session-not-found").await;
    assert_eq!(
        app.refresh(&refresh_token(&stranger)).await.status(),
        StatusCode::OK
    );

    let revoke = app
        .client
        .delete(app.url(&format!(
            "/user/sessions/{}",
            first["refreshTokenId"].as_str().unwrap()
        )))
        .bearer_auth(access_token(&second))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    assert_eq!(
        app.refresh(&refresh_token(&first)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&refresh_token(&second)).await.status(),
        StatusCode::OK
    );
}

async fn disabled_users_cannot_sign_in_or_refresh(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let user_id = session["user"]["id"].as_str().unwrap().parse().unwrap();
    app.store
        .set_user_disabled(user_id, true, app.clock.now())
        .await
        .unwrap();
    assert_error(
        app.refresh(&refresh_token(&session)).await,
        StatusCode::UNAUTHORIZED,
        "disabled-user",
    )
    .await;
    let sign_in = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": crate::helpers::PASSWORD }),
        )
        .await;
    assert_error(sign_in, StatusCode::UNAUTHORIZED, "disabled-user").await;
    assert_eq!(
        app.verify(&access_token(&session)).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn refresh_tokens_are_stored_only_as_hashes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let token = refresh_token(&session);
    // 73 bytes in base64url: a version, the session id, the generation, 256 random bits
    // and a 128-bit tag.
    assert_eq!(token.len(), 98);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let session_id: uuid::Uuid = session["refreshTokenId"].as_str().unwrap().parse().unwrap();
    let hashed = app
        .scalar(
            "SELECT COUNT(*) FROM refresh_tokens WHERE session_id = $1 AND length(token_hash) = 32",
            session_id,
        )
        .await;
    assert_eq!(hashed, 1);
    let stored = app
        .store
        .session_by_refresh_token(token.as_bytes())
        .await
        .unwrap();
    assert!(
        stored.is_none(),
        "the token itself is not a key into the table"
    );
    let by_hash = app
        .store
        .session_by_refresh_token(&tessera::domain::sessions::hash_refresh_token(&token))
        .await
        .unwrap();
    assert_eq!(by_hash.unwrap().id, session_id);
}

async fn malformed_refresh_requests_get_the_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for token in ["", "short", &"é".repeat(43), &"a".repeat(5000)] {
        assert_error(
            app.refresh(token).await,
            StatusCode::UNAUTHORIZED,
            "invalid-refresh-token",
        )
        .await;
    }
    let missing = app.post_json("/token", &json!({})).await;
    assert_error(missing, StatusCode::BAD_REQUEST, "invalid-request").await;
    let mistyped = app
        .post_json("/token", &json!({ "refreshToken": 42 }))
        .await;
    assert_error(mistyped, StatusCode::BAD_REQUEST, "invalid-request").await;
}

/// Tessera remembers access tokens that verified (by their hash) and skips the ECDSA check
/// when one comes again: a remembered token must still expire on time, and only the exact
/// token may hit.
async fn a_remembered_access_token_still_expires_and_only_the_exact_token_hits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let token = access_token(&session);
    for _ in 0..3 {
        assert_eq!(app.verify(&token).await, StatusCode::OK);
    }
    // The same header and claims under another signature: never the remembered answer.
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut forged: Vec<char> = signature.chars().collect();
    forged[10] = if forged[10] == 'A' { 'B' } else { 'A' };
    let forged = format!("{signed}.{}", forged.into_iter().collect::<String>());
    assert_eq!(app.verify(&forged).await, StatusCode::UNAUTHORIZED);
    // One second before `exp` it still verifies; at `exp` it does not.
    app.clock.advance(Duration::from_secs(3599));
    assert_eq!(app.verify(&token).await, StatusCode::OK);
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.verify(&token).await, StatusCode::UNAUTHORIZED);
}

both_backends!(
    rotation_issues_a_new_token_in_the_same_session,
    without_a_grace_window_the_old_token_is_refused_at_once,
    a_retry_inside_the_grace_window_gets_the_identical_successor,
    reuse_after_the_grace_window_revokes_the_session,
    reusing_a_token_whose_successor_was_used_revokes_even_in_the_grace_window,
    twenty_concurrent_refreshes_make_one_successor,
    sessions_expire_after_the_refresh_ttl_and_slide_on_use,
    the_absolute_cap_is_never_extended,
    sign_out_ends_the_session_and_is_idempotent,
    sign_out_with_an_expired_access_token_revokes_its_session,
    sign_out_all_ends_every_session_of_the_user,
    users_list_and_revoke_their_own_sessions,
    disabled_users_cannot_sign_in_or_refresh,
    refresh_tokens_are_stored_only_as_hashes,
    malformed_refresh_requests_get_the_envelope,
    a_remembered_access_token_still_expires_and_only_the_exact_token_hits,
);
