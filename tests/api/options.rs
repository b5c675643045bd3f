//! Nhost's sign-up options end to end: roles within the configured ones
//! (`TESSERA_DEFAULT_ROLE`, `TESSERA_ALLOWED_ROLES`), the profile of accounts that sign-up,
//! anonymous sign-in, sign-in links and email codes create, and the email language that
//! follows the recipient's locale.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, unique_email};
use crate::lifecycle::{APP, CHALLENGE, VERIFIER, follow, post, query, spawn};
use crate::smtp_sink::{Received, SmtpSink, link};

const ROLES: &[(&str, &str)] = &[("TESSERA_ALLOWED_ROLES", "user,me,editor")];

fn hasura(session: &Value) -> Value {
    let token = session["accessToken"].as_str().unwrap();
    jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .unwrap()
        .claims["https://hasura.io/jwt/claims"]
        .clone()
}

fn subject(message: &Received) -> &str {
    message
        .data
        .lines()
        .find_map(|line| line.strip_prefix("Subject: "))
        .expect("a subject")
}

async fn sign_up(app: &TestApp, options: Value) -> reqwest::Response {
    app.post_json(
        "/signup/email-password",
        &json!({ "email": unique_email(), "password": PASSWORD, "options": options }),
    )
    .await
}

async fn sign_up_narrows_the_configured_roles(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROLES).await;

    let all: Value = sign_up(&app, json!({})).await.json().await.unwrap();
    let claims = hasura(&all["session"]);
    assert_eq!(claims["x-hasura-default-role"], "user");
    assert_eq!(
        claims["x-hasura-allowed-roles"],
        json!(["user", "me", "editor"])
    );

    let narrowed = sign_up(
        &app,
        json!({ "allowedRoles": ["editor", "user"], "defaultRole": "editor" }),
    )
    .await;
    assert_eq!(narrowed.status(), StatusCode::OK);
    let narrowed: Value = narrowed.json().await.unwrap();
    let claims = hasura(&narrowed["session"]);
    assert_eq!(claims["x-hasura-default-role"], "editor");
    assert_eq!(claims["x-hasura-allowed-roles"], json!(["user", "editor"]));
    assert_eq!(
        narrowed["session"]["user"]["roles"],
        json!(["user", "editor"])
    );
    assert_eq!(narrowed["session"]["user"]["defaultRole"], "editor");

    for options in [
        json!({ "allowedRoles": ["user", "admin"] }),
        json!({ "allowedRoles": [] }),
    ] {
        let refused = sign_up(&app, options).await;
        assert_error(refused, StatusCode::BAD_REQUEST, "role-not-allowed").await;
    }
    for options in [
        json!({ "allowedRoles": ["user"], "defaultRole": "editor" }),
        json!({ "defaultRole": "admin" }),
    ] {
        let refused = sign_up(&app, options).await;
        assert_error(
            refused,
            StatusCode::BAD_REQUEST,
            "default-role-must-be-in-allowed-roles",
        )
        .await;
    }
    let bad_locale = sign_up(&app, json!({ "locale": "fr-FR" })).await;
    assert_error(bad_locale, StatusCode::BAD_REQUEST, "invalid-request").await;
}

async fn anonymous_sign_in_takes_a_profile(backend: Backend) {
    let app = TestApp::spawn_with(backend, ROLES).await;
    let response = app
        .post_json(
            "/signin/anonymous",
            &json!({ "displayName": "Guest", "locale": "de", "metadata": { "cart": 3 } }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let user = &body["session"]["user"];
    assert_eq!(user["displayName"], "Guest");
    assert_eq!(
        user["locale"], "de",
        "stored although no German template ships"
    );
    assert_eq!(user["metadata"], json!({ "cart": 3 }));
    assert_eq!(
        user["roles"],
        json!(["anonymous"]),
        "always the anonymous role"
    );
    assert_eq!(
        hasura(&body["session"])["x-hasura-default-role"],
        "anonymous"
    );

    // Upgraded, the user gets the configured roles and keeps its profile.
    let email = unique_email();
    let upgrade = app
        .client
        .post(app.url("/user/deanonymize"))
        .bearer_auth(body["session"]["accessToken"].as_str().unwrap())
        .json(&json!({ "signInMethod": "email-password", "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(upgrade.status(), StatusCode::OK);
    let session = app.sign_in(&email).await;
    assert_eq!(session["user"]["roles"], json!(["user", "me", "editor"]));
    assert_eq!(session["user"]["defaultRole"], "user");
    assert_eq!(session["user"]["locale"], "de");

    let bad = app
        .post_json("/signin/anonymous", &json!({ "metadata": [1] }))
        .await;
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid-request").await;
    let roles = app
        .post_json("/signin/anonymous", &json!({ "allowedRoles": ["user"] }))
        .await;
    assert_error(roles, StatusCode::BAD_REQUEST, "invalid-request").await;
}

/// Requests a sign-in link for `email`, follows it and exchanges the code.
async fn link_session(
    app: &TestApp,
    sink: &SmtpSink,
    email: &str,
    n: usize,
    options: Value,
) -> Value {
    let mut options = options;
    options["redirectTo"] = json!(APP);
    let request = post(
        app,
        "/auth/signin/passwordless/email",
        json!({ "email": email, "options": options, "codeChallenge": CHALLENGE }),
        None,
    )
    .await;
    assert_eq!(request.status(), StatusCode::OK);
    let (_, location) = follow(app, &link(&sink.wait_for(email, n).await)).await;
    let code = query(&location, "code").expect("a code");
    let exchange = post(
        app,
        "/auth/token/exchange",
        json!({ "code": code, "codeVerifier": VERIFIER }),
        None,
    )
    .await;
    assert_eq!(exchange.status(), StatusCode::OK);
    exchange.json::<Value>().await.unwrap()["session"].clone()
}

async fn a_sign_in_link_creates_the_account_with_its_options(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, ROLES).await;
    let email = unique_email();
    let options = json!({
        "displayName": "Ada", "locale": "fr", "metadata": { "plan": "pro" },
        "allowedRoles": ["me"], "defaultRole": "me",
    });
    let session = link_session(&app, &sink, &email, 1, options).await;
    let user = &session["user"];
    assert_eq!(user["displayName"], "Ada");
    assert_eq!(user["locale"], "fr");
    assert_eq!(user["metadata"], json!({ "plan": "pro" }));
    assert_eq!(hasura(&session)["x-hasura-allowed-roles"], json!(["me"]));
    assert_eq!(hasura(&session)["x-hasura-default-role"], "me");
    assert_eq!(
        subject(&sink.messages_to(&email)[0]),
        "Votre lien de connexion"
    );

    // The options of a later request do nothing to the existing account.
    let again = json!({ "displayName": "Eve", "locale": "de", "allowedRoles": ["user"] });
    let session = link_session(&app, &sink, &email, 2, again).await;
    assert_eq!(session["user"]["displayName"], "Ada");
    assert_eq!(session["user"]["locale"], "fr");
    assert_eq!(session["user"]["roles"], json!(["me"]));

    // Bad options are refused whether or not the account exists.
    for (email, options, code) in [
        (
            email.clone(),
            json!({ "allowedRoles": ["admin"] }),
            "role-not-allowed",
        ),
        (
            unique_email(),
            json!({ "locale": "french" }),
            "invalid-request",
        ),
    ] {
        let refused = post(
            &app,
            "/auth/signin/passwordless/email",
            json!({ "email": email, "options": options, "codeChallenge": CHALLENGE }),
            None,
        )
        .await;
        assert_error(refused, StatusCode::BAD_REQUEST, code).await;
    }
}

async fn emails_are_in_the_locale_when_a_translation_ships(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let (french, german) = (unique_email(), unique_email());
    for (email, locale) in [(&french, "fr"), (&german, "de")] {
        let request = post(
            &app,
            "/auth/signin/otp/email",
            json!({ "email": email, "options": { "locale": locale } }),
            None,
        )
        .await;
        assert_eq!(request.status(), StatusCode::OK);
    }
    assert_eq!(
        subject(&sink.wait_for(&french, 1).await),
        "Votre code de connexion"
    );
    assert_eq!(
        subject(&sink.wait_for(&german, 1).await),
        "Your sign-in code"
    );
    let german_text = sink.messages_to(&german)[0].data.clone();
    assert!(
        german_text.contains("expires in 10 minutes"),
        "{german_text}"
    );

    // The locale stays the user's: later messages follow it too.
    post(
        &app,
        "/auth/signin/passwordless/email",
        json!({ "email": french, "options": { "redirectTo": APP }, "codeChallenge": CHALLENGE }),
        None,
    )
    .await;
    assert_eq!(
        subject(&sink.wait_for(&french, 2).await),
        "Votre lien de connexion"
    );
}

async fn admin_created_users_default_to_the_configured_roles(backend: Backend) {
    const SECRET: &str = "an-admin-secret-of-at-least-32-characters";
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_ADMIN_SECRET", SECRET),
            ("TESSERA_ALLOWED_ROLES", "user,me"),
        ],
    )
    .await;
    let create = |body: Value| {
        app.client
            .post(app.url("/admin/users"))
            .header("x-tessera-admin-secret", SECRET)
            .json(&body)
            .send()
    };
    let plain: Value = create(json!({ "email": unique_email() }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plain["roles"], json!(["user", "me"]));
    assert_eq!(plain["defaultRole"], "user");
    // Explicit roles stay the administrator's, outside the sign-up list too.
    let explicit: Value = create(json!({ "email": unique_email(), "roles": ["staff"] }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(explicit["roles"], json!(["staff"]));
    assert_eq!(explicit["defaultRole"], "staff");
}

both_backends!(
    admin_created_users_default_to_the_configured_roles,
    sign_up_narrows_the_configured_roles,
    anonymous_sign_in_takes_a_profile,
    a_sign_in_link_creates_the_account_with_its_options,
    emails_are_in_the_locale_when_a_translation_ships,
);
