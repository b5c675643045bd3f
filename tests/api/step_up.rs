//! Step-up with the second factor: a session's `amr` and `auth_time` say how and when it
//! authenticated, and the sensitive changes of an account with TOTP on (password, email,
//! personal access tokens, recovery codes) need a recent authentication that includes the
//! second factor: a second-step sign-in, or `POST /elevate/totp` on the session.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::support::clock::Clock;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, audit_secret, unique_email};
use crate::lifecycle::{post, spawn};
use crate::mfa::{enable, next_code, second_step, session_of, signed_up, ticket, wrong};
use crate::smtp_sink::SmtpSink;

/// Recorded for the log audit where it is used.
const NEW_PASSWORD: &str = "a-second-Factor-passphrase-8";

/// The claims of an access token (Tessera accepts it; read without verification).
async fn claims(app: &TestApp, token: &str) -> Value {
    app.state.sessions.authenticate(token).await.unwrap();
    jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .unwrap()
        .claims
}

fn token(session: &Value) -> String {
    session["accessToken"].as_str().unwrap().to_owned()
}

async fn elevate(app: &TestApp, token: &str, otp: &str) -> reqwest::Response {
    post(
        app,
        "/auth/elevate/totp",
        json!({ "otp": otp }),
        Some(token),
    )
    .await
}

/// Each sensitive change, made with `token`: the statuses, in the order PAT, password
/// change (with the current password), email change, new recovery codes.
async fn sensitive_changes(app: &TestApp, token: &str) -> Vec<(&'static str, StatusCode)> {
    let expires_at = (app.clock.now() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let pat = post(
        app,
        "/auth/pat",
        json!({ "expiresAt": expires_at }),
        Some(token),
    )
    .await;
    let mut statuses = vec![("pat", pat.status())];
    if pat.status() == StatusCode::OK {
        let body: Value = pat.json().await.unwrap();
        audit_secret(body["personalAccessToken"].as_str().unwrap());
    } else {
        assert_error(pat, StatusCode::FORBIDDEN, "elevated-claim-required").await;
    }
    let password = post(
        app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD, "currentPassword": PASSWORD }),
        Some(token),
    )
    .await;
    statuses.push(("password", password.status()));
    let email = post(
        app,
        "/auth/user/email/change",
        json!({ "newEmail": unique_email() }),
        Some(token),
    )
    .await;
    statuses.push(("email", email.status()));
    let codes = post(app, "/auth/user/mfa/recovery-codes", json!({}), Some(token)).await;
    let codes_status = codes.status();
    if codes_status == StatusCode::OK {
        let body: Value = codes.json().await.unwrap();
        for code in body["recoveryCodes"].as_array().unwrap() {
            audit_secret(code.as_str().unwrap());
        }
    }
    statuses.push(("recovery-codes", codes_status));
    statuses
}

async fn a_second_step_sign_in_says_so_in_amr_and_auth_time(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    let session = signed_up(&app, &email).await;
    let (secret, codes) = enable(&app, &session).await;

    let first = ticket(&app, &email).await;
    let by_totp = session_of(second_step(&app, &first, &next_code(&app, &secret)).await).await;
    let claims_totp = claims(&app, &token(&by_totp)).await;
    assert_eq!(
        claims_totp["amr"],
        json!(["pwd", "otp", "mfa"]),
        "{claims_totp}"
    );
    assert_eq!(claims_totp["auth_time"], app.clock.now().unix_timestamp());

    let second = ticket(&app, &email).await;
    let by_code = session_of(second_step(&app, &second, &codes[0]).await).await;
    let claims_rec = claims(&app, &token(&by_code)).await;
    assert_eq!(
        claims_rec["amr"],
        json!(["pwd", "rec", "mfa"]),
        "{claims_rec}"
    );
}

async fn sensitive_changes_need_the_second_factor_once_it_is_on(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    // The sign-up session proved the password only; TOTP is turned on from it.
    let session = signed_up(&app, &email).await;
    let (secret, _) = enable(&app, &session).await;
    let password_only = token(&session);

    let refused = sensitive_changes(&app, &password_only).await;
    assert_eq!(
        refused,
        vec![
            ("pat", StatusCode::FORBIDDEN),
            ("password", StatusCode::FORBIDDEN),
            ("email", StatusCode::FORBIDDEN),
            ("recovery-codes", StatusCode::FORBIDDEN),
        ],
        "a password-only session changed an account that has a second factor"
    );

    // A wrong code does not step up.
    let code = next_code(&app, &secret);
    assert_error(
        elevate(&app, &password_only, &wrong(&code)).await,
        StatusCode::UNAUTHORIZED,
        "invalid-totp",
    )
    .await;
    let response = elevate(&app, &password_only, &code).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let stepped = body["accessToken"].as_str().unwrap().to_owned();
    assert!(body["accessTokenExpiresIn"].as_u64().unwrap() > 0);
    let claims = claims(&app, &stepped).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]), "{claims}");
    assert_eq!(claims["auth_time"], app.clock.now().unix_timestamp());
    // The same code cannot step up twice.
    assert_error(
        elevate(&app, &stepped, &code).await,
        StatusCode::UNAUTHORIZED,
        "invalid-totp",
    )
    .await;

    let allowed = sensitive_changes(&app, &stepped).await;
    assert_eq!(
        allowed,
        vec![
            ("pat", StatusCode::OK),
            ("password", StatusCode::OK),
            ("email", StatusCode::OK),
            ("recovery-codes", StatusCode::OK),
        ]
    );

    // A step-up is recent for TESSERA_RECENT_AUTH_WINDOW (10 minutes), then no longer (the
    // password changed above, so that change is refused for the old current password).
    app.clock.advance(Duration::from_secs(11 * 60));
    let stale = sensitive_changes(&app, &stepped).await;
    assert_eq!(
        stale,
        vec![
            ("pat", StatusCode::FORBIDDEN),
            ("password", StatusCode::UNAUTHORIZED),
            ("email", StatusCode::FORBIDDEN),
            ("recovery-codes", StatusCode::FORBIDDEN),
        ]
    );
}

async fn a_new_pat_needs_the_second_factor_too(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let session = signed_up(&app, &unique_email()).await;
    let (secret, _) = enable(&app, &session).await;
    let expires_at = (app.clock.now() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = json!({ "expiresAt": expires_at });
    assert_error(
        post(&app, "/auth/pat", body.clone(), Some(&token(&session))).await,
        StatusCode::FORBIDDEN,
        "elevated-claim-required",
    )
    .await;
    let response = elevate(&app, &token(&session), &next_code(&app, &secret)).await;
    let stepped: Value = response.json().await.unwrap();
    let created = post(
        &app,
        "/auth/pat",
        body,
        Some(stepped["accessToken"].as_str().unwrap()),
    )
    .await;
    assert_eq!(created.status(), StatusCode::OK);
    let created: Value = created.json().await.unwrap();
    audit_secret(created["personalAccessToken"].as_str().unwrap());
}

async fn without_totp_there_is_nothing_to_step_up_with(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let session = signed_up(&app, &unique_email()).await;
    assert_error(
        elevate(&app, &token(&session), "123456").await,
        StatusCode::UNAUTHORIZED,
        "disabled-mfa-totp",
    )
    .await;
    // And without a second factor, a recent password sign-in is enough, as before.
    let changes = sensitive_changes(&app, &token(&session)).await;
    assert_eq!(
        changes[..3],
        [
            ("pat", StatusCode::OK),
            ("password", StatusCode::OK),
            ("email", StatusCode::OK),
        ]
    );
}

async fn a_cookie_session_steps_up_in_its_access_cookie(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let session = signed_up(&app, &unique_email()).await;
    let (secret, _) = enable(&app, &session).await;
    let response = app
        .client
        .post(app.url("/auth/elevate/totp"))
        .header(
            "cookie",
            format!("__Host-tessera-token={}", token(&session)),
        )
        .header("origin", "http://localhost:4000")
        .json(&json!({ "otp": next_code(&app, &secret) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let access = set
        .iter()
        .find_map(|c| c.strip_prefix("__Host-tessera-token="))
        .and_then(|rest| rest.split(';').next())
        .expect("the access cookie is replaced");
    assert!(
        set.iter().all(|c| !c.contains("refresh-token")),
        "a step-up leaves the refresh cookie alone: {set:?}"
    );
    let body: Value = response.json().await.unwrap();
    assert!(body.get("accessToken").is_none(), "{body}");
    let claims = claims(&app, access).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]), "{claims}");
}

/// A PAT, made with `token` (which must be allowed to make one).
async fn new_pat(app: &TestApp, token: &str) -> String {
    let expires_at = (app.clock.now() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let response = post(
        app,
        "/auth/pat",
        json!({ "expiresAt": expires_at }),
        Some(token),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let pat = body["personalAccessToken"].as_str().unwrap().to_owned();
    audit_secret(&pat);
    pat
}

async fn sign_in_with_pat(app: &TestApp, pat: &str) -> reqwest::Response {
    post(
        app,
        "/auth/signin/pat",
        json!({ "personalAccessToken": pat }),
        None,
    )
    .await
}

async fn turning_totp_on_revokes_the_pats_made_without_it(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let session = signed_up(&app, &unique_email()).await;
    // Made while a password was all the account had (say, by whoever stole it).
    let pat = new_pat(&app, &token(&session)).await;
    assert_eq!(sign_in_with_pat(&app, &pat).await.status(), StatusCode::OK);
    enable(&app, &session).await;
    assert_error(
        sign_in_with_pat(&app, &pat).await,
        StatusCode::UNAUTHORIZED,
        "invalid-pat",
    )
    .await;
}

async fn a_pat_session_cannot_step_up(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let session = signed_up(&app, &unique_email()).await;
    let (secret, _) = enable(&app, &session).await;
    let response = elevate(&app, &token(&session), &next_code(&app, &secret)).await;
    let stepped: Value = response.json().await.unwrap();
    let pat = new_pat(&app, stepped["accessToken"].as_str().unwrap()).await;
    let pat_session = session_of(sign_in_with_pat(&app, &pat).await).await;
    assert_error(
        elevate(&app, &token(&pat_session), &next_code(&app, &secret)).await,
        StatusCode::FORBIDDEN,
        "elevated-claim-required",
    )
    .await;
}

async fn code_checks_are_limited_per_ip(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[("TESSERA_RATE_LIMIT_SIGNIN", "3/1m")]).await;
    let session = signed_up(&app, &unique_email()).await;
    enable(&app, &session).await;
    // Concurrent guesses from one client are cut by the sign-in family's per-IP bucket,
    // whatever the route that checks a code.
    let mut statuses = Vec::new();
    for path in [
        "/auth/elevate/totp",
        "/auth/signin/mfa/totp",
        "/auth/user/mfa",
        "/auth/elevate/totp",
    ] {
        let body = match path {
            "/auth/signin/mfa/totp" => json!({ "ticket": "mfaTotp:x", "otp": "123456" }),
            "/auth/user/mfa" => json!({ "code": "123456", "activeMfaType": "" }),
            _ => json!({ "otp": "123456" }),
        };
        statuses.push(
            post(&app, path, body, Some(&token(&session)))
                .await
                .status(),
        );
    }
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
}

both_backends!(
    turning_totp_on_revokes_the_pats_made_without_it,
    a_pat_session_cannot_step_up,
    code_checks_are_limited_per_ip,
    a_cookie_session_steps_up_in_its_access_cookie,
    a_second_step_sign_in_says_so_in_amr_and_auth_time,
    sensitive_changes_need_the_second_factor_once_it_is_on,
    a_new_pat_needs_the_second_factor_too,
    without_totp_there_is_nothing_to_step_up_with,
);
