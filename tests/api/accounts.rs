//! Sign-up, sign-in and `GET /user`: Nhost's shapes, password policy, enumeration
//! resistance, and malformed input.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, raw_http, unique_email};

async fn sign_up_returns_an_nhost_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    let response = app
        .post_json(
            "/signup/email-password",
            &json!({
                "email": format!("  {}", email.to_uppercase()),
                "password": PASSWORD,
                "options": { "displayName": "Ada", "locale": "fr", "metadata": { "plan": "free" } },
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let session = &body["session"];
    let keys: BTreeSet<&str> = session
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "accessToken",
            "accessTokenExpiresIn",
            "refreshToken",
            "refreshTokenId",
            "user"
        ])
    );
    let user = &session["user"];
    assert_eq!(user["email"], email, "stored normalised");
    assert_eq!(user["displayName"], "Ada");
    assert_eq!(user["locale"], "fr");
    assert_eq!(user["metadata"], json!({ "plan": "free" }));
    assert_eq!(user["defaultRole"], "user");
    assert_eq!(user["roles"], json!(["user"]));
    assert_eq!(user["isAnonymous"], false);
    assert_eq!(user["emailVerified"], false);
    for field in [
        "id",
        "createdAt",
        "avatarUrl",
        "phoneNumber",
        "phoneNumberVerified",
    ] {
        assert!(user.get(field).is_some(), "{field}");
    }
    assert!(
        time::OffsetDateTime::parse(
            user["createdAt"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );

    let me: Value = app
        .client
        .get(app.url("/user"))
        .bearer_auth(session["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(&me, user);
}

async fn emails_are_unique_whatever_their_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let again = app
        .post_json(
            "/signup/email-password",
            &json!({ "email": email.to_uppercase(), "password": PASSWORD }),
        )
        .await;
    assert_error(again, StatusCode::CONFLICT, "email-already-in-use").await;
    // And sign-in accepts any case.
    app.sign_in(&email.to_uppercase()).await;
}

async fn password_policy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let attempt = |password: String| {
        let app = &app;
        async move {
            app.post_json(
                "/signup/email-password",
                &json!({ "email": unique_email(), "password": password }),
            )
            .await
        }
    };
    assert_error(
        attempt("Sh0rt!".into()).await,
        StatusCode::BAD_REQUEST,
        "password-too-short",
    )
    .await;
    assert_error(
        attempt("password123".into()).await,
        StatusCode::BAD_REQUEST,
        "password-too-weak",
    )
    .await;
    assert_error(
        attempt("qwertyuiop".into()).await,
        StatusCode::BAD_REQUEST,
        "password-too-weak",
    )
    .await;
    assert_eq!(
        attempt("ünïcødé-pässwörd-✓".into()).await.status(),
        StatusCode::OK
    );

    // 128 characters are accepted and not truncated: character 128 matters.
    let email = unique_email();
    let long = format!("{}Z", "correct-horse-battery-staple-".repeat(5))
        .chars()
        .rev()
        .take(128)
        .collect::<String>();
    assert_eq!(long.chars().count(), 128);
    let signup = app
        .post_json(
            "/signup/email-password",
            &json!({ "email": email, "password": long }),
        )
        .await;
    assert_eq!(signup.status(), StatusCode::OK);
    let mut almost = long.clone();
    almost.pop();
    almost.push('Y');
    let wrong = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": almost }),
        )
        .await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid-email-password").await;
    let right = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": long }),
        )
        .await;
    assert_eq!(right.status(), StatusCode::OK);
}

async fn unknown_email_and_wrong_password_look_the_same(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let wrong_password = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": "Wrong-password-77" }),
        )
        .await;
    let unknown = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": unique_email(), "password": "Wrong-password-77" }),
        )
        .await;
    let headers = |r: &reqwest::Response| -> BTreeSet<String> {
        r.headers()
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
            .collect()
    };
    assert_eq!(wrong_password.status(), unknown.status());
    assert_eq!(headers(&wrong_password), headers(&unknown));
    let (a, b) = (
        wrong_password.text().await.unwrap(),
        unknown.text().await.unwrap(),
    );
    assert_eq!(a, b);
    assert!(a.contains("invalid-email-password"));
    // Both attempts did the same work, down to the audit line.
    let failures = app.store.events(None, 50).await.unwrap();
    assert_eq!(
        failures
            .iter()
            .filter(|e| e.kind == "signin-failed")
            .count(),
        2
    );
}

async fn sign_up_cannot_grant_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .post_json(
            "/signup/email-password",
            &json!({
                "email": unique_email(),
                "password": PASSWORD,
                "options": { "defaultRole": "admin", "allowedRoles": ["user", "admin"] },
            }),
        )
        .await;
    // `admin` is not among the configured roles (TESSERA_ALLOWED_ROLES, default `user`).
    assert_error(response, StatusCode::BAD_REQUEST, "role-not-allowed").await;
}

async fn sign_up_can_be_disabled(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_DISABLE_SIGNUP", "true")]).await;
    let response = app
        .post_json(
            "/signup/email-password",
            &json!({ "email": unique_email(), "password": PASSWORD }),
        )
        .await;
    assert_error(response, StatusCode::FORBIDDEN, "signup-disabled").await;
}

async fn email_verification_withholds_the_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_REQUIRE_EMAIL_VERIFICATION", "true")]).await;
    let email = unique_email();
    let response = app
        .post_json(
            "/signup/email-password",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "session": null })
    );
    let sign_in = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_error(sign_in, StatusCode::UNAUTHORIZED, "unverified-user").await;
}

async fn sign_in_rehashes_when_parameters_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let before = app.store.user_by_email(&email).await.unwrap().unwrap();
    assert!(before.password_hash.as_deref().unwrap().contains("m=64,"));
    let (db, clock) = (app.db.clone(), app.clock.clone());
    app.stop().await;

    let stronger = TestApp::start(
        backend,
        db,
        &[("TESSERA_ARGON2_MEMORY_KIB", "128")],
        false,
        clock,
    )
    .await;
    stronger.sign_in(&email).await;
    let after = stronger.store.user_by_email(&email).await.unwrap().unwrap();
    let hash = after.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(
        hash.contains("m=128,"),
        "rehashed with the new parameters: {hash}"
    );
    stronger.sign_in(&email).await;
}

async fn user_requires_a_valid_live_access_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let token = session["accessToken"].as_str().unwrap();
    let get = |token: Option<String>| {
        let mut request = app.client.get(app.url("/user"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_error(
        get(None).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid-token",
    )
    .await;
    assert_error(
        get(Some("not.a.jwt".into())).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid-token",
    )
    .await;
    let mut tampered = token.to_owned();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_error(
        get(Some(tampered)).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid-token",
    )
    .await;
    assert_eq!(
        get(Some(token.to_owned())).await.unwrap().status(),
        StatusCode::OK
    );
    app.clock.advance(Duration::from_secs(3600));
    assert_error(
        get(Some(token.to_owned())).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid-token",
    )
    .await;
}

async fn malformed_bodies_get_the_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let post = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/signin/email-password"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            r#"{"email": "#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            r#"{"email": "a@b.c"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            r#"{"email": 1, "password": "x"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            r#"[]"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid-request",
        ),
        (
            "email=a&password=b",
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            r#"{"email":"a@b.c","password":"x"}"#,
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let response = post(body, content_type).await.unwrap();
        let body = assert_error(response, status, code).await;
        assert!(
            !body.to_string().contains("\"x\""),
            "submitted values are not echoed: {body}"
        );
    }
    let head = "POST /signin/email-password HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 10485760\r\n\r\n";
    let (status, _, body) = raw_http(&app.address, head.as_bytes()).await;
    assert_eq!(status, 413);
    assert!(body.contains("payload-too-large"));
}

async fn the_api_is_also_served_under_v1_for_nhost_clients(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .post_json(
            "/v1/signup/email-password",
            &json!({ "email": unique_email(), "password": PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let refreshed = app
        .post_json(
            "/v1/token",
            &json!({ "refreshToken": body["session"]["refreshToken"] }),
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
}

both_backends!(
    sign_up_returns_an_nhost_session,
    emails_are_unique_whatever_their_case,
    password_policy,
    unknown_email_and_wrong_password_look_the_same,
    sign_up_cannot_grant_roles,
    sign_up_can_be_disabled,
    email_verification_withholds_the_session,
    sign_in_rehashes_when_parameters_change,
    user_requires_a_valid_live_access_token,
    malformed_bodies_get_the_envelope,
    the_api_is_also_served_under_v1_for_nhost_clients,
);
