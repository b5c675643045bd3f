//! The admin API, the security event log and its retention, and the admin CLI.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera::support::clock::Clock;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, unique_email};

const SECRET: &str = "an-admin-secret-of-at-least-32-characters";

async fn admin_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[("TESSERA_ADMIN_SECRET", SECRET)]).await
}

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("x-tessera-admin-secret", SECRET);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn events_of(app: &TestApp, query: &str) -> Vec<Value> {
    let body: Value = admin(app, Method::GET, &format!("/admin/events?{query}"), None)
        .await
        .json()
        .await
        .unwrap();
    body["events"].as_array().unwrap().clone()
}

async fn every_admin_route_refuses_a_missing_or_wrong_secret(backend: Backend) {
    let app = admin_app(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let id = session["user"]["id"].as_str().unwrap().to_owned();
    let sid = session["refreshTokenId"].as_str().unwrap().to_owned();
    let keys_before = app.store.signing_keys().await.unwrap().len();
    let kid = app.store.signing_keys().await.unwrap()[0].kid.clone();
    let routes = [
        (Method::GET, "/admin/users".to_owned(), None),
        (
            Method::POST,
            "/admin/users".to_owned(),
            Some(json!({ "email": unique_email() })),
        ),
        (Method::GET, format!("/admin/users/{id}"), None),
        (
            Method::PATCH,
            format!("/admin/users/{id}"),
            Some(json!({ "displayName": "hacked" })),
        ),
        (Method::DELETE, format!("/admin/users/{id}"), None),
        (Method::POST, format!("/admin/users/{id}/disable"), None),
        (Method::POST, format!("/admin/users/{id}/enable"), None),
        (Method::GET, format!("/admin/users/{id}/sessions"), None),
        (Method::DELETE, format!("/admin/users/{id}/sessions"), None),
        (
            Method::DELETE,
            format!("/admin/users/{id}/sessions/{sid}"),
            None,
        ),
        (Method::GET, "/admin/keys".to_owned(), None),
        (Method::POST, "/admin/keys/rotate".to_owned(), None),
        (Method::POST, format!("/admin/keys/{kid}/revoke"), None),
        (Method::GET, "/admin/events".to_owned(), None),
    ];
    let wrong = [
        None,
        Some(""),
        Some("an-admin-secret-of-at-least-32-characterz"),
        Some("short"),
    ];
    for (method, path, body) in &routes {
        for secret in wrong {
            let mut request = app.client.request(method.clone(), app.url(path));
            if let Some(secret) = secret {
                request = request.header("x-tessera-admin-secret", secret);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            assert_error(response, StatusCode::UNAUTHORIZED, "invalid-admin-secret").await;
        }
    }
    // No side effect: same user, same name, enabled, session alive, no new key, no new user.
    let user: Value = admin(&app, Method::GET, &format!("/admin/users/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["displayName"], session["user"]["displayName"]);
    assert_eq!(user["disabled"], false);
    assert_eq!(
        app.refresh(session["refreshToken"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(app.store.signing_keys().await.unwrap().len(), keys_before);
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["keys"][0]["kid"],
        kid.as_str(),
        "the key is not revoked"
    );
    let users: Value = admin(&app, Method::GET, "/admin/users", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
}

async fn without_a_secret_there_is_no_admin_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = admin(&app, Method::GET, "/admin/users", None).await;
    assert_error(response, StatusCode::NOT_FOUND, "not-found").await;
}

async fn disabling_ends_every_session_at_once(backend: Backend) {
    let app = admin_app(backend).await;
    let email = unique_email();
    let first = app.sign_up(&email).await;
    let second = app.sign_in(&email).await;
    let id = first["user"]["id"].as_str().unwrap();
    let disabled = admin(
        &app,
        Method::POST,
        &format!("/admin/users/{id}/disable"),
        None,
    )
    .await;
    assert_eq!(disabled.json::<Value>().await.unwrap()["disabled"], true);
    for session in [&first, &second] {
        assert_eq!(
            app.refresh(session["refreshToken"].as_str().unwrap())
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.verify(session["accessToken"].as_str().unwrap()).await,
            StatusCode::UNAUTHORIZED
        );
    }
    let sign_in = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_error(sign_in, StatusCode::UNAUTHORIZED, "disabled-user").await;
    admin(
        &app,
        Method::POST,
        &format!("/admin/users/{id}/enable"),
        None,
    )
    .await;
    assert_eq!(app.sign_in(&email).await["user"]["id"], id, "enabled again");
    assert_eq!(
        app.refresh(second["refreshToken"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "enabling does not bring ended sessions back"
    );
}

async fn deleting_a_user_leaves_no_rows_behind(backend: Backend) {
    let app = admin_app(backend).await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    app.sign_in(&email).await;
    app.refresh(session["refreshToken"].as_str().unwrap()).await;
    app.post_json("/user/password/reset", &json!({ "email": email }))
        .await; // a ticket
    let id: uuid::Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();
    let delete = admin(&app, Method::DELETE, &format!("/admin/users/{id}"), None).await;
    assert_eq!(delete.status(), StatusCode::OK);
    for sql in [
        "SELECT COUNT(*) FROM users WHERE id = $1",
        "SELECT COUNT(*) FROM sessions WHERE user_id = $1",
        "SELECT COUNT(*) FROM tickets WHERE user_id = $1",
        "SELECT COUNT(*) FROM security_events WHERE user_id = $1",
        "SELECT COUNT(*) FROM refresh_tokens t WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = t.session_id) OR $1 IS NULL",
    ] {
        assert_eq!(app.scalar(sql, id).await, 0, "{sql}");
    }
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM refresh_tokens WHERE $1 IS NOT NULL",
            id
        )
        .await,
        0
    );
    let gone = admin(&app, Method::GET, &format!("/admin/users/{id}"), None).await;
    assert_error(gone, StatusCode::NOT_FOUND, "user-not-found").await;
    assert_eq!(
        app.refresh(session["refreshToken"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let audit = events_of(&app, "kind=admin-action").await;
    assert!(audit.iter().any(
        |e| e["detail"]["action"] == "user-deleted" && e["detail"]["userId"] == id.to_string()
    ));
}

async fn pagination_is_stable_while_users_are_added(backend: Backend) {
    let app = admin_app(backend).await;
    let mut expected = HashSet::new();
    for _ in 0..25 {
        app.clock.advance(Duration::from_millis(10));
        expected.insert(
            app.sign_up(&unique_email()).await["user"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/users?limit=10&cursor={c}"),
            None => "/admin/users?limit=10".to_owned(),
        };
        let page: Value = admin(&app, Method::GET, &path, None)
            .await
            .json()
            .await
            .unwrap();
        seen.extend(
            page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        if pages == 1 {
            // New users arrive while the listing is under way.
            for _ in 0..5 {
                app.clock.advance(Duration::from_millis(10));
                expected.insert(
                    app.sign_up(&unique_email()).await["user"]["id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no user listed twice");
    assert_eq!(
        unique, expected,
        "every user listed, including those added meanwhile"
    );
    let bad = admin(&app, Method::GET, "/admin/users?cursor=not-a-cursor", None).await;
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid-request").await;
    let marked = format!("findme-{}", uuid::Uuid::new_v4().simple());
    app.sign_up(&format!("{marked}@example.com")).await;
    let search: Value = admin(
        &app,
        Method::GET,
        &format!("/admin/users?search={}", marked.to_uppercase()),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        search["users"].as_array().unwrap().len(),
        1,
        "case-insensitive search"
    );
    let wildcard: Value = admin(&app, Method::GET, "/admin/users?search=%25", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        wildcard["users"].as_array().unwrap().len(),
        0,
        "% is a character, not a wildcard"
    );
}

async fn admins_create_update_and_manage_sessions(backend: Backend) {
    let app = admin_app(backend).await;
    let email = unique_email();
    let created = admin(
        &app,
        Method::POST,
        "/admin/users",
        Some(json!({ "email": email, "password": PASSWORD, "emailVerified": true,
                     "roles": ["user", "editor"], "defaultRole": "editor", "metadata": { "team": "a" } })),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        (
            created["emailVerified"].clone(),
            created["defaultRole"].clone()
        ),
        (json!(true), json!("editor"))
    );
    let session = app.sign_in(&email).await;
    let claims =
        jsonwebtoken::dangerous::insecure_decode::<Value>(session["accessToken"].as_str().unwrap())
            .unwrap()
            .claims;
    assert_eq!(
        claims["https://hasura.io/jwt/claims"]["x-hasura-default-role"],
        "editor"
    );

    let id = created["id"].as_str().unwrap();
    let bad = admin(
        &app,
        Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(json!({ "roles": ["user"], "defaultRole": "admin" })),
    )
    .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid-request").await;
    let updated: Value = admin(
        &app,
        Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(json!({ "displayName": "Ada", "roles": ["user", "admin"], "defaultRole": "admin" })),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(updated["displayName"], "Ada");
    let refreshed: Value = app
        .refresh(session["refreshToken"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        refreshed["user"]["roles"],
        json!(["user", "admin"]),
        "roles reach the next token"
    );

    let passwordless = admin(
        &app,
        Method::POST,
        "/admin/users",
        Some(json!({ "email": unique_email() })),
    )
    .await;
    assert_eq!(
        passwordless.status(),
        StatusCode::CREATED,
        "a user without a password"
    );
    let duplicate = admin(
        &app,
        Method::POST,
        "/admin/users",
        Some(json!({ "email": email.to_uppercase() })),
    )
    .await;
    assert_error(duplicate, StatusCode::CONFLICT, "email-already-in-use").await;

    let sessions: Value = admin(
        &app,
        Method::GET,
        &format!("/admin/users/{id}/sessions"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
    let sid = sessions["sessions"][0]["id"].as_str().unwrap();
    let revoke = admin(
        &app,
        Method::DELETE,
        &format!("/admin/users/{id}/sessions/{sid}"),
        None,
    )
    .await;
    assert_eq!(revoke.status(), StatusCode::OK);
    assert_eq!(
        app.refresh(refreshed["refreshToken"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let revoked = events_of(&app, &format!("kind=session-revoked&userId={id}")).await;
    assert_eq!(revoked[0]["detail"]["by"], "admin");

    let rotate: Value = admin(&app, Method::POST, "/admin/keys/rotate", None)
        .await
        .json()
        .await
        .unwrap();
    let keys: Value = admin(&app, Method::GET, "/admin/keys", None)
        .await
        .json()
        .await
        .unwrap();
    let states: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["active", "published"]);
    assert_eq!(keys["keys"][1]["kid"], rotate["kid"]);
}

async fn each_event_kind_is_recorded_by_its_action(backend: Backend) {
    let app = admin_app(backend).await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let id = session["user"]["id"].as_str().unwrap().to_owned();
    app.post_json(
        "/signin/email-password",
        &json!({ "email": email, "password": "Wrong-password-77" }),
    )
    .await;
    let laptop = app.sign_in(&email).await;
    // Reuse outside the grace window.
    let rotated: Value = app
        .refresh(laptop["refreshToken"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    app.clock.advance(Duration::from_secs(31));
    app.refresh(laptop["refreshToken"].as_str().unwrap()).await;
    let _ = rotated;
    app.client
        .post(app.url("/user/password"))
        .bearer_auth(session["accessToken"].as_str().unwrap())
        .json(&json!({ "newPassword": "another-Strong-passphrase-4" }))
        .send()
        .await
        .unwrap();
    app.post_json(
        "/signout",
        &json!({ "refreshToken": session["refreshToken"] }),
    )
    .await;
    admin(
        &app,
        Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(json!({ "displayName": "X" })),
    )
    .await;
    admin(
        &app,
        Method::POST,
        &format!("/admin/users/{id}/disable"),
        None,
    )
    .await;

    let events = events_of(&app, &format!("userId={id}&limit=200")).await;
    let kinds: HashSet<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in [
        "signup",
        "signin-failed",
        "signin-succeeded",
        "refresh-token-reused",
        "password-changed",
        "session-revoked",
        "admin-action",
        "user-disabled",
    ] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
    let reuse = events
        .iter()
        .find(|e| e["kind"] == "refresh-token-reused")
        .unwrap();
    assert_eq!(reuse["detail"]["cause"], "outside-grace-window");
    for event in &events {
        assert!(
            event["occurredAt"].is_string() && event["ip"] == "127.0.0.1",
            "{event}"
        );
        let text = event.to_string();
        assert!(
            !text.contains(PASSWORD) && !text.contains(session["refreshToken"].as_str().unwrap()),
            "no secret: {text}"
        );
    }
    // Filters: kind, and a time range that excludes everything.
    let failed = events_of(&app, "kind=signin-failed").await;
    assert_eq!(failed.len(), 1);
    let future = (app.clock.now() + Duration::from_secs(3600))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(
        events_of(&app, &format!("since={}", future.replace('+', "%2B")))
            .await
            .is_empty()
    );
    // Cursor pagination over events.
    let page: Value = admin(&app, Method::GET, "/admin/events?limit=2", None)
        .await
        .json()
        .await
        .unwrap();
    let cursor = page["nextCursor"].as_str().unwrap();
    let next: Value = admin(
        &app,
        Method::GET,
        &format!("/admin/events?limit=2&cursor={cursor}"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(next["events"][0]["id"].as_i64().unwrap() < page["events"][1]["id"].as_i64().unwrap());
}

async fn old_events_are_pruned_in_batches(backend: Backend) {
    let app = admin_app(backend).await;
    for _ in 0..3 {
        app.sign_up(&unique_email()).await;
    }
    app.clock.advance(Duration::from_secs(91 * 86_400));
    let recent = app.sign_up(&unique_email()).await;
    let pruned = tessera::domain::upkeep::prune_events(
        app.store.as_ref(),
        &app.clock,
        Duration::from_secs(90 * 86_400),
    )
    .await
    .unwrap();
    assert_eq!(
        pruned, 6,
        "three sign-ups and three sign-ins, older than 90 days"
    );
    let left = app.store.events(None, 100).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(
        left.iter()
            .all(|e| e.user_id.unwrap().to_string() == recent["user"]["id"].as_str().unwrap())
    );
    assert_eq!(
        tessera::domain::upkeep::prune_events(app.store.as_ref(), &app.clock, Duration::ZERO)
            .await
            .unwrap(),
        0,
        "zero retention keeps everything"
    );
}

/// Found by schemathesis: `-1.7976931348623155e+308` was stored as the f64 next to it, which
/// serde_json's default (fast, not correctly rounded) parser then read back as out of range,
/// so the user could never be read again (500 on every read and update).
async fn metadata_numbers_at_the_edges_of_f64_read_back_as_written(backend: Backend) {
    let app = admin_app(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let id = session["user"]["id"].as_str().unwrap().to_owned();
    let metadata = json!({
        "max": -1.7976931348623155e308,
        "f64max": f64::MAX,
        "tiny": 1e-5,
        "subnormal": 5e-324,
        "big": 123456789012345678_u64,
        "nested": [{ "x": -1.7976931348623157e308 }, null, {}],
    });
    let updated = admin(
        &app,
        Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(json!({ "metadata": metadata })),
    )
    .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let read = admin(&app, Method::GET, &format!("/admin/users/{id}"), None).await;
    assert_eq!(read.status(), StatusCode::OK);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["metadata"], metadata, "read back exactly as written");
    let list = admin(&app, Method::GET, "/admin/users", None).await;
    assert_eq!(list.status(), StatusCode::OK);
}

both_backends!(
    metadata_numbers_at_the_edges_of_f64_read_back_as_written,
    every_admin_route_refuses_a_missing_or_wrong_secret,
    without_a_secret_there_is_no_admin_api,
    disabling_ends_every_session_at_once,
    deleting_a_user_leaves_no_rows_behind,
    pagination_is_stable_while_users_are_added,
    admins_create_update_and_manage_sessions,
    each_event_kind_is_recorded_by_its_action,
    old_events_are_pruned_in_batches,
);
