//! How and when a session authenticated: every access token carries `amr` (the methods) and
//! `auth_time` (the latest sign-in or step-up), a refresh keeps both, the recent-sign-in
//! rule reads `auth_time`, and `Sessions::step_up` renews them on a live session.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::domain::errors::AuthError;
use tessera::domain::sessions::{AuthMethod, ClientInfo};
use tessera::support::clock::Clock;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{
    Backend, PASSWORD, TestApp, assert_error, audit_secret, audit_session, sid, unique_email,
};
use crate::lifecycle::{APP, CHALLENGE, VERIFIER, follow, post, query, spawn};
use crate::smtp_sink::{SmtpSink, link, otp};

/// Recorded for the log audit where it is used.
const NEW_PASSWORD: &str = "a-stepped-Up-passphrase-3";
const WINDOW: Duration = Duration::from_secs(10 * 60);

/// The claims of an access token as JSON (read without verification: the shape), after
/// checking that Tessera itself accepts the token.
async fn claims(app: &TestApp, session: &Value) -> Value {
    let token = session["accessToken"].as_str().unwrap();
    app.state.sessions.authenticate(token).await.unwrap();
    jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .unwrap()
        .claims
}

/// Asserts a session's token says `amr` and `auth_time` (unix seconds).
async fn assert_authenticated(app: &TestApp, session: &Value, amr: &[&str], auth_time: i64) {
    let claims = claims(app, session).await;
    assert_eq!(claims["amr"], json!(amr), "{claims}");
    assert_eq!(claims["auth_time"], auth_time, "{claims}");
}

fn now(app: &TestApp) -> i64 {
    app.clock.now().unix_timestamp()
}

/// Moves the clock on, so that each sign-in below has an `auth_time` of its own.
fn tick(app: &TestApp) {
    app.clock.advance(Duration::from_secs(7));
}

/// `POST /token` and the new session.
async fn refreshed(app: &TestApp, session: &Value) -> Value {
    let token = &session["refreshToken"];
    let response = post(app, "/auth/token", json!({ "refreshToken": token }), None).await;
    assert_eq!(response.status(), StatusCode::OK, "refresh");
    let body: Value = response.json().await.unwrap();
    audit_session(&body);
    body
}

fn session_of(body: Value) -> Value {
    audit_session(&body["session"]);
    body["session"].clone()
}

/// Signs up (`up`) or in with the test password and returns the session.
async fn with_password(app: &TestApp, email: &str, up: bool) -> Value {
    let path = if up {
        "/auth/signup/email-password"
    } else {
        "/auth/signin/email-password"
    };
    let body = json!({ "email": email, "password": PASSWORD });
    let response = post(app, path, body, None).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    session_of(response.json().await.unwrap())
}

async fn sign_in_with_link(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> Value {
    let request =
        json!({ "email": email, "options": { "redirectTo": APP }, "codeChallenge": CHALLENGE });
    let response = post(app, "/auth/signin/passwordless/email", request, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, location) = follow(app, &link(&sink.wait_for(email, nth).await)).await;
    let code = query(&location, "code").expect("a one-time code");
    let exchange = json!({ "code": code, "codeVerifier": VERIFIER });
    let response = post(app, "/auth/token/exchange", exchange, None).await;
    assert_eq!(response.status(), StatusCode::OK, "exchange");
    session_of(response.json().await.unwrap())
}

async fn sign_in_with_code(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> Value {
    let response = post(
        app,
        "/auth/signin/otp/email",
        json!({ "email": email }),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let code = otp(&sink.wait_for(email, nth).await);
    let verify = json!({ "email": email, "otp": code });
    let response = post(app, "/auth/signin/otp/email/verify", verify, None).await;
    assert_eq!(response.status(), StatusCode::OK, "email code");
    session_of(response.json().await.unwrap())
}

async fn sign_in_with_pat(app: &TestApp, recent: &Value) -> Value {
    let expires_at = (app.clock.now() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let response = app
        .client
        .post(app.url("/auth/pat"))
        .bearer_auth(recent["accessToken"].as_str().unwrap())
        .json(&json!({ "expiresAt": expires_at }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "create a PAT");
    let pat = response.json::<Value>().await.unwrap()["personalAccessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    audit_secret(&pat);
    let response = post(
        app,
        "/auth/signin/pat",
        json!({ "personalAccessToken": pat }),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "PAT sign-in");
    session_of(response.json().await.unwrap())
}

async fn each_sign_in_method_has_its_amr_and_auth_time_and_a_refresh_keeps_them(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();

    let signed_up = with_password(&app, &email, true).await;
    let signed_up_at = now(&app);
    assert_authenticated(&app, &signed_up, &["pwd"], signed_up_at).await;

    tick(&app);
    let password = with_password(&app, &email, false).await;
    let password_at = now(&app);
    assert_authenticated(&app, &password, &["pwd"], password_at).await;

    // Another address, for the emailed methods (proving the mailbox of an unverified
    // account would end the password sessions above).
    let email = unique_email();
    tick(&app);
    let linked = sign_in_with_link(&app, &sink, &email, 1).await;
    let linked_at = now(&app);
    assert_authenticated(&app, &linked, &["email"], linked_at).await;

    tick(&app);
    let coded = sign_in_with_code(&app, &sink, &email, 2).await;
    let coded_at = now(&app);
    assert_authenticated(&app, &coded, &["email"], coded_at).await;

    tick(&app);
    let from_pat = sign_in_with_pat(&app, &password).await;
    let pat_at = now(&app);
    assert_authenticated(&app, &from_pat, &["pat"], pat_at).await;

    tick(&app);
    let anonymous = session_of(
        post(&app, "/auth/signin/anonymous", json!({}), None)
            .await
            .json()
            .await
            .unwrap(),
    );
    let anonymous_at = now(&app);
    // Present and empty: no method proved who an anonymous user is.
    assert_authenticated(&app, &anonymous, &[], anonymous_at).await;

    // The discovery document names both claims.
    let discovery: Value = app
        .get("/auth/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let supported = discovery["claims_supported"].as_array().unwrap();
    for claim in ["auth_time", "amr"] {
        assert!(supported.contains(&json!(claim)), "{discovery}");
    }

    // An hour later (twice: each refresh goes on from the last), every session's tokens
    // still say how and when it signed in; only `iat` moves.
    let sessions = [
        (signed_up, vec!["pwd"], signed_up_at),
        (password, vec!["pwd"], password_at),
        (linked, vec!["email"], linked_at),
        (coded, vec!["email"], coded_at),
        (from_pat, vec!["pat"], pat_at),
        (anonymous, vec![], anonymous_at),
    ];
    for (session, amr, auth_time) in sessions {
        let mut session = session;
        for _ in 0..2 {
            app.clock.advance(Duration::from_secs(30 * 60));
            session = refreshed(&app, &session).await;
            assert_authenticated(&app, &session, &amr, auth_time).await;
            assert_eq!(claims(&app, &session).await["iat"], now(&app));
        }
    }
}

async fn the_recent_sign_in_rule_follows_auth_time_and_a_step_up_renews_it(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    with_password(&app, &email, true).await;
    let session = with_password(&app, &email, false).await;
    let sid = sid(session["accessToken"].as_str().unwrap());
    let user: Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();
    let sessions = &app.state.sessions;

    // Within the window: recent, but not with a second factor.
    assert!(sessions.recent_sign_in(sid).await.unwrap());
    assert!(sessions.recent_authentication(sid, false).await.unwrap());
    assert!(!sessions.recent_authentication(sid, true).await.unwrap());

    // Past the window, a refresh does not make it recent again.
    app.clock.advance(WINDOW + Duration::from_secs(1));
    let stale = refreshed(&app, &session).await;
    assert!(!sessions.recent_sign_in(sid).await.unwrap());
    assert!(!sessions.recent_authentication(sid, false).await.unwrap());
    let change = |token: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/auth/user/password"))
                .bearer_auth(token)
                .json(&json!({ "newPassword": NEW_PASSWORD }))
                .send()
                .await
                .unwrap()
        }
    };
    audit_secret(NEW_PASSWORD);
    let stale_token = stale["accessToken"].as_str().unwrap().to_owned();
    assert_error(
        change(stale_token.clone()).await,
        StatusCode::FORBIDDEN,
        "elevated-claim-required",
    )
    .await;

    // A step-up: now is the session's latest authentication, and a second factor is added.
    app.clock.advance(Duration::from_secs(5));
    let stepped = sessions
        .step_up(user, sid, &[AuthMethod::Otp, AuthMethod::Mfa])
        .await
        .unwrap();
    let stepped_at = now(&app);
    assert_eq!(stepped.session.id, sid);
    assert_eq!(stepped.session.amr, ["pwd", "otp", "mfa"]);
    let token = json!({ "accessToken": stepped.access_token });
    assert_authenticated(&app, &token, &["pwd", "otp", "mfa"], stepped_at).await;
    assert!(sessions.recent_sign_in(sid).await.unwrap());
    assert!(sessions.recent_authentication(sid, true).await.unwrap());

    // The refresh token the client held before goes on, and its successors say so too.
    app.clock.advance(Duration::from_secs(60));
    let after = refreshed(&app, &stale).await;
    assert_authenticated(&app, &after, &["pwd", "otp", "mfa"], stepped_at).await;

    // The session may now change the password without the current one (even through the
    // token from before the step-up: the rule reads the session, not the token).
    assert_eq!(change(stale_token).await.status(), StatusCode::OK);

    // Once the window has passed again, a second factor does not make it recent.
    app.clock.advance(WINDOW);
    assert!(!sessions.recent_authentication(sid, true).await.unwrap());
}

async fn only_a_live_session_of_the_user_steps_up_and_never_a_pat_session(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let session = with_password(&app, &unique_email(), true).await;
    let sid = sid(session["accessToken"].as_str().unwrap());
    let user: Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();
    let sessions = &app.state.sessions;
    let methods = [AuthMethod::Recovery, AuthMethod::Mfa];

    // Not the user's session, or no such session.
    for (user, sid) in [(Uuid::new_v4(), sid), (user, Uuid::new_v4())] {
        let refused = sessions.step_up(user, sid, &methods).await.unwrap_err();
        assert!(matches!(refused, AuthError::InvalidToken), "{refused:?}");
    }
    let unchanged = app.store.session(sid).await.unwrap().unwrap();
    assert_eq!(unchanged.amr, ["pwd"]);

    // A PAT session may step up, but never counts as a recent sign-in.
    let from_pat = sign_in_with_pat(&app, &session).await;
    let pat_sid = crate::helpers::sid(from_pat["accessToken"].as_str().unwrap());
    let stepped = sessions.step_up(user, pat_sid, &methods).await.unwrap();
    assert_eq!(stepped.session.amr, ["pat", "rec", "mfa"]);
    assert!(!sessions.recent_sign_in(pat_sid).await.unwrap());
    assert!(!sessions.recent_authentication(pat_sid, true).await.unwrap());

    // A signed-out session does not step up.
    let client = ClientInfo::default();
    let refresh = session["refreshToken"].as_str();
    sessions
        .sign_out(refresh, None, false, &client)
        .await
        .unwrap();
    let refused = sessions.step_up(user, sid, &methods).await.unwrap_err();
    assert!(matches!(refused, AuthError::InvalidToken), "{refused:?}");
    let ended = app.store.session(sid).await.unwrap().unwrap();
    assert_eq!(ended.amr, ["pwd"]);
}

both_backends!(
    each_sign_in_method_has_its_amr_and_auth_time_and_a_refresh_keeps_them,
    the_recent_sign_in_rule_follows_auth_time_and_a_step_up_renews_it,
    only_a_live_session_of_the_user_steps_up_and_never_a_pat_session,
);
