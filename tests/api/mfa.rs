//! The TOTP second factor end to end: codes come from Python's `pyotp` (not from Tessera's
//! own code), at the time of the server's ManualClock, so the server and an independent
//! implementation of RFC 6238 must agree.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use reqwest::header::{ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use tessera::support::clock::Clock;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_error, audit_secret, audit_session, unique_email,
};
use crate::lifecycle::{APP, CHALLENGE, VERIFIER, follow, post, query, sign_in, spawn};
use crate::smtp_sink::{SmtpSink, link, otp};

const ADMIN_SECRET: &str = "an-admin-secret-of-at-least-32-characters";

/// The TOTP code of a base32 secret at unix time `at`, computed by pyotp.
pub(crate) fn pyotp_code(secret: &str, at: i64) -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            secret,
            &at.to_string(),
        ])
        .output()
        .expect("python3 with pyotp (scripts/install-test-deps)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The code of the server's current time.
pub(crate) fn code_now(app: &TestApp, secret: &str) -> String {
    pyotp_code(secret, app.clock.now().unix_timestamp())
}

/// Moves the server to the next 30-second step and returns its code (a step is accepted
/// once: every use needs a step of its own).
pub(crate) fn next_code(app: &TestApp, secret: &str) -> String {
    app.clock.advance(Duration::from_secs(30));
    code_now(app, secret)
}

/// A wrong code for this instant.
pub(crate) fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

pub(crate) async fn get(app: &TestApp, path: &str, bearer: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn signed_up(app: &TestApp, email: &str) -> Value {
    let response = post(
        app,
        "/auth/signup/email-password",
        json!({ "email": email, "password": PASSWORD }),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    audit_session(&body["session"]);
    body["session"].clone()
}

/// `GET /mfa/totp/generate` with a session's token: the body.
pub(crate) async fn generate(app: &TestApp, session: &Value) -> Value {
    let token = session["accessToken"].as_str().unwrap();
    let response = get(app, "/auth/mfa/totp/generate", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    audit_secret(body["totpSecret"].as_str().unwrap());
    body
}

pub(crate) async fn change(
    app: &TestApp,
    session: &Value,
    code: &str,
    kind: &str,
) -> reqwest::Response {
    let token = session["accessToken"].as_str().unwrap();
    post(
        app,
        "/auth/user/mfa",
        json!({ "code": code, "activeMfaType": kind }),
        Some(token),
    )
    .await
}

/// Enables TOTP for a session's user; returns (secret, recovery codes).
pub(crate) async fn enable(app: &TestApp, session: &Value) -> (String, Vec<String>) {
    let body = generate(app, session).await;
    let secret = body["totpSecret"].as_str().unwrap().to_owned();
    let codes: Vec<String> = serde_json::from_value(body["recoveryCodes"].clone()).unwrap();
    let response = change(app, session, &code_now(app, &secret), "totp").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), "OK");
    (secret, codes)
}

/// A password sign-in that must answer the second step: the ticket.
pub(crate) async fn ticket(app: &TestApp, email: &str) -> String {
    let response = sign_in(app, email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["session"], Value::Null, "{body}");
    let ticket = body["mfa"]["ticket"].as_str().expect("a ticket").to_owned();
    assert!(ticket.starts_with("mfaTotp:"), "{ticket}");
    audit_secret(&ticket);
    ticket
}

pub(crate) async fn second_step(app: &TestApp, ticket: &str, otp: &str) -> reqwest::Response {
    post(
        app,
        "/auth/signin/mfa/totp",
        json!({ "ticket": ticket, "otp": otp }),
        None,
    )
    .await
}

pub(crate) async fn session_of(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    audit_session(&body["session"]);
    assert!(body["session"]["accessToken"].is_string(), "{body}");
    body["session"].clone()
}

async fn event_kinds(app: &TestApp, user_id: &Value) -> Vec<String> {
    let id: Uuid = user_id.as_str().unwrap().parse().unwrap();
    let events = app.store.events(Some(id), 100).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

async fn enrolment_shows_a_qr_code_and_a_right_code_enables_totp(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    let session = signed_up(&app, &email).await;
    let body = generate(&app, &session).await;
    let image = body["imageUrl"].as_str().unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(
            image
                .strip_prefix("data:image/png;base64,")
                .expect("a PNG data URL"),
        )
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    let secret = body["totpSecret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let codes = body["recoveryCodes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);

    assert_error(
        change(&app, &session, &wrong(&code_now(&app, secret)), "totp").await,
        StatusCode::UNAUTHORIZED,
        "invalid-totp",
    )
    .await;
    assert_error(
        change(&app, &session, codes[0].as_str().unwrap(), "totp").await,
        StatusCode::UNAUTHORIZED,
        "invalid-totp",
    )
    .await;
    let token = session["accessToken"].as_str().unwrap();
    let user: Value = get(&app, "/auth/user", token).await.json().await.unwrap();
    assert_eq!(
        user["activeMfaType"],
        Value::Null,
        "not before a right code"
    );

    let response = change(&app, &session, &code_now(&app, secret), "totp").await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = get(&app, "/auth/user", token).await.json().await.unwrap();
    assert_eq!(user["activeMfaType"], "totp");
    assert_error(
        get(&app, "/auth/mfa/totp/generate", token).await,
        StatusCode::BAD_REQUEST,
        "totp-already-active",
    )
    .await;
    assert!(
        event_kinds(&app, &user["id"])
            .await
            .contains(&"mfa-enabled".to_owned())
    );
    assert!(
        event_kinds(&app, &user["id"])
            .await
            .contains(&"mfa-code-failed".to_owned())
    );
}

async fn sign_in_asks_for_the_code_and_each_code_and_ticket_work_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    let session = signed_up(&app, &email).await;
    let (secret, _) = enable(&app, &session).await;

    // The right password gives no token and no session cookie, only the ticket.
    let response = sign_in(&app, &email, PASSWORD).await;
    let set: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set.iter().all(|c| c.starts_with("tessera-device=")),
        "{set:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["session"], Value::Null);
    let ticket = body["mfa"]["ticket"].as_str().unwrap().to_owned();
    audit_secret(&ticket);

    let code = next_code(&app, &secret);
    assert_error(
        second_step(&app, &ticket, &wrong(&code)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-totp",
    )
    .await;
    let signed_in = session_of(second_step(&app, &ticket, &code).await).await;
    assert_eq!(signed_in["user"]["activeMfaType"], "totp");
    assert_error(
        second_step(&app, &ticket, &next_code(&app, &secret)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-ticket",
    )
    .await;
    // The accepted code again (its step is still within the drift), with a fresh ticket:
    // a replay.
    let replayed = code.clone();
    let fresh = crate::mfa::ticket(&app, &email).await;
    assert_error(
        second_step(&app, &fresh, &replayed).await,
        StatusCode::UNAUTHORIZED,
        "invalid-totp",
    )
    .await;
    assert_error(
        second_step(&app, "mfaTotp:not-a-ticket", &next_code(&app, &secret)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-ticket",
    )
    .await;

    // Cookie mode: the session arrives in cookies, as with a password alone.
    let first = app
        .client
        .post(app.url("/auth/signin/email-password"))
        .header("tessera-auth-mode", "cookie")
        .header(ORIGIN, "http://localhost:4000")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let body: Value = first.json().await.unwrap();
    let cookie_ticket = body["mfa"]["ticket"].as_str().unwrap().to_owned();
    audit_secret(&cookie_ticket);
    let response = app
        .client
        .post(app.url("/auth/signin/mfa/totp"))
        .header("tessera-auth-mode", "cookie")
        .header(ORIGIN, "http://localhost:4000")
        .json(&json!({ "ticket": cookie_ticket, "otp": next_code(&app, &secret) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set.iter()
            .any(|c| c.starts_with("__Secure-tessera-refresh-token=")),
        "{set:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["session"].get("refreshToken").is_none(), "{body}");
}

async fn a_ticket_expires_and_wrong_codes_are_limited(backend: Backend) {
    let sink = SmtpSink::start().await;
    let limit = [("TESSERA_RATE_LIMIT_FAILED_SIGNINS", "5/1h")];
    let app = spawn(backend, &sink, &limit).await;
    let email = unique_email();
    let session = signed_up(&app, &email).await;
    let (secret, _) = enable(&app, &session).await;

    let expiring = ticket(&app, &email).await;
    app.clock.advance(Duration::from_secs(5 * 60 + 1));
    assert_error(
        second_step(&app, &expiring, &code_now(&app, &secret)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-ticket",
    )
    .await;

    let ticket = ticket(&app, &email).await;
    let code = next_code(&app, &secret);
    for _ in 0..5 {
        assert_error(
            second_step(&app, &ticket, &wrong(&code)).await,
            StatusCode::UNAUTHORIZED,
            "invalid-totp",
        )
        .await;
    }
    // The ticket died with its fifth wrong code, right code or not.
    assert_error(
        second_step(&app, &ticket, &code).await,
        StatusCode::UNAUTHORIZED,
        "invalid-ticket",
    )
    .await;
    // Wrong codes count as failed sign-ins of the address: no fresh tickets either.
    let locked = sign_in(&app, &email, PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.headers().contains_key("retry-after"));
    // And against the user, whatever the ticket (a device cookie would pass the address's
    // lock; the user's limit still holds).
    let client = tessera::domain::sessions::ClientInfo::new("192.0.2.9".into(), "test");
    let user = app.store.user_by_email(&email).await.unwrap().unwrap();
    let tessera::domain::mfa::SignIn::SecondFactor { ticket: other, .. } = app
        .state
        .mfa
        .sign_in(
            user,
            &client,
            &[tessera::domain::sessions::AuthMethod::Password],
        )
        .await
        .unwrap()
    else {
        panic!("TOTP is on: a second step");
    };
    let limited = second_step(&app, &other, &next_code(&app, &secret)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));

    app.clock.advance(Duration::from_secs(3600));
    let ticket = crate::mfa::ticket(&app, &email).await;
    session_of(second_step(&app, &ticket, &next_code(&app, &secret)).await).await;
}

async fn recovery_codes_work_once_and_a_new_set_revokes_the_old(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    let session = signed_up(&app, &email).await;
    let (_, codes) = enable(&app, &session).await;

    let first = ticket(&app, &email).await;
    let typed = codes[0].to_uppercase().replace('-', " ");
    let signed_in = session_of(second_step(&app, &first, &typed).await).await;
    let again = ticket(&app, &email).await;
    assert_error(
        second_step(&app, &again, &codes[0]).await,
        StatusCode::UNAUTHORIZED,
        "invalid-totp",
    )
    .await;

    let token = signed_in["accessToken"].as_str().unwrap();
    let response = post(
        &app,
        "/auth/user/mfa/recovery-codes",
        json!({}),
        Some(token),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let new: Vec<String> = serde_json::from_value(body["recoveryCodes"].clone()).unwrap();
    assert_eq!(new.len(), 10);
    assert_error(
        second_step(&app, &again, &codes[1]).await,
        StatusCode::UNAUTHORIZED,
        "invalid-totp",
    )
    .await;
    session_of(second_step(&app, &again, &new[9]).await).await;
    let kinds = event_kinds(&app, &signed_in["user"]["id"]).await;
    for kind in ["mfa-recovery-code-used", "mfa-recovery-codes-regenerated"] {
        assert!(kinds.contains(&kind.to_owned()), "{kind}: {kinds:?}");
    }
}

async fn disabling_needs_a_code_and_an_admin_can_reset(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[("TESSERA_ADMIN_SECRET", ADMIN_SECRET)]).await;
    let email = unique_email();
    let session = signed_up(&app, &email).await;
    let (secret, _) = enable(&app, &session).await;
    let code = next_code(&app, &secret);
    assert_error(
        change(&app, &session, &wrong(&code), "").await,
        StatusCode::UNAUTHORIZED,
        "invalid-totp",
    )
    .await;
    assert_eq!(
        change(&app, &session, &code, "").await.status(),
        StatusCode::OK
    );
    assert_error(
        change(&app, &session, &next_code(&app, &secret), "").await,
        StatusCode::UNAUTHORIZED,
        "disabled-mfa-totp",
    )
    .await;
    let response = sign_in(&app, &email, PASSWORD).await;
    let plain = session_of(response).await;
    assert_eq!(plain["user"]["activeMfaType"], Value::Null);

    // The administrator's reset.
    let (_, _) = enable(&app, &plain).await;
    ticket(&app, &email).await;
    let id = plain["user"]["id"].as_str().unwrap();
    let reset = |id: String| {
        app.client
            .delete(app.url(&format!("/auth/admin/users/{id}/mfa")))
            .header("x-tessera-admin-secret", ADMIN_SECRET)
            .send()
    };
    assert_eq!(
        reset(id.to_owned()).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        reset(Uuid::new_v4().to_string()).await.unwrap(),
        StatusCode::NOT_FOUND,
        "user-not-found",
    )
    .await;
    let after = session_of(sign_in(&app, &email, PASSWORD).await).await;
    assert_eq!(
        after["user"]["activeMfaType"],
        Value::Null,
        "no second step"
    );
    assert!(
        event_kinds(&app, &plain["user"]["id"])
            .await
            .contains(&"mfa-reset".to_owned())
    );
}

/// Requests a sign-in link, follows the `nth` message, exchanges the code: the body.
async fn link_exchange(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> Value {
    let request = post(
        app,
        "/auth/signin/passwordless/email",
        json!({ "email": email, "options": { "redirectTo": APP }, "codeChallenge": CHALLENGE }),
        None,
    )
    .await;
    assert_eq!(request.status(), StatusCode::OK);
    sink.wait_for(email, nth).await;
    let emailed = sink
        .messages_to(email)
        .iter()
        .map(link)
        .rfind(|l| l.contains("type=signinPasswordless"))
        .expect("a sign-in link");
    let (_, location) = follow(app, &emailed).await;
    let code = query(&location, "code").expect("a one-time code");
    let response = post(
        app,
        "/auth/token/exchange",
        json!({ "code": code, "codeVerifier": VERIFIER }),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    audit_session(&body["session"]);
    body
}

async fn sign_in_links_and_email_codes_ask_for_the_code_too(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    signed_up(&app, &email).await;
    // The owner proves the mailbox first, then turns TOTP on.
    let owner = link_exchange(&app, &sink, &email, 1).await["session"].clone();
    let (secret, _) = enable(&app, &owner).await;

    let by_link = link_exchange(&app, &sink, &email, 2).await;
    assert_eq!(by_link["session"], Value::Null, "{by_link}");
    let ticket = by_link["mfa"]["ticket"]
        .as_str()
        .expect("a ticket")
        .to_owned();
    audit_secret(&ticket);
    session_of(second_step(&app, &ticket, &next_code(&app, &secret)).await).await;

    let request = post(
        &app,
        "/auth/signin/otp/email",
        json!({ "email": email }),
        None,
    )
    .await;
    assert_eq!(request.status(), StatusCode::OK);
    let code = otp(&sink.wait_for(&email, 3).await);
    let verify = json!({ "email": email, "otp": code });
    let response = post(&app, "/auth/signin/otp/email/verify", verify, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["session"], Value::Null, "{body}");
    let ticket = body["mfa"]["ticket"].as_str().expect("a ticket").to_owned();
    audit_secret(&ticket);
    session_of(second_step(&app, &ticket, &next_code(&app, &secret)).await).await;
}

/// The pre-hijack with a second factor: an attacker registers the victim's address and
/// turns TOTP on. When the victim proves the mailbox, the attacker's factor goes with the
/// attacker's password and sessions; otherwise it would lock the owner out (or let the
/// attacker's authenticator stand in for the owner's).
async fn claiming_a_mailbox_removes_a_pre_hijackers_second_factor(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let victim = unique_email();
    let attacker = signed_up(&app, &victim).await;
    assert_eq!(attacker["user"]["emailVerified"], false);
    enable(&app, &attacker).await;

    let owner = link_exchange(&app, &sink, &victim, 1).await;
    assert!(
        owner["session"]["accessToken"].is_string(),
        "no second step: {owner}"
    );
    assert_eq!(owner["session"]["user"]["activeMfaType"], Value::Null);
    let id: Uuid = owner["session"]["user"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        app.store.totp_secret(id).await.unwrap().is_none(),
        "the secret is gone"
    );
    assert_eq!(app.store.recovery_codes_left(id).await.unwrap(), 0);
    let kinds = event_kinds(&app, &owner["session"]["user"]["id"]).await;
    assert!(kinds.contains(&"mfa-reset".to_owned()), "{kinds:?}");
}

async fn anonymous_and_stale_sessions_cannot_enrol(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let response = post(&app, "/auth/signin/anonymous", json!({}), None).await;
    let anonymous = session_of(response).await;
    let token = anonymous["accessToken"].as_str().unwrap();
    assert_error(
        get(&app, "/auth/mfa/totp/generate", token).await,
        StatusCode::FORBIDDEN,
        "forbidden-anonymous",
    )
    .await;

    let session = signed_up(&app, &unique_email()).await;
    app.clock.advance(Duration::from_secs(11 * 60));
    let token = session["accessToken"].as_str().unwrap().to_owned();
    let refreshed = post(
        &app,
        "/auth/token",
        json!({ "refreshToken": session["refreshToken"] }),
        None,
    )
    .await;
    let refreshed: Value = refreshed.json().await.unwrap();
    audit_session(&refreshed);
    let token = refreshed["accessToken"].as_str().unwrap_or(&token);
    assert_error(
        get(&app, "/auth/mfa/totp/generate", token).await,
        StatusCode::FORBIDDEN,
        "elevated-claim-required",
    )
    .await;
}

both_backends!(
    enrolment_shows_a_qr_code_and_a_right_code_enables_totp,
    sign_in_asks_for_the_code_and_each_code_and_ticket_work_once,
    a_ticket_expires_and_wrong_codes_are_limited,
    recovery_codes_work_once_and_a_new_set_revokes_the_old,
    disabling_needs_a_code_and_an_admin_can_reset,
    sign_in_links_and_email_codes_ask_for_the_code_too,
    claiming_a_mailbox_removes_a_pre_hijackers_second_factor,
    anonymous_and_stale_sessions_cannot_enrol,
);
