//! Account takeover, tried as an attacker would: pre-registered addresses, a stolen access
//! token changing the password or the address, a reset ticket leaking through the app's
//! URL, and concurrent writes that bring back an old password or re-enable a user; a
//! passkey registered by whoever pre-registered an address.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, unique_email};
use crate::lifecycle::{
    APP, CHALLENGE, NEW_PASSWORD, VERIFIER, follow, fragment, post, query, sign_in, spawn,
};
use crate::smtp_sink::{SmtpSink, link};

const ADMIN_SECRET: &str = "an-admin-secret-of-at-least-32-characters";

async fn sign_up(app: &TestApp, email: &str, password: &str) -> Value {
    let response = post(
        app,
        "/auth/signup/email-password",
        json!({ "email": email, "password": password, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "sign-up");
    let body: Value = response.json().await.unwrap();
    crate::helpers::audit_session(&body["session"]);
    body["session"].clone()
}

async fn refresh(app: &TestApp, refresh_token: &Value) -> reqwest::Response {
    post(
        app,
        "/auth/token",
        json!({ "refreshToken": refresh_token }),
        None,
    )
    .await
}

async fn get_user(app: &TestApp, bearer: &str) -> reqwest::Response {
    app.client
        .get(app.url("/auth/user"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
}

/// Signs in by emailed link as the mailbox's holder: requests the link, follows the
/// `nth` message to `email`, exchanges the code. Returns the session.
async fn sign_in_by_link(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> Value {
    let request = post(
        app,
        "/auth/signin/passwordless/email",
        json!({ "email": email, "options": { "redirectTo": APP }, "codeChallenge": CHALLENGE }),
        None,
    )
    .await;
    assert_eq!(request.status(), StatusCode::OK);
    // Messages are sent in the background and may arrive in any order.
    sink.wait_for(email, nth).await;
    let emailed = sink
        .messages_to(email)
        .iter()
        .map(link)
        .find(|l| l.contains("type=signinPasswordless"))
        .expect("a sign-in link");
    let (status, location) = follow(app, &emailed).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let code = query(&location, "code").expect("a one-time code");
    let exchange = post(
        app,
        "/auth/token/exchange",
        json!({ "code": code, "codeVerifier": VERIFIER }),
        None,
    )
    .await;
    assert_eq!(exchange.status(), StatusCode::OK);
    let body: Value = exchange.json().await.unwrap();
    crate::helpers::audit_session(&body["session"]);
    body["session"].clone()
}

async fn event_kinds(app: &TestApp, user_id: &Value) -> Vec<String> {
    let id: Uuid = user_id.as_str().unwrap().parse().unwrap();
    app.store
        .events(Some(id), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// The pre-hijack: an attacker registers the victim's address with a password of their
/// choice; the victim later proves the mailbox with a sign-in link. The attacker's
/// password and session must be gone, and the victim must be told nothing is shared.
async fn a_sign_in_link_evicts_whoever_registered_the_address_first(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let victim = unique_email();
    let attacker = sign_up(&app, &victim, PASSWORD).await;
    assert_eq!(attacker["user"]["emailVerified"], false);

    let owner = sign_in_by_link(&app, &sink, &victim, 1).await;
    assert_eq!(owner["user"]["id"], attacker["user"]["id"]);
    assert_eq!(owner["user"]["emailVerified"], true);

    assert_error(
        sign_in(&app, &victim, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid-email-password",
    )
    .await;
    assert_error(
        refresh(&app, &attacker["refreshToken"]).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
    assert_error(
        get_user(&app, attacker["accessToken"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "invalid-token",
    )
    .await;
    // The holder's own session lives on.
    assert_eq!(refresh(&app, &owner["refreshToken"]).await.status(), 200);
    let kinds = event_kinds(&app, &owner["user"]["id"]).await;
    assert!(
        kinds.iter().any(|k| k == "unverified-account-claimed"),
        "{kinds:?}"
    );
}

/// An anonymous visitor (the attacker) upgrades onto the victim's address without a
/// password; the victim's sign-in link must end the attacker's anonymous-era session.
async fn a_sign_in_link_evicts_an_anonymous_upgrade_onto_the_address(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let victim = unique_email();
    let anonymous: Value = app
        .post_json("/auth/signin/anonymous", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let attacker = &anonymous["session"];
    let upgrade = post(
        &app,
        "/auth/user/deanonymize",
        json!({ "signInMethod": "passwordless", "email": victim,
                "options": { "redirectTo": APP } }),
        attacker["accessToken"].as_str(),
    )
    .await;
    assert_eq!(upgrade.status(), StatusCode::OK);

    // The upgrade's own verification link went to the victim (message 1), who ignores it
    // and signs in with a link of their own instead.
    let owner = sign_in_by_link(&app, &sink, &victim, 2).await;
    assert_eq!(owner["user"]["emailVerified"], true);
    assert_error(
        refresh(&app, &attacker["refreshToken"]).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
}

/// A password reset proves the mailbox too: the pre-registered password and sessions go,
/// and the takeover is recorded.
async fn a_password_reset_evicts_whoever_registered_the_address_first(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let victim = unique_email();
    let attacker = sign_up(&app, &victim, PASSWORD).await;
    post(
        &app,
        "/auth/user/password/reset",
        json!({ "email": victim, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    let (_, location) = follow(&app, &link(&sink.wait_for(&victim, 1).await)).await;
    let ticket = fragment(&location, "ticket").expect("the reset ticket in the fragment");
    let done = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD, "ticket": ticket }),
        None,
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_error(
        refresh(&app, &attacker["refreshToken"]).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
    assert_eq!(sign_in(&app, &victim, PASSWORD).await.status(), 401);
    assert_eq!(sign_in(&app, &victim, NEW_PASSWORD).await.status(), 200);
    let kinds = event_kinds(&app, &attacker["user"]["id"]).await;
    assert!(
        kinds.iter().any(|k| k == "unverified-account-claimed"),
        "{kinds:?}"
    );
}

/// The pre-hijack with a passkey: an attacker signs up the victim's address with a passkey
/// of their own; the victim later proves the mailbox with a sign-in link. The attacker's
/// passkey must go with the session: a sign-in ceremony the attacker began before the
/// claim, finished after it, is refused.
async fn a_claimed_address_drops_the_passkeys_registered_before(backend: Backend) {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;

    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let origin = Url::parse("http://localhost:4000").unwrap();
    let mut authenticator = SoftPasskey::new(true);
    let victim = unique_email();
    let options: Value = post(
        &app,
        "/auth/signup/webauthn",
        json!({ "email": victim }),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let created = authenticator
        .do_registration(
            origin.clone(),
            serde_json::from_value(json!({ "publicKey": options })).unwrap(),
        )
        .unwrap();
    let attacker: Value = post(
        &app,
        "/auth/signup/webauthn/verify",
        json!({ "credential": created }),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let attacker = &attacker["session"];
    assert_eq!(attacker["user"]["emailVerified"], false);
    // The attacker begins a sign-in with the passkey, to finish it once the victim has
    // verified the address.
    let request: Value = post(
        &app,
        "/auth/signin/webauthn",
        json!({ "email": victim }),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(request["allowCredentials"].as_array().unwrap().len(), 1);

    let owner = sign_in_by_link(&app, &sink, &victim, 1).await;
    assert_eq!(owner["user"]["id"], attacker["user"]["id"]);

    let assertion = authenticator
        .do_authentication(
            origin,
            serde_json::from_value(json!({ "publicKey": request })).unwrap(),
        )
        .unwrap();
    assert_error(
        post(
            &app,
            "/auth/signin/webauthn/verify",
            json!({ "credential": assertion }),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid-webauthn-credential",
    )
    .await;
    let passkeys: Value = app
        .client
        .get(app.url("/auth/user/passkeys"))
        .bearer_auth(owner["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        passkeys["passkeys"],
        json!([]),
        "the holder sees no stranger's passkey"
    );
    let claimed = app
        .store
        .events(
            Some(owner["user"]["id"].as_str().unwrap().parse().unwrap()),
            100,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "unverified-account-claimed")
        .expect("the claim is recorded");
    assert_eq!(claimed.detail["passkeysRemoved"], 1);
}

/// The sign-up's own verification link confirms the account as it is: whoever signed up
/// and then verifies keeps their password and session. Its message says what to do for a
/// reader who did not sign up.
async fn the_sign_up_verification_link_keeps_the_account_as_it_is(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    let session = sign_up(&app, &email, PASSWORD).await;
    let resend = post(
        &app,
        "/auth/user/email/send-verification-email",
        json!({ "email": email, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    assert_eq!(resend.status(), StatusCode::OK);
    let message = sink.wait_for(&email, 1).await;
    assert!(
        message.data.contains("did not sign up"),
        "the message tells a stranger what to do"
    );
    let (status, location) = follow(&app, &link(&message)).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, APP));
    assert_eq!(refresh(&app, &session["refreshToken"]).await.status(), 200);
    let me: Value = sign_in(&app, &email, PASSWORD).await.json().await.unwrap();
    assert_eq!(me["session"]["user"]["emailVerified"], true);
}

/// A stolen access token outlives the sign-in that made it: after the recent-auth window
/// a password change needs the current password (or a fresh sign-in).
async fn a_password_change_needs_a_recent_sign_in_or_the_current_password(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    sign_up(&app, &email, PASSWORD).await;
    let signed_in: Value = sign_in(&app, &email, PASSWORD).await.json().await.unwrap();
    let session = &signed_in["session"];

    // Eleven minutes on, and one refresh later: the sign-in is no longer recent.
    app.clock.advance(Duration::from_secs(11 * 60));
    let refreshed: Value = refresh(&app, &session["refreshToken"])
        .await
        .json()
        .await
        .unwrap();
    crate::helpers::audit_session(&refreshed);
    let bearer = refreshed["accessToken"].as_str().unwrap();
    let stale = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD }),
        Some(bearer),
    )
    .await;
    assert_error(stale, StatusCode::FORBIDDEN, "elevated-claim-required").await;
    let wrong = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD, "currentPassword": "not-the-password-1" }),
        Some(bearer),
    )
    .await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid-email-password").await;
    assert_eq!(sign_in(&app, &email, PASSWORD).await.status(), 200);
    let with_current = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD, "currentPassword": PASSWORD }),
        Some(bearer),
    )
    .await;
    assert_eq!(with_current.status(), StatusCode::OK);
    assert_eq!(sign_in(&app, &email, NEW_PASSWORD).await.status(), 200);

    // A fresh sign-in is recent: no current password needed.
    let fresh: Value = sign_in(&app, &email, NEW_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let fresh_change = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": PASSWORD }),
        fresh["session"]["accessToken"].as_str(),
    )
    .await;
    assert_eq!(fresh_change.status(), StatusCode::OK);
}

/// An email change is confirmed at the new address, and the old address is told, with a
/// link that puts it back and signs every session out.
async fn an_email_change_can_be_reverted_from_the_old_address(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let (old, new) = (unique_email(), unique_email());
    let session = sign_up(&app, &old, PASSWORD).await;
    let bearer = session["accessToken"].as_str().unwrap();
    let change = post(
        &app,
        "/auth/user/email/change",
        json!({ "newEmail": new, "options": { "redirectTo": APP } }),
        Some(bearer),
    )
    .await;
    assert_eq!(change.status(), StatusCode::OK);
    follow(&app, &link(&sink.wait_for(&new, 1).await)).await;
    assert_eq!(sign_in(&app, &new, PASSWORD).await.status(), 200);

    let notice = sink.wait_for(&old, 1).await;
    assert!(
        notice.data.contains(&new),
        "the notice names the new address"
    );
    let (status, location) = follow(&app, &link(&notice)).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, APP));
    assert_error(
        refresh(&app, &session["refreshToken"]).await,
        StatusCode::UNAUTHORIZED,
        "invalid-refresh-token",
    )
    .await;
    assert_eq!(sign_in(&app, &new, PASSWORD).await.status(), 401);
    let back: Value = sign_in(&app, &old, PASSWORD).await.json().await.unwrap();
    assert_eq!(back["session"]["user"]["email"], old);
    assert_eq!(back["session"]["user"]["emailVerified"], true);
    // The revert link works once.
    let (_, again) = follow(&app, &link(&notice)).await;
    assert_eq!(query(&again, "error").as_deref(), Some("invalid-ticket"));
    let kinds = event_kinds(&app, &session["user"]["id"]).await;
    assert!(
        kinds.iter().any(|k| k == "email-change-reverted"),
        "{kinds:?}"
    );
}

/// A reset link never hands its ticket to a server in a query string: the app's page gets
/// a short-lived one in the fragment, and the emailed link is spent by following it.
async fn a_reset_link_puts_no_secret_in_a_query_string(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[]).await;
    let email = unique_email();
    sign_up(&app, &email, PASSWORD).await;
    post(
        &app,
        "/auth/user/password/reset",
        json!({ "email": email, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    let emailed = link(&sink.wait_for(&email, 1).await);
    let (status, location) = follow(&app, &emailed).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.query(), None, "nothing in the query: {location}");
    assert_eq!(
        format!(
            "{}{}",
            location.origin().ascii_serialization(),
            location.path()
        ),
        APP
    );
    assert_eq!(
        fragment(&location, "type").as_deref(),
        Some("passwordReset")
    );
    let ticket = fragment(&location, "ticket").expect("the form's ticket in the fragment");
    crate::helpers::audit_secret(&ticket);
    assert!(
        !emailed.contains(&ticket),
        "a new ticket, not the emailed one"
    );

    // The emailed link is spent: following it again leads to an error, not a ticket.
    let (_, again) = follow(&app, &emailed).await;
    assert_eq!(query(&again, "error").as_deref(), Some("invalid-ticket"));
    assert_eq!(fragment(&again, "ticket"), None);

    let done = post(
        &app,
        "/auth/user/password",
        json!({ "newPassword": NEW_PASSWORD, "ticket": ticket }),
        None,
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(sign_in(&app, &email, NEW_PASSWORD).await.status(), 200);
}

/// A hash of `password` as any argon2id implementation makes it.
fn argon2_hash(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string()
}

/// Another connection's open transaction that has written to a user row, so that every
/// other write to it waits until `commit`.
enum Writer {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

impl Writer {
    /// Begins a transaction that runs `sql` (with `$1` the user id, `$2` a text value).
    async fn begin(app: &TestApp, sql: &'static str, id: Uuid, value: &str) -> Writer {
        match app.backend {
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(app.db.url()).await.unwrap();
                let mut tx = pool.begin().await.unwrap();
                sqlx::query(sql)
                    .bind(id)
                    .bind(value)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                Writer::Postgres(tx)
            }
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(app.db.url()).await.unwrap();
                let mut tx = pool.begin().await.unwrap();
                let sql = sqlx::AssertSqlSafe(sql.replace('$', "?"));
                sqlx::query(sql)
                    .bind(id)
                    .bind(value)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                Writer::Sqlite(tx)
            }
        }
    }

    /// Waits until `n` requests of the server are blocked behind this writer.
    async fn wait_for_waiters(&self, app: &TestApp, n: i64) {
        match self {
            Writer::Postgres(_) => {
                let pool = sqlx::PgPool::connect(app.db.url()).await.unwrap();
                for _ in 0..200 {
                    let waiting: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM pg_stat_activity
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    )
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                    if waiting >= n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                panic!("no request blocked behind the writer");
            }
            // SQLite shows no waiters; its writers retry until the busy timeout (raised for
            // these tests), so a pause lets the request reach its write.
            Writer::Sqlite(_) => tokio::time::sleep(Duration::from_millis(700)).await,
        }
    }

    async fn commit(self) {
        match self {
            Writer::Postgres(tx) => tx.commit().await.unwrap(),
            Writer::Sqlite(tx) => tx.commit().await.unwrap(),
        }
    }
}

/// An administrator edits a profile while the password changes underneath: the edit
/// must not bring the old password back.
async fn a_profile_edit_racing_a_password_change_keeps_the_new_password(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_ADMIN_SECRET", ADMIN_SECRET),
            ("TESSERA_DATABASE_TIMEOUT", "10s"),
        ],
    )
    .await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let id: Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();

    // The password changes in a transaction that is still open while the edit arrives.
    let writer = Writer::begin(
        &app,
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        id,
        &argon2_hash(NEW_PASSWORD),
    )
    .await;
    let edit = {
        let request = app
            .client
            .patch(app.url(&format!("/admin/users/{id}")))
            .header("x-tessera-admin-secret", ADMIN_SECRET)
            .json(&json!({ "displayName": "Renamed" }));
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    writer.wait_for_waiters(&app, 1).await;
    writer.commit().await;
    assert_eq!(edit.await.unwrap(), StatusCode::OK);

    let signed_in = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(signed_in.status(), 200, "the new password still signs in");
    let body: Value = signed_in.json().await.unwrap();
    crate::helpers::audit_session(&body["session"]);
    assert_eq!(body["session"]["user"]["displayName"], "Renamed");
    let old = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(old.status(), 401, "the old password stays gone");
}

/// A sign-in that upgrades an old-parameter hash while the password changes underneath
/// must not write the old password back.
async fn a_rehash_racing_a_password_change_keeps_the_new_password(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_DATABASE_TIMEOUT", "10s")]).await;
    let email = unique_email();
    let session = app.sign_up(&email).await;
    let id: Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();
    // A hash made with other parameters than the server's: the next sign-in rehashes.
    Writer::begin(
        &app,
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        id,
        &argon2_hash(PASSWORD),
    )
    .await
    .commit()
    .await;

    let writer = Writer::begin(
        &app,
        "UPDATE users SET password_hash = $2 WHERE id = $1",
        id,
        &argon2_hash(NEW_PASSWORD),
    )
    .await;
    let signin = {
        let request = app
            .client
            .post(app.url("/signin/email-password"))
            .json(&json!({ "email": email, "password": PASSWORD }));
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    writer.wait_for_waiters(&app, 1).await;
    writer.commit().await;
    let signin = signin.await.unwrap();
    assert_eq!(
        signin.status(),
        200,
        "it read the password before the change"
    );
    crate::helpers::audit_session(&signin.json::<Value>().await.unwrap()["session"]);
    let new = app
        .post_json(
            "/signin/email-password",
            &json!({ "email": email, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(new.status(), 200, "the new password still signs in");
    crate::helpers::audit_session(&new.json::<Value>().await.unwrap()["session"]);
}

/// A verification link followed while an administrator disables the user must not
/// re-enable it. (SQLite takes the ticket's write lock before it reads the user, so the
/// interleaving exists on Postgres only.)
async fn a_link_racing_a_disable_leaves_the_user_disabled(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = spawn(backend, &sink, &[("TESSERA_DATABASE_TIMEOUT", "10s")]).await;
    let email = unique_email();
    let session = sign_up(&app, &email, PASSWORD).await;
    let id: Uuid = session["user"]["id"].as_str().unwrap().parse().unwrap();
    post(
        &app,
        "/auth/user/email/send-verification-email",
        json!({ "email": email, "options": { "redirectTo": APP } }),
        None,
    )
    .await;
    let emailed = link(&sink.wait_for(&email, 1).await);

    let writer = Writer::begin(
        &app,
        "UPDATE users SET disabled = TRUE WHERE id = $1 AND $2 = $2",
        id,
        "",
    )
    .await;
    let followed = {
        let client = app.client.clone();
        let link = Url::parse(&emailed).unwrap();
        let url = app.url(&format!("{}?{}", link.path(), link.query().unwrap()));
        tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
    };
    writer.wait_for_waiters(&app, 1).await;
    writer.commit().await;
    assert_eq!(followed.await.unwrap(), StatusCode::SEE_OTHER);
    assert_error(
        sign_in(&app, &email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "disabled-user",
    )
    .await;
}

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_racing_a_disable_leaves_the_user_disabled() {
        super::a_link_racing_a_disable_leaves_the_user_disabled(crate::helpers::Backend::Postgres)
            .await
    }
}

both_backends!(
    a_sign_in_link_evicts_whoever_registered_the_address_first,
    a_sign_in_link_evicts_an_anonymous_upgrade_onto_the_address,
    a_password_reset_evicts_whoever_registered_the_address_first,
    a_claimed_address_drops_the_passkeys_registered_before,
    the_sign_up_verification_link_keeps_the_account_as_it_is,
    a_password_change_needs_a_recent_sign_in_or_the_current_password,
    an_email_change_can_be_reverted_from_the_old_address,
    a_reset_link_puts_no_secret_in_a_query_string,
    a_profile_edit_racing_a_password_change_keeps_the_new_password,
    a_rehash_racing_a_password_change_keeps_the_new_password,
);
