//! Device cookies (OWASP's defence against lockout as a weapon): a client that signed in
//! with the account's password before keeps signing in while the account is locked for
//! everyone else, unless that client is itself failing.

use reqwest::header::{COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::json;
use tower_cookies::cookie::{Cookie, SameSite};

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, audit_secret, unique_email};

const DEVICE: &str = "tessera-device";
const WRONG: &str = "Wrong-password-77";
/// Failed sign-ins allowed per account (and per device) in these tests.
const LIMIT: usize = 5;

/// `POST /signin/email-password`, with a `Cookie` header when given.
async fn sign_in(app: &TestApp, email: &str, password: &str, cookie: Option<&str>) -> Response {
    let mut request = app
        .client
        .post(app.url("/signin/email-password"))
        .json(&json!({ "email": email, "password": password }));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    request.send().await.unwrap()
}

/// The device cookie a response sets.
fn device_cookie(response: &Response) -> Option<Cookie<'static>> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| Cookie::parse(v.to_str().unwrap().to_owned()).unwrap())
        .find(|c| c.name() == DEVICE)
}

/// Signs in with the right password and returns the `Cookie` header value of the device
/// cookie it got.
async fn trusted_sign_in(app: &TestApp, email: &str, cookie: Option<&str>) -> String {
    let response = sign_in(app, email, PASSWORD, cookie).await;
    assert_eq!(response.status(), StatusCode::OK, "trusted sign-in");
    let device = device_cookie(&response).expect("a successful sign-in sets a device cookie");
    audit_secret(device.value());
    format!("{DEVICE}={}", device.value())
}

async fn lock_out(app: &TestApp, email: &str, cookie: Option<&str>) {
    for attempt in 0..LIMIT {
        let wrong = sign_in(app, email, WRONG, cookie).await;
        assert_eq!(
            wrong.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    assert_error(
        sign_in(app, email, WRONG, cookie).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
    )
    .await;
}

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[("TESSERA_RATE_LIMIT_FAILED_SIGNINS", "5/1h")]).await
}

async fn a_signed_in_device_gets_in_while_the_account_is_locked(backend: Backend) {
    let app = spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let owner = trusted_sign_in(&app, &email, None).await;

    // An attacker without the cookie floods wrong passwords until the account is locked.
    lock_out(&app, &email, None).await;
    // The lock still stops a distributed guess: the right password from an untrusted
    // client is refused.
    assert_error(
        sign_in(&app, &email, PASSWORD, None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
    )
    .await;
    // The owner's device gets in, and gets a fresh cookie.
    let renewed = trusted_sign_in(&app, &email, Some(&owner)).await;
    assert_ne!(renewed, owner, "a new device cookie at each sign-in");
    // An earlier cookie of the same device stays valid until it expires.
    trusted_sign_in(&app, &email, Some(&owner)).await;
}

async fn forged_tampered_foreign_or_misnamed_cookies_are_untrusted(backend: Backend) {
    let app = spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let owner = trusted_sign_in(&app, &email, None).await;
    let other = unique_email();
    app.sign_up(&other).await;
    let foreign = trusted_sign_in(&app, &other, None).await;
    lock_out(&app, &email, None).await;

    let value = owner.strip_prefix("tessera-device=").unwrap();
    let mut tampered = value.as_bytes().to_vec();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let cases = [
        format!("{DEVICE}={}", "A".repeat(value.len())),
        format!("{DEVICE}={tampered}"),
        format!("{DEVICE}=not base64!"),
        foreign,
        // Names are compared byte for byte: neither case-folded nor percent-decoded.
        format!("Tessera-Device={value}"),
        format!("tessera%2Ddevice={value}"),
    ];
    for cookie in cases {
        assert_error(
            sign_in(&app, &email, PASSWORD, Some(&cookie)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
        )
        .await;
    }
    assert_eq!(
        sign_in(&app, &email, PASSWORD, Some(&owner)).await.status(),
        StatusCode::OK,
        "the owner's own cookie still works"
    );
}

async fn a_trusted_device_that_keeps_failing_is_locked(backend: Backend) {
    let app = spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let stolen_laptop = trusted_sign_in(&app, &email, None).await;
    let phone = trusted_sign_in(&app, &email, None).await;

    // A device cookie gives no more guesses than the account's own limit...
    lock_out(&app, &email, Some(&stolen_laptop)).await;
    assert_error(
        sign_in(&app, &email, PASSWORD, Some(&stolen_laptop)).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
    )
    .await;
    // ...and its failures count against that device only: other clients are unaffected.
    trusted_sign_in(&app, &email, Some(&phone)).await;
    trusted_sign_in(&app, &email, None).await;
}

async fn the_device_cookie_is_set_in_every_mode(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_DEVICE_COOKIE_TTL", "30d")]).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let bearer = sign_in(&app, &email, PASSWORD, None).await;
    let cookie_mode = app
        .client
        .post(app.url("/signin/email-password"))
        .header("tessera-auth-mode", "cookie")
        .header(ORIGIN, "http://localhost:4000")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    for response in [bearer, cookie_mode] {
        assert_eq!(response.status(), StatusCode::OK);
        let device = device_cookie(&response).expect("a device cookie in every mode");
        assert_eq!(device.http_only(), Some(true));
        assert_eq!(device.secure(), Some(true));
        assert_eq!(device.same_site(), Some(SameSite::Strict));
        assert_eq!(device.path(), Some("/signin"), "sent to sign-in only");
        assert_eq!(device.domain(), None);
        assert_eq!(device.max_age(), Some(time::Duration::days(30)));
        assert!(device.value().len() < 200, "{}", device.value());
    }
    // A failed sign-in sets none.
    let failed = sign_in(&app, &email, WRONG, None).await;
    assert!(device_cookie(&failed).is_none());
}

async fn every_replica_trusts_the_device_cookies_of_the_others(backend: Backend) {
    let first = spawn(backend).await;
    let vars = [("TESSERA_RATE_LIMIT_FAILED_SIGNINS", "5/1h")];
    let second = TestApp::start(backend, first.db.clone(), &vars, false, first.clock.clone()).await;
    let email = unique_email();
    first.sign_up(&email).await;
    let owner = trusted_sign_in(&first, &email, None).await;
    lock_out(&second, &email, None).await;
    trusted_sign_in(&second, &email, Some(&owner)).await;
}

async fn a_password_change_ends_the_trust_of_earlier_device_cookies(backend: Backend) {
    let app = spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let before = trusted_sign_in(&app, &email, None).await;
    let user = app.store.user_by_email(&email).await.unwrap().unwrap();
    // Whoever knew the old password could have collected device cookies with it.
    app.clock.advance(std::time::Duration::from_secs(1));
    let now = tessera::support::clock::Clock::now(&app.clock);
    let changed = tessera::store::UserUpdate {
        password_changed_at: Some(now),
        ..Default::default()
    };
    app.store.update_user(user.id, &changed, now).await.unwrap();
    lock_out(&app, &email, None).await;
    assert_error(
        sign_in(&app, &email, PASSWORD, Some(&before)).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
    )
    .await;
}

both_backends!(
    a_signed_in_device_gets_in_while_the_account_is_locked,
    forged_tampered_foreign_or_misnamed_cookies_are_untrusted,
    a_trusted_device_that_keeps_failing_is_locked,
    the_device_cookie_is_set_in_every_mode,
    every_replica_trusts_the_device_cookies_of_the_others,
    a_password_change_ends_the_trust_of_earlier_device_cookies,
);
