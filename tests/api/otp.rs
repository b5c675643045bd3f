//! Email one-time codes end to end: Tessera emails a six-digit code to an SMTP server the
//! test runs, the test reads it from the message and signs in with it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::domain::admin::NewUser;
use tessera::domain::sessions::ClientInfo;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, audit_session, unique_email};
use crate::lifecycle::{APP, post, sign_in, spawn};
use crate::smtp_sink::{SmtpSink, otp};

const REQUEST: &str = "/auth/signin/otp/email";
const VERIFY: &str = "/auth/signin/otp/email/verify";

/// Asks for a code and returns the `nth` message's code to `email`.
async fn emailed_code(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> String {
    let response = post(app, REQUEST, json!({ "email": email }), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), "OK");
    otp(&sink.wait_for(email, nth).await)
}

async fn verify(app: &TestApp, email: &str, code: &str) -> reqwest::Response {
    post(app, VERIFY, json!({ "email": email, "otp": code }), None).await
}

/// A code that is not `code`.
fn other(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Signs in with `code` and returns the session.
async fn signed_in(app: &TestApp, email: &str, code: &str) -> Value {
    let response = verify(app, email, code).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    audit_session(&body["session"]);
    body["session"].clone()
}

async fn refresh(app: &TestApp, session: &Value) -> reqwest::Response {
    let token = &session["refreshToken"];
    post(app, "/auth/token", json!({ "refreshToken": token }), None).await
}

async fn token_is_live(app: &TestApp, session: &Value) -> bool {
    let token = &session["accessToken"];
    let response = post(app, "/auth/token/verify", json!({ "token": token }), None).await;
    response.status() == StatusCode::OK
}

async fn events(app: &TestApp, user_id: &Value) -> Vec<(String, Value)> {
    let id: Uuid = user_id.as_str().unwrap().parse().unwrap();
    app.store
        .events(Some(id), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.detail))
        .collect()
}

async fn a_code_signs_in_once_and_proves_the_address(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    // Sign-up is open: the request creates the account, with Nhost's sign-up options.
    let response = post(
        &app,
        REQUEST,
        json!({ "email": email.to_uppercase(), "options": {
            "displayName": "Ada", "locale": "fr", "metadata": { "plan": "pro" },
            "redirectTo": APP, "allowedRoles": ["user"], "defaultRole": "user" } }),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let message = sink.wait_for(&email, 1).await;
    assert!(
        message.data.contains("Subject: Votre code de connexion"),
        "{}",
        message.data
    );
    assert!(!message.data.contains("/verify?"), "a code, not a link");
    let code = otp(&message);

    let session = signed_in(&app, &email, &code).await;
    let user = &session["user"];
    assert_eq!(user["email"], email);
    assert_eq!(
        user["emailVerified"], true,
        "typing the code proved the address"
    );
    assert_eq!(user["displayName"], "Ada");
    assert_eq!(user["locale"], "fr");
    assert_eq!(user["metadata"], json!({ "plan": "pro" }));
    assert_eq!(user["roles"], json!(["user"]));
    assert!(token_is_live(&app, &session).await);
    assert_eq!(refresh(&app, &session).await.status(), 200);

    // Once only.
    assert_error(
        verify(&app, &email, &code).await,
        StatusCode::UNAUTHORIZED,
        "invalid-otp",
    )
    .await;
    let kinds = events(&app, &user["id"]).await;
    assert!(
        kinds
            .iter()
            .any(|(k, d)| k == "signup" && d["method"] == "email-otp"),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|(k, d)| k == "signin-succeeded" && d["method"] == "email-otp"),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|(k, d)| k == "signin-failed" && d["method"] == "email-otp"),
        "{kinds:?}"
    );
}

async fn unknown_addresses_get_the_same_answers_and_no_message(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[("TESSERA_DISABLE_SIGNUP", "true")]).await;
    let known = unique_email();
    let new = NewUser {
        email: known.clone(),
        email_verified: true,
        ..NewUser::default()
    };
    let client = ClientInfo::new("127.0.0.1".into(), "test");
    let user_id = app.state.admin.create_user(new, &client).await.unwrap().id;
    let unknown = unique_email();

    let to_unknown = post(&app, REQUEST, json!({ "email": unknown }), None).await;
    assert_eq!(to_unknown.status(), StatusCode::OK);
    assert_eq!(to_unknown.json::<Value>().await.unwrap(), "OK");
    // Messages leave in the background in order; once the known address has its code, an
    // unknown one would have had its own by now.
    let code = emailed_code(&app, &sink, &known, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sink.messages_to(&unknown).is_empty(),
        "nothing to an unknown address"
    );
    assert!(
        app.store.user_by_email(&unknown).await.unwrap().is_none(),
        "sign-up is closed: no account created"
    );

    let wrong = assert_error(
        verify(&app, &known, &other(&code)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-otp",
    )
    .await;
    let no_account = assert_error(
        verify(&app, &unknown, &code).await,
        StatusCode::UNAUTHORIZED,
        "invalid-otp",
    )
    .await;
    assert_eq!(wrong, no_account, "the same answer, account or not");
    let session = signed_in(&app, &known, &code).await;
    assert_eq!(session["user"]["id"], user_id.to_string());
}

async fn wrong_codes_are_refused_and_the_fifth_spends_the_code(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    let first = emailed_code(&app, &sink, &email, 1).await;
    // A wrong code does not spend the right one.
    assert_error(
        verify(&app, &email, &other(&first)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-otp",
    )
    .await;
    signed_in(&app, &email, &first).await;

    let second = emailed_code(&app, &sink, &email, 2).await;
    for _ in 0..5 {
        assert_error(
            verify(&app, &email, &other(&second)).await,
            StatusCode::UNAUTHORIZED,
            "invalid-otp",
        )
        .await;
    }
    assert_error(
        verify(&app, &email, &second).await,
        StatusCode::UNAUTHORIZED,
        "invalid-otp",
    )
    .await;
    // A new code works again.
    let third = emailed_code(&app, &sink, &email, 3).await;
    signed_in(&app, &email, &third).await;
}

async fn wrong_codes_count_as_failed_sign_ins_of_the_address(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(
        backend,
        &sink,
        &[("TESSERA_RATE_LIMIT_FAILED_SIGNINS", "3/1h")],
    )
    .await;
    let email = unique_email();
    let mut nth = 0;
    // Fresh codes do not buy fresh guesses: the address's budget spans its codes.
    for _ in 0..3 {
        nth += 1;
        let code = emailed_code(&app, &sink, &email, nth).await;
        assert_error(
            verify(&app, &email, &other(&code)).await,
            StatusCode::UNAUTHORIZED,
            "invalid-otp",
        )
        .await;
    }
    let code = emailed_code(&app, &sink, &email, nth + 1).await;
    let locked = verify(&app, &email, &code).await;
    assert!(locked.headers().contains_key("retry-after"));
    assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
    // The lock ends with its window, and the code (not tried meanwhile) is still good if
    // it is still young: ask for a new one after the window instead.
    app.clock.advance(Duration::from_secs(3600));
    let code = emailed_code(&app, &sink, &email, nth + 2).await;
    signed_in(&app, &email, &code).await;
}

async fn codes_expire_and_a_new_request_replaces_the_old(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    let old = emailed_code(&app, &sink, &email, 1).await;
    let new = emailed_code(&app, &sink, &email, 2).await;
    if old != new {
        assert_error(
            verify(&app, &email, &old).await,
            StatusCode::UNAUTHORIZED,
            "invalid-otp",
        )
        .await;
    }
    signed_in(&app, &email, &new).await;

    let late = emailed_code(&app, &sink, &email, 3).await;
    app.clock.advance(Duration::from_secs(10 * 60));
    assert_error(
        verify(&app, &email, &late).await,
        StatusCode::UNAUTHORIZED,
        "invalid-otp",
    )
    .await;
    let young = emailed_code(&app, &sink, &email, 4).await;
    app.clock.advance(Duration::from_secs(9 * 60));
    signed_in(&app, &email, &young).await;
}

/// The pre-hijack: an attacker registers the victim's address with a password of their
/// choice; the victim later signs in with an emailed code. The attacker's password and
/// session must be gone.
async fn a_code_evicts_whoever_registered_the_address_first(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let victim = unique_email();
    let response = post(
        &app,
        "/auth/signup/email-password",
        json!({ "email": victim, "password": PASSWORD }),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let attacker: Value = response.json().await.unwrap();
    let attacker = attacker["session"].clone();
    audit_session(&attacker);
    assert_eq!(attacker["user"]["emailVerified"], false);

    let code = emailed_code(&app, &sink, &victim, 1).await;
    let owner = signed_in(&app, &victim, &code).await;
    assert_eq!(owner["user"]["id"], attacker["user"]["id"]);
    assert_eq!(owner["user"]["emailVerified"], true);

    assert_error(
        sign_in(&app, &victim, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid-email-password",
    )
    .await;
    assert_error(
        refresh(&app, &attacker).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
    assert!(
        !token_is_live(&app, &attacker).await,
        "the earlier session ended"
    );
    assert_eq!(refresh(&app, &owner).await.status(), 200);
    let kinds = events(&app, &owner["user"]["id"]).await;
    assert!(
        kinds.iter().any(|(k, d)| k == "unverified-account-claimed"
            && d["route"] == "email-otp"
            && d["passwordRemoved"] == true),
        "{kinds:?}"
    );
}

async fn cookie_mode_sets_the_session_cookies(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    let code = emailed_code(&app, &sink, &email, 1).await;
    let response = app
        .client
        .post(app.url(VERIFY))
        .header("tessera-auth-mode", "cookie")
        .header("origin", "http://localhost:4000")
        .json(&json!({ "email": email, "otp": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cookies.len(), 3, "{cookies:?}");
    assert!(cookies.iter().any(|c| c.contains("tessera-refresh-token=")));
    let body: Value = response.json().await.unwrap();
    assert!(body["session"].get("refreshToken").is_none(), "{body}");
    assert_eq!(body["session"]["user"]["email"], email);
}

async fn bad_input_is_a_400_in_the_envelope(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    for (path, body) in [
        (REQUEST, json!({})),
        (REQUEST, json!({ "email": "not-an-address" })),
        (REQUEST, json!({ "email": 42 })),
        (
            REQUEST,
            json!({ "email": email, "options": { "displayName": "\u{7}" } }),
        ),
        (
            REQUEST,
            json!({ "email": email, "options": { "locale": "en_US!" } }),
        ),
        (
            REQUEST,
            json!({ "email": email, "options": { "metadata": [1] } }),
        ),
        (
            REQUEST,
            json!({ "email": email, "options": { "unknown": 1 } }),
        ),
        (VERIFY, json!({ "email": email })),
        (VERIFY, json!({ "otp": "123456" })),
        (VERIFY, json!({ "email": email, "otp": "12345a" })),
        (VERIFY, json!({ "email": email, "otp": "12345" })),
        (VERIFY, json!({ "email": email, "otp": "1234567" })),
        (VERIFY, json!({ "email": email, "otp": "١٢٣٤٥٦" })),
        (VERIFY, json!({ "email": email, "otp": 123456 })),
        (VERIFY, json!({ "email": "@example.com", "otp": "123456" })),
        (
            VERIFY,
            json!({ "email": email, "otp": "123456", "extra": true }),
        ),
    ] {
        let response = post(&app, path, body.clone(), None).await;
        let error = assert_error(response, StatusCode::BAD_REQUEST, "invalid-request").await;
        assert!(
            !error["message"].as_str().unwrap().contains("123456"),
            "{body} -> {error}"
        );
    }
    let not_json = app
        .client
        .post(app.url(VERIFY))
        .header("content-type", "application/json")
        .body("{\"email\":")
        .send()
        .await
        .unwrap();
    assert_error(not_json, StatusCode::BAD_REQUEST, "invalid-request").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sink.messages_to(&email).is_empty(),
        "no code for a refused request"
    );
}

both_backends!(
    a_code_signs_in_once_and_proves_the_address,
    unknown_addresses_get_the_same_answers_and_no_message,
    wrong_codes_are_refused_and_the_fifth_spends_the_code,
    wrong_codes_count_as_failed_sign_ins_of_the_address,
    codes_expire_and_a_new_request_replaces_the_old,
    a_code_evicts_whoever_registered_the_address_first,
    cookie_mode_sets_the_session_cookies,
    bad_input_is_a_400_in_the_envelope,
);
