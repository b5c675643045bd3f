//! Personal access tokens: `POST /pat`, `POST /signin/pat`, the user's and the admin's list
//! and revocation, and what else ends them (disabling the user, a password change, upkeep).

use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tessera::support::clock::Clock;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_error, audit_secret, audit_session, unique_email};

const SECRET: &str = "an-admin-secret-of-at-least-32-characters";
/// Recorded for the log audit where it is used.
const NEW_PASSWORD: &str = "another-Long-passphrase-7";
const DAY: Duration = Duration::from_secs(86_400);

async fn pat_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[("TESSERA_ADMIN_SECRET", SECRET)]).await
}

/// `expiresAt` this far ahead of the app's clock.
fn in_(app: &TestApp, ahead: Duration) -> String {
    (app.clock.now() + ahead).format(&Rfc3339).unwrap()
}

async fn create(app: &TestApp, access_token: &str, body: Value) -> Response {
    app.client
        .post(app.url("/pat"))
        .bearer_auth(access_token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Makes a PAT expiring in `ahead` and returns (id, token).
async fn create_ok(app: &TestApp, access_token: &str, ahead: Duration) -> (Uuid, String) {
    let response = create(
        app,
        access_token,
        json!({ "expiresAt": in_(app, ahead), "metadata": { "name": "ci" } }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "create a PAT");
    let body: Value = response.json().await.unwrap();
    let token = body["personalAccessToken"].as_str().unwrap().to_owned();
    audit_secret(&token);
    (body["id"].as_str().unwrap().parse().unwrap(), token)
}

async fn sign_in(app: &TestApp, token: &str) -> Response {
    app.post_json("/signin/pat", &json!({ "personalAccessToken": token }))
        .await
}

/// Signs in with a PAT and returns the Session.
async fn sign_in_ok(app: &TestApp, token: &str) -> Value {
    let response = sign_in(app, token).await;
    assert_eq!(response.status(), StatusCode::OK, "sign in with a PAT");
    let body: Value = response.json().await.unwrap();
    audit_session(&body["session"]);
    body["session"].clone()
}

async fn as_user(app: &TestApp, method: Method, path: &str, access_token: &str) -> Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

async fn as_admin(app: &TestApp, method: Method, path: &str, secret: Option<&str>) -> Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(secret) = secret {
        request = request.header("x-tessera-admin-secret", secret);
    }
    request.send().await.unwrap()
}

fn token_of(session: &Value) -> &str {
    session["accessToken"].as_str().unwrap()
}

async fn event_kinds(app: &TestApp, user: Uuid) -> Vec<(String, Value)> {
    app.store
        .events(Some(user), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.detail))
        .collect()
}

async fn a_pat_is_shown_once_stored_hashed_and_signs_in(backend: Backend) {
    let app = pat_app(backend).await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let user: Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();

    let response = create(
        &app,
        token_of(&session),
        json!({ "expiresAt": in_(&app, 30 * DAY), "metadata": { "name": "deploy" } }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    let id: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let token = body["personalAccessToken"].as_str().unwrap();
    audit_secret(token);
    assert!(token.starts_with("tpat_") && token.len() == 48, "{token}");

    // Stored as its SHA-256 only.
    let row = app.store.pat(id).await.unwrap().unwrap();
    assert_eq!(row.user_id, user);
    assert_eq!(row.hash, digest(&SHA256, token.as_bytes()).as_ref());
    assert_ne!(row.hash, token.as_bytes());
    assert_eq!(row.metadata, json!({ "name": "deploy" }));

    // It signs in: a new session of the same user that works.
    let pat_session = sign_in_ok(&app, token).await;
    assert_eq!(pat_session["user"]["id"], session["user"]["id"]);
    assert_eq!(pat_session["user"]["email"], email);
    assert_ne!(pat_session["refreshTokenId"], session["refreshTokenId"]);
    let me = as_user(&app, Method::GET, "/user", token_of(&pat_session)).await;
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["id"], session["user"]["id"]);
    // And again (a PAT is not single use); the refresh token of its session rotates.
    let again = sign_in_ok(&app, token).await;
    let refreshed = app.refresh(again["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    audit_session(&refreshed.json::<Value>().await.unwrap());

    // The list never shows the token; it shows when it was last used.
    let list = as_user(&app, Method::GET, "/user/pats", token_of(&session)).await;
    assert_eq!(list.status(), StatusCode::OK);
    let text = list.text().await.unwrap();
    assert!(!text.contains(token), "the list leaks the token: {text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let pats = list["pats"].as_array().unwrap();
    assert_eq!(pats.len(), 1, "{list}");
    assert_eq!(pats[0]["id"], id.to_string());
    assert_eq!(pats[0]["metadata"], json!({ "name": "deploy" }));
    assert!(pats[0]["lastUsedAt"].is_string(), "{list}");
    assert!(pats[0]["expiresAt"].is_string() && pats[0]["createdAt"].is_string());

    let events = event_kinds(&app, user).await;
    assert!(
        events
            .iter()
            .any(|(k, d)| k == "pat-created" && d["patId"] == id.to_string())
    );
    assert!(
        events
            .iter()
            .any(|(k, d)| k == "signin-succeeded" && d["method"] == "pat"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|(_, d)| !d.to_string().contains(token)),
        "an event holds the token"
    );
}

async fn expired_revoked_and_malformed_pats_are_refused(backend: Backend) {
    let app = pat_app(backend).await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let (short_id, short) = create_ok(&app, token_of(&session), DAY).await;
    let (long_id, long) = create_ok(&app, token_of(&session), 30 * DAY).await;

    // Revoked by its owner: refused, and the session it started ends.
    let from_long = sign_in_ok(&app, &long).await;
    let revoked = as_user(
        &app,
        Method::DELETE,
        &format!("/user/pats/{long_id}"),
        token_of(&session),
    )
    .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_error(
        sign_in(&app, &long).await,
        StatusCode::UNAUTHORIZED,
        "invalid-pat",
    )
    .await;
    assert_eq!(
        app.verify(token_of(&from_long)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_error(
        as_user(
            &app,
            Method::DELETE,
            &format!("/user/pats/{long_id}"),
            token_of(&session),
        )
        .await,
        StatusCode::NOT_FOUND,
        "pat-not-found",
    )
    .await;

    // Expired: refused, and gone from the list.
    app.clock.advance(DAY + Duration::from_secs(1));
    assert_error(
        sign_in(&app, &short).await,
        StatusCode::UNAUTHORIZED,
        "invalid-pat",
    )
    .await;
    let fresh = app.sign_in(&email).await;
    let list: Value = as_user(&app, Method::GET, "/user/pats", token_of(&fresh))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["pats"], json!([]), "{list}");
    assert!(app.store.pat(short_id).await.unwrap().is_some());

    // Malformed or unknown: the same 401; a missing or mistyped field is a 400.
    let unknown = format!("tpat_{}", "A".repeat(43));
    for token in [
        unknown.as_str(),
        "2c35b6f3-c4b9-48e3-978a-d4d0f1d42e24",
        "",
        "tpat_",
        &"x".repeat(5000),
    ] {
        assert_error(
            sign_in(&app, token).await,
            StatusCode::UNAUTHORIZED,
            "invalid-pat",
        )
        .await;
    }
    for body in [json!({}), json!({ "personalAccessToken": 42 }), json!([])] {
        assert_error(
            app.post_json("/signin/pat", &body).await,
            StatusCode::BAD_REQUEST,
            "invalid-request",
        )
        .await;
    }
}

async fn bad_input_to_create_is_refused_in_the_envelope(backend: Backend) {
    let app = pat_app(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let access = token_of(&session);
    let past = (app.clock.now() - Duration::from_secs(60))
        .format(&Rfc3339)
        .unwrap();
    for body in [
        json!({ "expiresAt": past }),
        json!({ "expiresAt": in_(&app, 367 * DAY) }),
        json!({ "expiresAt": "next tuesday" }),
        json!({ "expiresAt": 1_900_000_000 }),
        json!({}),
        json!({ "expiresAt": in_(&app, DAY), "metadata": [1, 2] }),
        json!({ "expiresAt": in_(&app, DAY), "metadata": "ci" }),
        json!({ "expiresAt": in_(&app, DAY), "metadata": { "big": "x".repeat(9000) } }),
        json!({ "expiresAt": in_(&app, DAY), "metadata": { "nul": "a\u{0}b" } }),
        json!({ "expiresAt": in_(&app, DAY), "scopes": ["all"] }),
    ] {
        let response = create(&app, access, body.clone()).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid-request").await;
    }
    // A whole year ahead is fine; without an access token nothing is made.
    create_ok(&app, access, 365 * DAY).await;
    let anonymous = app
        .post_json("/pat", &json!({ "expiresAt": in_(&app, DAY) }))
        .await;
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "invalid-token").await;
}

async fn creating_a_pat_needs_a_recent_sign_in_not_a_pat(backend: Backend) {
    let app = pat_app(backend).await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let (_, token) = create_ok(&app, token_of(&session), 30 * DAY).await;

    // A session started with a PAT is never a recent sign-in: no PAT from a PAT, and no
    // password change without the current password.
    audit_secret(NEW_PASSWORD);
    let from_pat = sign_in_ok(&app, &token).await;
    let body = json!({ "expiresAt": in_(&app, DAY) });
    assert_error(
        create(&app, token_of(&from_pat), body.clone()).await,
        StatusCode::FORBIDDEN,
        "elevated-claim-required",
    )
    .await;
    let change = app
        .client
        .post(app.url("/user/password"))
        .bearer_auth(token_of(&from_pat))
        .json(&json!({ "newPassword": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_error(change, StatusCode::FORBIDDEN, "elevated-claim-required").await;

    // Eleven minutes after the sign-in (window: 10), even a refreshed token is too old.
    app.clock.advance(Duration::from_secs(11 * 60));
    let refreshed: Value = app
        .refresh(session["refreshToken"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    audit_session(&refreshed);
    assert_error(
        create(&app, token_of(&refreshed), body.clone()).await,
        StatusCode::FORBIDDEN,
        "elevated-claim-required",
    )
    .await;
    // Signing in again makes it recent.
    let again = app.sign_in(&email).await;
    create_ok(&app, token_of(&again), DAY).await;
}

async fn disabled_users_and_password_changes_end_pats(backend: Backend) {
    let app = pat_app(backend).await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let user: Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();
    let (_, token) = create_ok(&app, token_of(&session), 30 * DAY).await;

    // Disabled (without the admin's revocation, as if in a race): disabled-user.
    app.store
        .set_user_disabled(user, true, app.clock.now())
        .await
        .unwrap();
    assert_error(
        sign_in(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "disabled-user",
    )
    .await;
    app.store
        .set_user_disabled(user, false, app.clock.now())
        .await
        .unwrap();
    let from_pat = sign_in_ok(&app, &token).await;

    // Disabled by an administrator: the PAT is revoked with the sessions, for good.
    let disabled = as_admin(
        &app,
        Method::POST,
        &format!("/admin/users/{user}/disable"),
        Some(SECRET),
    )
    .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    assert_eq!(
        app.verify(token_of(&from_pat)).await,
        StatusCode::UNAUTHORIZED
    );
    let enabled = as_admin(
        &app,
        Method::POST,
        &format!("/admin/users/{user}/enable"),
        Some(SECRET),
    )
    .await;
    assert_eq!(enabled.status(), StatusCode::OK);
    assert_error(
        sign_in(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "invalid-pat",
    )
    .await;
    let events = event_kinds(&app, user).await;
    assert!(
        events
            .iter()
            .any(|(k, d)| k == "pat-revoked" && d["reason"] == "user-disabled"),
        "{events:?}"
    );

    // A password change (from a fresh sign-in) revokes every PAT and its sessions.
    audit_secret(NEW_PASSWORD);
    let fresh = app.sign_in(&email).await;
    let (_, second) = create_ok(&app, token_of(&fresh), 30 * DAY).await;
    let from_second = sign_in_ok(&app, &second).await;
    let change = app
        .client
        .post(app.url("/user/password"))
        .bearer_auth(token_of(&fresh))
        .json(&json!({ "newPassword": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), StatusCode::OK);
    assert_error(
        sign_in(&app, &second).await,
        StatusCode::UNAUTHORIZED,
        "invalid-pat",
    )
    .await;
    assert_eq!(
        app.verify(token_of(&from_second)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.verify(token_of(&fresh)).await, StatusCode::OK);

    // Deleting the user deletes its PATs.
    let signed_in: Value = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": NEW_PASSWORD }),
        )
        .await
        .json()
        .await
        .unwrap();
    audit_session(&signed_in["session"]);
    let (pat_id, _) = create_ok(&app, token_of(&signed_in["session"]), DAY).await;
    let deleted = as_admin(
        &app,
        Method::DELETE,
        &format!("/admin/users/{user}"),
        Some(SECRET),
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert!(app.store.pat(pat_id).await.unwrap().is_none());
}

async fn another_users_pat_is_not_found(backend: Backend) {
    let app = pat_app(backend).await;
    let owner = app.sign_up(&unique_email()).await;
    let other = app.sign_up(&unique_email()).await;
    let (id, token) = create_ok(&app, token_of(&owner), DAY).await;
    for path in [
        format!("/user/pats/{id}"),
        "/user/pats/not-a-uuid".to_owned(),
    ] {
        assert_error(
            as_user(&app, Method::DELETE, &path, token_of(&other)).await,
            StatusCode::NOT_FOUND,
            "pat-not-found",
        )
        .await;
    }
    let list: Value = as_user(&app, Method::GET, "/user/pats", token_of(&other))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["pats"], json!([]));
    sign_in_ok(&app, &token).await;
}

async fn admin_routes_need_the_secret(backend: Backend) {
    let app = pat_app(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let user = session["user"]["id"].as_str().unwrap().to_owned();
    let (id, token) = create_ok(&app, token_of(&session), DAY).await;
    let list_path = format!("/admin/users/{user}/pats");
    let revoke_path = format!("/admin/pats/{id}");
    for secret in [None, Some("a-wrong-secret-of-at-least-32-characters!")] {
        assert_error(
            as_admin(&app, Method::GET, &list_path, secret).await,
            StatusCode::UNAUTHORIZED,
            "invalid-admin-secret",
        )
        .await;
        assert_error(
            as_admin(&app, Method::DELETE, &revoke_path, secret).await,
            StatusCode::UNAUTHORIZED,
            "invalid-admin-secret",
        )
        .await;
    }
    sign_in_ok(&app, &token).await;

    let list = as_admin(&app, Method::GET, &list_path, Some(SECRET)).await;
    assert_eq!(list.status(), StatusCode::OK);
    let text = list.text().await.unwrap();
    assert!(!text.contains(&token));
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["pats"][0]["id"], id.to_string());
    assert_error(
        as_admin(
            &app,
            Method::GET,
            &format!("/admin/users/{}/pats", Uuid::new_v4()),
            Some(SECRET),
        )
        .await,
        StatusCode::NOT_FOUND,
        "user-not-found",
    )
    .await;

    let revoked = as_admin(&app, Method::DELETE, &revoke_path, Some(SECRET)).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_error(
        sign_in(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "invalid-pat",
    )
    .await;
    for path in [revoke_path.clone(), "/admin/pats/nope".to_owned()] {
        assert_error(
            as_admin(&app, Method::DELETE, &path, Some(SECRET)).await,
            StatusCode::NOT_FOUND,
            "pat-not-found",
        )
        .await;
    }
    let events = event_kinds(&app, user.parse().unwrap()).await;
    assert!(
        events
            .iter()
            .any(|(k, d)| k == "pat-revoked" && d["by"] == "admin"),
        "{events:?}"
    );
}

async fn cookie_mode_pat_sign_in_sets_cookies(backend: Backend) {
    let app = pat_app(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let (_, token) = create_ok(&app, token_of(&session), DAY).await;
    let response = app
        .client
        .post(app.url("/signin/pat"))
        .header("tessera-auth-mode", "cookie")
        .header("origin", "http://localhost:4000")
        .json(&json!({ "personalAccessToken": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies.iter().any(|c| c.contains("tessera-refresh-token=")),
        "{cookies:?}"
    );
    for cookie in &cookies {
        if let Some(value) = cookie.split(';').next().and_then(|kv| kv.split_once('=')) {
            audit_secret(value.1);
        }
    }
    let body: Value = response.json().await.unwrap();
    assert!(body["session"]["refreshToken"].is_null(), "{body}");
    assert_eq!(body["session"]["user"]["id"], session["user"]["id"]);
}

async fn pat_sign_in_is_rate_limited_like_sign_in(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_RATE_LIMIT_SIGNIN", "3/1m")]).await;
    let unknown = format!("tpat_{}", "B".repeat(43));
    for _ in 0..3 {
        assert_error(
            sign_in(&app, &unknown).await,
            StatusCode::UNAUTHORIZED,
            "invalid-pat",
        )
        .await;
    }
    let limited = sign_in(&app, &unknown).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_error(limited, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
}

async fn upkeep_prunes_pats_a_week_after_they_end(backend: Backend) {
    let app = pat_app(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let (id, _) = create_ok(&app, token_of(&session), DAY).await;
    let retention = app.retention();
    app.clock.advance(7 * DAY);
    tessera::domain::upkeep::run_once(app.store.as_ref(), &app.clock, &retention)
        .await
        .unwrap();
    assert!(app.store.pat(id).await.unwrap().is_some(), "kept a week");
    app.clock.advance(2 * DAY);
    let report = tessera::domain::upkeep::run_once(app.store.as_ref(), &app.clock, &retention)
        .await
        .unwrap();
    assert_eq!(report.pats, 1);
    assert!(app.store.pat(id).await.unwrap().is_none());
}

both_backends!(
    a_pat_is_shown_once_stored_hashed_and_signs_in,
    expired_revoked_and_malformed_pats_are_refused,
    bad_input_to_create_is_refused_in_the_envelope,
    creating_a_pat_needs_a_recent_sign_in_not_a_pat,
    disabled_users_and_password_changes_end_pats,
    another_users_pat_is_not_found,
    admin_routes_need_the_secret,
    cookie_mode_pat_sign_in_sets_cookies,
    pat_sign_in_is_rate_limited_like_sign_in,
    upkeep_prunes_pats_a_week_after_they_end,
);
