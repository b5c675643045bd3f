//! Emergency revocation of a signing key (`POST /admin/keys/{kid}/revoke`, `tessera keys
//! revoke KID`): the key leaves the JWKS and Tessera's own verification at once, a new key
//! signs at once, clients get back in through refresh, and the key never comes back.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tessera::domain::tokens::Expiry;
use tessera::support::clock::Clock;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_error, unique_email};
use crate::keys::{issue, kids, verify_with_jwks};

const SECRET: &str = "an-admin-secret-of-at-least-32-characters";

async fn admin_app(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[("TESSERA_ADMIN_SECRET", SECRET)]).await
}

async fn revoke(app: &TestApp, kid: &str) -> reqwest::Response {
    app.client
        .request(Method::POST, app.url(&format!("/admin/keys/{kid}/revoke")))
        .header("x-tessera-admin-secret", SECRET)
        .send()
        .await
        .unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn get_user(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/user"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

async fn revoking_the_signing_key_takes_it_out_and_signs_with_a_new_one(backend: Backend) {
    let app = admin_app(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let access = session["accessToken"].as_str().unwrap().to_owned();
    let leaked = kid_of(&access);
    assert_eq!(get_user(&app, &access).await.status(), StatusCode::OK);

    let response = revoke(&app, &leaked).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["kid"], leaked.as_str());
    assert!(body["revokedAt"].is_string(), "{body}");
    let successor = body["signingKid"].as_str().unwrap().to_owned();
    assert_ne!(successor, leaked);

    // Out of the JWKS and of Tessera's own verification, at once.
    let served = kids(&app).await;
    assert!(!served.contains(&leaked), "{served:?}");
    assert!(served.contains(&successor), "the new key is published now");
    let response = get_user(&app, &access).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid-token").await;
    assert_eq!(app.verify(&access).await, StatusCode::UNAUTHORIZED);
    assert!(verify_with_jwks(&app, &access).await.is_err());

    // The new key signs at once; the client gets back in through refresh.
    let refreshed = app.refresh(session["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    let fresh = refreshed["accessToken"].as_str().unwrap();
    assert_eq!(kid_of(fresh), successor);
    assert_eq!(get_user(&app, fresh).await.status(), StatusCode::OK);
    assert_eq!(app.verify(fresh).await, StatusCode::OK);
    assert!(verify_with_jwks(&app, fresh).await.is_ok());

    // A security event records it.
    let events = app.store.events(None, 50).await.unwrap();
    let event = events
        .iter()
        .find(|e| e.kind == "signing-key-revoked")
        .expect("a signing-key-revoked event");
    assert_eq!(event.detail["kid"], leaked.as_str());
    assert_eq!(event.detail["signingKid"], successor.as_str());

    // Idempotent: a second revocation answers the same and adds no key and no event.
    let keys_before = app.store.signing_keys().await.unwrap().len();
    let again = revoke(&app, &leaked).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["revokedAt"], body["revokedAt"]);
    assert_eq!(again["signingKid"], successor.as_str());
    assert_eq!(app.store.signing_keys().await.unwrap().len(), keys_before);
    let revocations = app.store.events(None, 50).await.unwrap();
    assert_eq!(
        revocations
            .iter()
            .filter(|e| e.kind == "signing-key-revoked")
            .count(),
        1
    );

    // Never back: not after maintenance, not after a restart, not even when it is expired
    // long ago and the expired keys are dropped.
    app.clock
        .advance(std::time::Duration::from_secs(90 * 86_400));
    app.state.tokens.keys().maintain().await.unwrap();
    assert!(!kids(&app).await.contains(&leaked));
    assert_ne!(kid_of(&issue(&app)), leaked);
    let (db, clock) = (app.db.clone(), app.clock.clone());
    app.stop().await;
    let restarted = TestApp::start(
        backend,
        db,
        &[("TESSERA_ADMIN_SECRET", SECRET)],
        false,
        clock,
    )
    .await;
    assert!(!kids(&restarted).await.contains(&leaked));
    assert!(
        restarted
            .state
            .tokens
            .verify(&access, restarted.clock.now(), Expiry::Ignore)
            .is_err(),
        "not even for sign-out, which ignores exp"
    );
    let listed: Value = restarted
        .client
        .get(restarted.url("/admin/keys"))
        .header("x-tessera-admin-secret", SECRET)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == leaked.as_str())
        .expect("a revoked key stays listed");
    assert_eq!(entry["state"], "revoked");
}

async fn unknown_keys_and_missing_secrets_are_refused(backend: Backend) {
    let app = admin_app(backend).await;
    let response = revoke(&app, "no-such-kid").await;
    let body = assert_error(response, StatusCode::NOT_FOUND, "key-not-found").await;
    assert!(!body["message"].as_str().unwrap().contains("no-such-kid"));

    let kid = kid_of(&issue(&app));
    for secret in [None, Some("an-admin-secret-of-at-least-32-characterz")] {
        let mut request = app
            .client
            .post(app.url(&format!("/admin/keys/{kid}/revoke")));
        if let Some(secret) = secret {
            request = request.header("x-tessera-admin-secret", secret);
        }
        let response = request.send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid-admin-secret").await;
    }
    assert!(kids(&app).await.contains(&kid), "nothing was revoked");
    assert_eq!(kid_of(&issue(&app)), kid);
}

async fn revoking_a_key_that_does_not_sign_adds_none(backend: Backend) {
    let app = admin_app(backend).await;
    let active = kid_of(&issue(&app));
    let pending = app.state.tokens.keys().rotate().await.unwrap().kid;
    let response = revoke(&app, &pending).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["signingKid"],
        active.as_str(),
        "the active key signs on"
    );
    assert_eq!(
        kids(&app).await,
        std::collections::BTreeSet::from([active.clone()])
    );
    // A rotation is possible again: the revoked key no longer counts as the newest.
    let next = app.state.tokens.keys().rotate().await.unwrap();
    assert_ne!(next.kid, pending);
    assert_eq!(kids(&app).await.len(), 2);
}

async fn a_revoked_key_cannot_be_imported_again(backend: Backend) {
    use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
    let app = admin_app(backend).await;
    let der = tessera::domain::keys::material::generate_pkcs8();
    let secret = p256::SecretKey::from_pkcs8_der(&der).unwrap();
    let pem = secret.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).unwrap();
    let keys = app.state.tokens.keys().clone();
    let imported = keys.import_pem(&pem).await.unwrap().unwrap();
    assert_eq!(revoke(&app, &imported.kid).await.status(), StatusCode::OK);
    let err = keys
        .import_pem(&pem)
        .await
        .expect_err("a revoked key is never imported again");
    assert!(err.to_string().contains("revoked"), "{err}");
    assert!(!kids(&app).await.contains(&imported.kid));
}

both_backends!(
    revoking_the_signing_key_takes_it_out_and_signs_with_a_new_one,
    unknown_keys_and_missing_secrets_are_refused,
    revoking_a_key_that_does_not_sign_adds_none,
    a_revoked_key_cannot_be_imported_again,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_stops_accepting_a_revoked_key_at_its_reload() {
    let a = admin_app(Backend::Postgres).await;
    let b = TestApp::start(
        Backend::Postgres,
        a.db.clone(),
        &[("TESSERA_ADMIN_SECRET", SECRET)],
        false,
        a.clock.clone(),
    )
    .await;
    let session = b.sign_up(&unique_email()).await;
    let access = session["accessToken"].as_str().unwrap().to_owned();
    let leaked = kid_of(&access);
    assert_eq!(b.verify(&access).await, StatusCode::OK);

    let body: Value = revoke(&a, &leaked).await.json().await.unwrap();
    let successor = body["signingKid"].as_str().unwrap().to_owned();

    // b's poll for revocations (every few seconds in the background; run here by hand, and
    // whichever ran first reloaded): after it, nothing is new.
    let keys = b.state.tokens.keys();
    keys.reload_if_revoked().await.unwrap();
    assert!(!keys.reload_if_revoked().await.unwrap());
    assert_eq!(b.verify(&access).await, StatusCode::UNAUTHORIZED);
    let response = get_user(&b, &access).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid-token").await;
    assert!(!kids(&b).await.contains(&leaked));
    assert_eq!(kid_of(&issue(&b)), successor, "b signs with the new key");
    let refreshed: Value = b
        .refresh(session["refreshToken"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let fresh = refreshed["accessToken"].as_str().unwrap();
    assert_eq!(a.verify(fresh).await, StatusCode::OK);
}
