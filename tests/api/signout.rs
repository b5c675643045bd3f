//! Sign-out of every session (`all: true`) needs a live credential: a current refresh token
//! of a live session, or an unexpired access token of a live session. Anyone who once saw
//! an old token (a rotated refresh token, an expired access token, one of a session that
//! already ended) must not be able to sign the user out everywhere, again and again.

use std::time::Duration;

use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, unique_email};

fn refresh_token(session: &Value) -> String {
    session["refreshToken"].as_str().unwrap().to_owned()
}

fn access_token(session: &Value) -> String {
    session["accessToken"].as_str().unwrap().to_owned()
}

/// `POST /signout {all: true}` with the access token in `Authorization`.
async fn sign_out_all_with_access_token(app: &TestApp, access: &str) -> Response {
    app.client
        .post(app.url("/signout"))
        .bearer_auth(access)
        .json(&json!({ "all": true }))
        .send()
        .await
        .unwrap()
}

/// Whether a session still refreshes, that is, is live. (Presenting the same token again
/// inside the grace window replays its successor, so this can be asked more than once.)
async fn still_live(app: &TestApp, session: &Value) -> bool {
    app.refresh(&refresh_token(session)).await.status() == StatusCode::OK
}

/// A user with two sessions: the phone, which must survive, and the laptop, whose old
/// credentials an attacker saw.
async fn two_sessions(app: &TestApp) -> (Value, Value) {
    let email = unique_email();
    let phone = app.sign_up(&email).await;
    let laptop = app.sign_in(&email).await;
    (phone, laptop)
}

async fn a_revoked_sessions_access_token_cannot_sign_out_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (phone, laptop) = two_sessions(&app).await;
    let signed_out = app
        .post_json(
            "/signout",
            &json!({ "refreshToken": refresh_token(&laptop) }),
        )
        .await;
    assert_eq!(signed_out.status(), StatusCode::OK);

    // The laptop's access token is unexpired but its session is over.
    let response = sign_out_all_with_access_token(&app, &access_token(&laptop)).await;
    assert!(still_live(&app, &phone).await, "the phone stays signed in");
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid-token").await;
    // Without `all`, the same dead token still signs out (idempotently).
    let plain = app
        .client
        .post(app.url("/signout"))
        .bearer_auth(access_token(&laptop))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
}

async fn an_expired_access_token_cannot_sign_out_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (phone, laptop) = two_sessions(&app).await;
    app.clock.advance(Duration::from_secs(3601));

    let response = sign_out_all_with_access_token(&app, &access_token(&laptop)).await;
    assert!(still_live(&app, &phone).await, "the phone stays signed in");
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid-token").await;
    // The one session the expired token names is signed out, as without `all`.
    assert!(!still_live(&app, &laptop).await, "the laptop is signed out");
}

async fn a_rotated_refresh_token_cannot_sign_out_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (phone, laptop) = two_sessions(&app).await;
    let rotated = app.refresh(&refresh_token(&laptop)).await;
    assert_eq!(rotated.status(), StatusCode::OK);

    let response = app
        .post_json(
            "/signout",
            &json!({ "refreshToken": refresh_token(&laptop), "all": true }),
        )
        .await;
    assert!(still_live(&app, &phone).await, "the phone stays signed in");
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid-token").await;
}

async fn a_live_refresh_token_signs_out_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (phone, laptop) = two_sessions(&app).await;
    let response = app
        .post_json(
            "/signout",
            &json!({ "refreshToken": refresh_token(&laptop), "all": true }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), json!("OK"));
    assert!(!still_live(&app, &phone).await);
    assert!(!still_live(&app, &laptop).await);
}

async fn a_live_access_token_signs_out_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (phone, laptop) = two_sessions(&app).await;
    // Just inside the access token's lifetime.
    app.clock.advance(Duration::from_secs(3599));
    let response = sign_out_all_with_access_token(&app, &access_token(&laptop)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!still_live(&app, &phone).await);
    assert!(!still_live(&app, &laptop).await);
}

async fn all_without_any_credential_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.post_json("/signout", &json!({ "all": true })).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid-token").await;
}

/// The access cookie as a browser on the public origin sends it to `/signout`.
async fn cookie_sign_out_all(app: &TestApp, access_cookie: &str) -> Response {
    app.client
        .post(app.url("/signout"))
        .header(COOKIE, format!("__Host-tessera-token={access_cookie}"))
        .header(ORIGIN, "http://localhost:4000")
        .json(&json!({ "all": true }))
        .send()
        .await
        .unwrap()
}

async fn cookie_mode_needs_a_live_access_cookie_too(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    let phone = app.sign_up(&email).await;
    let laptop = app
        .client
        .post(app.url("/signin/email-password"))
        .header("tessera-auth-mode", "cookie")
        .header(ORIGIN, "http://localhost:4000")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(laptop.status(), StatusCode::OK);
    let access_cookie = laptop
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find_map(|v| v.strip_prefix("__Host-tessera-token="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();

    // An hour later the access cookie has expired: the browser must refresh first.
    app.clock.advance(Duration::from_secs(3601));
    let stale = cookie_sign_out_all(&app, &access_cookie).await;
    assert!(
        stale
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("__Host-tessera-token=;")),
        "the cookies are cleared all the same"
    );
    assert!(still_live(&app, &phone).await, "the phone stays signed in");
    assert_error(stale, StatusCode::UNAUTHORIZED, "invalid-token").await;

    // A fresh sign-in's live access cookie signs out everywhere.
    let fresh = app
        .client
        .post(app.url("/signin/email-password"))
        .header("tessera-auth-mode", "cookie")
        .header(ORIGIN, "http://localhost:4000")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let fresh_cookie = fresh
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find_map(|v| v.strip_prefix("__Host-tessera-token="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let live = cookie_sign_out_all(&app, &fresh_cookie).await;
    assert_eq!(live.status(), StatusCode::OK);
    assert!(!still_live(&app, &phone).await, "everything signed out");
}

both_backends!(
    a_revoked_sessions_access_token_cannot_sign_out_everywhere,
    an_expired_access_token_cannot_sign_out_everywhere,
    a_rotated_refresh_token_cannot_sign_out_everywhere,
    a_live_refresh_token_signs_out_everywhere,
    a_live_access_token_signs_out_everywhere,
    all_without_any_credential_is_refused,
    cookie_mode_needs_a_live_access_cookie_too,
);
