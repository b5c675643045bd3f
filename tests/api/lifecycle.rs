//! Account lifecycle end to end: Tessera sends real email to an SMTP server the test runs,
//! the test reads the link from the message and completes each flow over HTTP.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, unique_email};
use crate::smtp_sink::{SmtpSink, link};

pub(crate) const APP: &str = "https://app.example.com/welcome";
pub(crate) const NEW_PASSWORD: &str = "another-Strong-passphrase-4";
// RFC 7636's example pair.
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub(crate) async fn spawn(backend: Backend, sink: &SmtpSink, extra: &[(&str, &str)]) -> TestApp {
    let url = sink.url();
    let mut vars = vec![
        ("TESSERA_SMTP_URL", url.as_str()),
        ("TESSERA_ALLOWED_REDIRECT_URLS", "https://app.example.com"),
        ("TESSERA_PUBLIC_URL", "http://localhost:4000/auth"),
    ];
    vars.extend_from_slice(extra);
    TestApp::spawn_with(backend, &vars).await
}

/// Follows an emailed link (it points at the public URL; the test server is elsewhere).
pub(crate) async fn follow(app: &TestApp, link: &str) -> (StatusCode, Url) {
    let link = Url::parse(link).unwrap();
    assert_eq!(
        link.path(),
        "/auth/verify",
        "links point at Tessera's public URL"
    );
    let response = app
        .client
        .get(app.url(&format!("{}?{}", link.path(), link.query().unwrap())))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (
        status,
        Url::parse(&location.unwrap_or_else(|| "about:none".into())).unwrap(),
    )
}

pub(crate) fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A parameter of a URL's fragment (after a hash route's `?`, if any).
pub(crate) fn fragment(url: &Url, name: &str) -> Option<String> {
    let fragment = url.fragment()?;
    let query = fragment.rsplit_once('?').map_or(fragment, |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// No token ever travels in a URL: neither a JWT nor anything named like a token.
pub(crate) fn assert_no_token(url: &Url) {
    let text = url.as_str();
    assert!(!text.contains("eyJ"), "a JWT in {text}");
    assert!(!text.to_lowercase().contains("token"), "a token in {text}");
}

pub(crate) async fn post(
    app: &TestApp,
    path: &str,
    body: Value,
    bearer: Option<&str>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

pub(crate) async fn sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    post(
        app,
        "/auth/signin/email-password",
        json!({ "email": email, "password": password }),
        None,
    )
    .await
}

async fn email_verification(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(
        backend,
        &sink,
        &[("TESSERA_REQUIRE_EMAIL_VERIFICATION", "true")],
    )
    .await;
    let email = unique_email();
    let signup = post(
        &app,
        "/auth/signup/email-password",
        json!({ "email": email, "password": PASSWORD, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    assert_eq!(
        signup.json::<Value>().await.unwrap(),
        json!({ "session": null })
    );
    assert_error(
        sign_in(&app, &email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "unverified-user",
    )
    .await;

    let message = sink.wait_for(&email, 1).await;
    assert!(message.data.contains("Verify your email address"));
    let link = link(&message);
    let (status, location) = follow(&app, &link).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_str(), APP, "to the app, with nothing else");
    assert_eq!(
        sign_in(&app, &email, PASSWORD).await.status(),
        StatusCode::OK
    );

    // Single use.
    let (status, again) = follow(&app, &link).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(query(&again, "error").as_deref(), Some("invalid-ticket"));

    // Resend answers the same for unknown addresses, and sends nothing to them.
    let resend = post(
        &app,
        "/auth/user/email/send-verification-email",
        json!({ "email": "nobody@example.com" }),
        None,
    )
    .await;
    assert_eq!(resend.status(), StatusCode::OK);
    assert!(sink.messages_to("nobody@example.com").is_empty());
}

async fn password_reset_ends_every_session(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    let phone = app
        .post_json(
            "/auth/signup/email-password",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    let phone: Value = phone.json().await.unwrap();
    let reset = post(
        &app,
        "/auth/user/password/reset",
        json!({ "email": email, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    assert_eq!(reset.json::<Value>().await.unwrap(), json!("OK"));
    let unknown = post(
        &app,
        "/auth/user/password/reset",
        json!({ "email": unique_email() }),
        None,
    )
    .await;
    assert_eq!(
        unknown.json::<Value>().await.unwrap(),
        json!("OK"),
        "no hint whether the account exists"
    );

    let (status, location) = follow(&app, &link(&sink.wait_for(&email, 1).await)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.as_str().starts_with(APP));
    assert_eq!(
        fragment(&location, "type").as_deref(),
        Some("passwordReset")
    );
    let ticket = fragment(&location, "ticket").expect("the app's form gets the ticket");

    let weak = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": "password1", "ticket": ticket }),
        None,
    )
    .await;
    assert_error(weak, StatusCode::BAD_REQUEST, "password-too-weak").await;
    let done = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD, "ticket": ticket }),
        None,
    )
    .await;
    assert_eq!(
        done.status(),
        StatusCode::OK,
        "a weak attempt did not spend the ticket"
    );
    let again = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD, "ticket": ticket }),
        None,
    )
    .await;
    assert_error(again, StatusCode::UNAUTHORIZED, "invalid-ticket").await;

    let old = app
        .post_json(
            "/auth/token",
            &json!({ "refreshToken": phone["session"]["refreshToken"] }),
        )
        .await;
    assert_error(old, StatusCode::UNAUTHORIZED, "invalid-refresh-token").await;
    assert_error(
        sign_in(&app, &email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid-email-password",
    )
    .await;
    assert_eq!(
        sign_in(&app, &email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    let events = app.store.events(None, 50).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "password-reset"));
}

async fn password_change_ends_the_other_sessions(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    app.post_json(
        "/auth/signup/email-password",
        &json!({ "email": email, "password": PASSWORD }),
    )
    .await;
    let laptop: Value = sign_in(&app, &email, PASSWORD).await.json().await.unwrap();
    let phone: Value = sign_in(&app, &email, PASSWORD).await.json().await.unwrap();
    let bearer = laptop["session"]["accessToken"].as_str().unwrap();
    let change = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD }),
        Some(bearer),
    )
    .await;
    assert_eq!(change.status(), StatusCode::OK);
    let phone_refresh = app
        .post_json(
            "/auth/token",
            &json!({ "refreshToken": phone["session"]["refreshToken"] }),
        )
        .await;
    assert_error(
        phone_refresh,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
    let laptop_refresh = app
        .post_json(
            "/auth/token",
            &json!({ "refreshToken": laptop["session"]["refreshToken"] }),
        )
        .await;
    assert_eq!(
        laptop_refresh.status(),
        StatusCode::OK,
        "the session that changed it goes on"
    );
    let unauthenticated = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD }),
        None,
    )
    .await;
    assert_error(unauthenticated, StatusCode::UNAUTHORIZED, "invalid-token").await;
    let events = app.store.events(None, 50).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "password-changed"));
}

async fn email_change_is_confirmed_by_the_new_address(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let (old, new) = (unique_email(), unique_email());
    let session: Value = app
        .post_json(
            "/auth/signup/email-password",
            &json!({ "email": old, "password": PASSWORD }),
        )
        .await
        .json()
        .await
        .unwrap();
    let bearer = session["session"]["accessToken"].as_str().unwrap();
    let taken = unique_email();
    app.post_json(
        "/auth/signup/email-password",
        &json!({ "email": taken, "password": PASSWORD }),
    )
    .await;
    let conflict = post(
        &app,
        "/auth/user/email/change",
        json!({ "newEmail": taken }),
        Some(bearer),
    )
    .await;
    assert_error(conflict, StatusCode::CONFLICT, "email-already-in-use").await;

    let change = post(
        &app,
        "/auth/user/email/change",
        json!({ "newEmail": new, "options": { "redirectTo": APP } }),
        Some(bearer),
    )
    .await;
    assert_eq!(change.status(), StatusCode::OK);
    assert!(
        sink.messages_to(&old).is_empty(),
        "the link goes to the new address"
    );
    let (status, location) = follow(&app, &link(&sink.wait_for(&new, 1).await)).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, APP));
    let me: Value = app
        .client
        .get(app.url("/auth/user"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], new);
    assert_eq!(me["emailVerified"], true);
    assert_eq!(sign_in(&app, &new, PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(
        sign_in(&app, &old, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn magic_link_leads_to_a_code_exchanged_with_pkce(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    let without_pkce = post(
        &app,
        "/auth/signin/passwordless/email",
        json!({ "email": email }),
        None,
    )
    .await;
    assert_error(without_pkce, StatusCode::BAD_REQUEST, "invalid-request").await;
    let request = post(
        &app,
        "/auth/signin/passwordless/email",
        json!({ "email": email, "options": { "redirectTo": APP }, "codeChallenge": CHALLENGE }),
        None,
    )
    .await;
    assert_eq!(request.status(), StatusCode::OK);
    let (status, location) = follow(&app, &link(&sink.wait_for(&email, 1).await)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_no_token(&location);
    let code = query(&location, "code").expect("a one-time code");

    let wrong = post(
        &app,
        "/auth/token/exchange",
        json!({ "code": code, "codeVerifier": "x".repeat(43) }),
        None,
    )
    .await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid-ticket").await;
    let spent = post(
        &app,
        "/auth/token/exchange",
        json!({ "code": code, "codeVerifier": VERIFIER }),
        None,
    )
    .await;
    assert_error(spent, StatusCode::UNAUTHORIZED, "invalid-ticket").await;

    // A second link; this time the right verifier, in cookie mode.
    post(
        &app,
        "/auth/signin/passwordless/email",
        json!({ "email": email, "options": { "redirectTo": APP }, "codeChallenge": CHALLENGE }),
        None,
    )
    .await;
    let (_, location) = follow(&app, &link(&sink.wait_for(&email, 2).await)).await;
    let code = query(&location, "code").unwrap();
    let exchange = app
        .client
        .post(app.url("/auth/token/exchange"))
        .header("tessera-auth-mode", "cookie")
        .header("origin", "http://localhost:4000")
        .json(&json!({ "code": code, "codeVerifier": VERIFIER }))
        .send()
        .await
        .unwrap();
    assert_eq!(exchange.status(), StatusCode::OK);
    assert_eq!(
        exchange.headers().get_all("set-cookie").iter().count(),
        3,
        "cookies set"
    );
    let body: Value = exchange.json().await.unwrap();
    let session = &body["session"];
    assert_eq!(session["user"]["email"], email);
    assert_eq!(
        session["user"]["emailVerified"], true,
        "following the link proved the address"
    );
    assert!(session.get("refreshToken").is_none());
}

async fn anonymous_users_upgrade_keeping_their_id(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let anonymous: Value = app
        .post_json("/auth/signin/anonymous", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let session = &anonymous["session"];
    assert_eq!(session["user"]["isAnonymous"], true);
    assert_eq!(session["user"]["roles"], json!(["anonymous"]));
    let claims =
        jsonwebtoken::dangerous::insecure_decode::<Value>(session["accessToken"].as_str().unwrap())
            .unwrap()
            .claims;
    assert_eq!(
        claims["https://hasura.io/jwt/claims"]["x-hasura-user-is-anonymous"],
        "true"
    );

    let email = unique_email();
    let bearer = session["accessToken"].as_str().unwrap();
    let upgrade = post(
        &app,
        "/auth/user/deanonymize",
        json!({ "signInMethod": "email-password", "email": email, "password": PASSWORD }),
        Some(bearer),
    )
    .await;
    assert_eq!(upgrade.status(), StatusCode::OK);
    let again = post(
        &app,
        "/auth/user/deanonymize",
        json!({ "signInMethod": "email-password", "email": unique_email(), "password": PASSWORD }),
        Some(bearer),
    )
    .await;
    assert_error(again, StatusCode::BAD_REQUEST, "user-not-anonymous").await;

    let refreshed: Value = app
        .post_json(
            "/auth/token",
            &json!({ "refreshToken": session["refreshToken"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        refreshed["user"]["id"], session["user"]["id"],
        "the same user, same session"
    );
    assert_eq!(refreshed["user"]["isAnonymous"], false);
    assert_eq!(refreshed["user"]["roles"], json!(["user"]));
    let signed_in: Value = sign_in(&app, &email, PASSWORD).await.json().await.unwrap();
    assert_eq!(signed_in["session"]["user"]["id"], session["user"]["id"]);
}

async fn tickets_expire_and_keep_to_their_purpose(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(
        backend,
        &sink,
        &[("TESSERA_REQUIRE_EMAIL_VERIFICATION", "true")],
    )
    .await;
    let email = unique_email();
    post(
        &app,
        "/auth/signup/email-password",
        json!({ "email": email, "password": PASSWORD, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    let verify_link = Url::parse(&link(&sink.wait_for(&email, 1).await)).unwrap();
    let ticket = query(&verify_link, "ticket").unwrap();

    // A verification ticket is not a reset ticket, as a link type or at /user/password.
    let wrong_type = verify_link
        .as_str()
        .replace("type=emailVerify", "type=passwordReset");
    let (_, location) = follow(&app, &wrong_type).await;
    assert_eq!(query(&location, "error").as_deref(), Some("invalid-ticket"));
    let as_reset = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD, "ticket": ticket }),
        None,
    )
    .await;
    assert_error(as_reset, StatusCode::UNAUTHORIZED, "invalid-ticket").await;

    // Reset tickets live one hour; following one leaves the form 15 minutes.
    post(
        &app,
        "/auth/user/password/reset",
        json!({ "email": email, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    let (_, location) = follow(&app, &link(&sink.wait_for(&email, 2).await)).await;
    let reset_ticket = fragment(&location, "ticket").unwrap();
    // The form's ticket lives 15 minutes.
    app.clock.advance(Duration::from_secs(15 * 60));
    let late = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD, "ticket": reset_ticket }),
        None,
    )
    .await;
    assert_error(late, StatusCode::UNAUTHORIZED, "invalid-ticket").await;
    // The verification link is still within its 24 hours and works, to the ticket's own redirect.
    let (status, location) = follow(&app, verify_link.as_str()).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, APP));
}

async fn disallowed_redirects_are_refused_up_front(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(
        backend,
        &sink,
        &[("TESSERA_REQUIRE_EMAIL_VERIFICATION", "true")],
    )
    .await;
    let email = unique_email();
    for (path, body) in [
        (
            "/auth/signup/email-password",
            json!({ "email": email, "password": PASSWORD, "options": { "redirectTo": "https://evil.example/x" } }),
        ),
        (
            "/auth/user/password/reset",
            json!({ "email": email, "options": { "redirectTo": "https://app.example.com.evil.example/" } }),
        ),
        (
            "/auth/signin/passwordless/email",
            json!({ "email": email, "codeChallenge": CHALLENGE, "options": { "redirectTo": "javascript:alert(1)" } }),
        ),
    ] {
        assert_error(
            post(&app, path, body, None).await,
            StatusCode::BAD_REQUEST,
            "redirect-not-allowed",
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.messages_to(&email).is_empty(), "nothing was sent");
    // A tampered redirectTo in a genuine link is ignored: the ticket's own target wins.
    post(
        &app,
        "/auth/signup/email-password",
        json!({ "email": email, "password": PASSWORD, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    let genuine = link(&sink.wait_for(&email, 1).await).replace("app.example.com", "evil.example");
    let (_, location) = follow(&app, &genuine).await;
    assert_eq!(location.as_str(), APP);
}

async fn sign_up_honours_email_domain_lists(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(
        backend,
        &sink,
        &[("TESSERA_BLOCKED_EMAIL_DOMAINS", "blocked.example")],
    )
    .await;
    let blocked = post(
        &app,
        "/auth/signup/email-password",
        json!({ "email": "a@blocked.example", "password": PASSWORD }),
        None,
    )
    .await;
    assert_error(blocked, StatusCode::FORBIDDEN, "email-domain-not-allowed").await;
    let only = spawn(
        backend,
        &sink,
        &[("TESSERA_ALLOWED_EMAIL_DOMAINS", "corp.example")],
    )
    .await;
    let outsider = post(
        &only,
        "/auth/signup/email-password",
        json!({ "email": unique_email(), "password": PASSWORD }),
        None,
    )
    .await;
    assert_error(outsider, StatusCode::FORBIDDEN, "email-domain-not-allowed").await;
    let insider = post(
        &only,
        "/auth/signup/email-password",
        json!({ "email": "ada@corp.example", "password": PASSWORD }),
        None,
    )
    .await;
    assert_eq!(insider.status(), StatusCode::OK);
}

async fn a_temporary_smtp_failure_is_retried(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    app.post_json(
        "/auth/signup/email-password",
        &json!({ "email": email, "password": PASSWORD }),
    )
    .await;
    sink.refuse_next_delivery();
    let reset = post(
        &app,
        "/auth/user/password/reset",
        json!({ "email": email }),
        None,
    )
    .await;
    assert_eq!(
        reset.status(),
        StatusCode::OK,
        "the request does not wait for delivery"
    );
    let message = sink.wait_for(&email, 1).await;
    assert!(
        message.data.contains("Reset your password"),
        "delivered on the retry"
    );
}

async fn without_smtp_messages_land_in_the_outbox(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_REQUIRE_EMAIL_VERIFICATION", "true")]).await;
    let email = unique_email();
    app.post_json(
        "/signup/email-password",
        &json!({ "email": email, "password": PASSWORD }),
    )
    .await;
    let mut files = Vec::new();
    for _ in 0..100 {
        // Messages appear whole under their .eml name (written aside, then linked).
        files = std::fs::read_dir(app.outbox.path())
            .unwrap()
            .flatten()
            .filter(|f| f.file_name().to_string_lossy().ends_with(".eml"))
            .collect();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files.len(), 1);
    let message = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(message.contains(&format!("To: {email}")), "{message}");
    assert!(message.contains("/verify?ticket="));
}

both_backends!(
    email_verification,
    password_reset_ends_every_session,
    password_change_ends_the_other_sessions,
    email_change_is_confirmed_by_the_new_address,
    magic_link_leads_to_a_code_exchanged_with_pkce,
    anonymous_users_upgrade_keeping_their_id,
    tickets_expire_and_keep_to_their_purpose,
    disallowed_redirects_are_refused_up_front,
    sign_up_honours_email_domain_lists,
    a_temporary_smtp_failure_is_retried,
    without_smtp_messages_land_in_the_outbox,
);
