//! Signing keys, access tokens, JWKS and discovery, checked from the outside: tokens are
//! verified with jsonwebtoken against the JWKS fetched over HTTP, as a verifier would.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use reqwest::StatusCode;
use serde_json::Value;
use tessera::domain::tokens::{Expiry, Subject};
use tessera::store::UserRecord;
use tessera::support::clock::Clock;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

const HOUR: Duration = Duration::from_secs(3600);

/// A token signed by the server for a fresh user and session.
pub(crate) fn issue(app: &TestApp) -> String {
    let user = UserRecord {
        roles: vec!["user".to_owned(), "editor".to_owned()],
        ..UserRecord::placeholder(Uuid::new_v4(), app.clock.now())
    };
    let amr = ["pwd".to_owned()];
    let subject = Subject {
        user: &user,
        session_id: Uuid::new_v4(),
        auth_time: app.clock.now(),
        amr: &amr,
    };
    app.state.tokens.issue(&subject, app.clock.now()).unwrap()
}

async fn jwks(app: &TestApp) -> JwkSet {
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub(crate) async fn kids(app: &TestApp) -> BTreeSet<String> {
    jwks(app)
        .await
        .keys
        .into_iter()
        .map(|k| k.common.key_id.unwrap())
        .collect()
}

/// Verifies like a third-party verifier: key by kid from the JWKS, ES256 only, iss and
/// aud enforced; `exp` checked against the test's clock.
pub(crate) async fn verify_with_jwks(app: &TestApp, token: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let set = jwks(app).await;
    let jwk = set.find(&kid).ok_or("kid not in the JWKS")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[&app.state.config.tokens.issuer]);
    validation.set_audience(&["tessera"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map_err(|e| e.to_string())?
        .claims;
    if claims["exp"].as_i64().unwrap() <= app.clock.now().unix_timestamp() {
        return Err("expired".into());
    }
    Ok(claims)
}

async fn tokens_verify_against_the_served_jwks_with_exactly_the_spec_claims(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = issue(&app);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let claims = verify_with_jwks(&app, &token).await.unwrap();
    let names: BTreeSet<&str> = claims
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "sid",
            "sub",
            "iss",
            "aud",
            "iat",
            "exp",
            "auth_time",
            "amr",
            "https://hasura.io/jwt/claims"
        ])
    );
    assert_eq!(claims["iss"], "http://localhost:4000");
    assert_eq!(claims["aud"], "tessera");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    let hasura = &claims["https://hasura.io/jwt/claims"];
    assert_eq!(hasura["x-hasura-user-id"], claims["sub"]);
    assert_eq!(hasura["x-hasura-default-role"], "user");
    assert_eq!(
        hasura["x-hasura-allowed-roles"],
        serde_json::json!(["user", "editor"])
    );
    assert_eq!(hasura["x-hasura-user-is-anonymous"], "false");
    assert!(
        token.len() < 1024,
        "tokens stay small: {} bytes",
        token.len()
    );
}

async fn jwks_is_cacheable_public_and_conditional(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=600");
    let etag = response.headers()["etag"].clone();
    let body: Value = response.json().await.unwrap();
    let key = &body["keys"][0];
    let members: BTreeSet<&str> = key
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        members,
        BTreeSet::from(["kty", "crv", "x", "y", "kid", "use", "alg"])
    );
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert_eq!(
        (key["use"].as_str(), key["alg"].as_str()),
        (Some("sig"), Some("ES256"))
    );
    assert_eq!(key["x"].as_str().unwrap().len(), 43, "32 bytes, base64url");
    assert_eq!(key["y"].as_str().unwrap().len(), 43, "32 bytes, base64url");

    let again = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

async fn discovery_issuer_equals_iss(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[("TESSERA_PUBLIC_URL", "https://auth.example.com/base/")],
    )
    .await;
    let doc: Value = app
        .get("/base/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], "https://auth.example.com/base");
    assert_eq!(
        doc["jwks_uri"],
        "https://auth.example.com/base/.well-known/jwks.json"
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    let token = issue(&app);
    let claims = app
        .state
        .tokens
        .verify(&token, app.clock.now(), Expiry::Enforce)
        .unwrap();
    assert_eq!(
        claims.iss.as_str(),
        doc["issuer"].as_str().unwrap(),
        "byte for byte"
    );
}

async fn rotation_timeline_prepublish_switch_retire_drop(backend: Backend) {
    // Access TTL 1h, JWKS max-age 10m, publish lead 1h (the defaults).
    let app = TestApp::spawn(backend).await;
    let keys = app.state.tokens.keys().clone();
    let first = kids(&app).await;
    assert_eq!(first.len(), 1);
    let old_token = issue(&app);

    // Pre-publish: the new key is in the JWKS but does not sign yet.
    let rotation = keys.rotate().await.unwrap();
    let both = kids(&app).await;
    assert_eq!(both.len(), 2);
    assert!(both.contains(&rotation.kid));
    let still_old = issue(&app);
    assert_ne!(
        jsonwebtoken::decode_header(&still_old)
            .unwrap()
            .kid
            .unwrap(),
        rotation.kid
    );

    // Just before the lead time is over the old key still signs; at the switch, the new one.
    app.clock.advance(HOUR - Duration::from_secs(1));
    keys.maintain().await.unwrap();
    assert_ne!(
        jsonwebtoken::decode_header(issue(&app))
            .unwrap()
            .kid
            .unwrap(),
        rotation.kid
    );
    let last_old = issue(&app);
    app.clock.advance(Duration::from_secs(1));
    keys.maintain().await.unwrap();
    let new_token = issue(&app);
    assert_eq!(
        jsonwebtoken::decode_header(&new_token)
            .unwrap()
            .kid
            .unwrap(),
        rotation.kid
    );

    // Retired: the old key stays published while its tokens live.
    assert_eq!(kids(&app).await.len(), 2);
    assert!(
        verify_with_jwks(&app, &last_old).await.is_ok(),
        "old tokens verify until they expire"
    );
    assert!(
        app.state
            .tokens
            .verify(&last_old, app.clock.now(), Expiry::Enforce)
            .is_ok()
    );
    assert!(
        verify_with_jwks(&app, &old_token).await.is_err(),
        "this one has expired"
    );

    // Dropped: after its last token expired plus one cache lifetime, it leaves the JWKS.
    app.clock
        .advance(HOUR + Duration::from_secs(600) - Duration::from_secs(1));
    keys.maintain().await.unwrap();
    assert_eq!(
        kids(&app).await.len(),
        2,
        "kept for one more JWKS cache lifetime"
    );
    app.clock.advance(Duration::from_secs(1));
    keys.maintain().await.unwrap();
    assert_eq!(kids(&app).await, BTreeSet::from([rotation.kid.clone()]));
    assert!(
        verify_with_jwks(&app, &new_token).await.is_err(),
        "expired by now"
    );
    assert!(verify_with_jwks(&app, &issue(&app)).await.is_ok());
}

async fn scheduled_rotation_follows_the_interval(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_KEY_ROTATION_INTERVAL", "1d")]).await;
    let keys = app.state.tokens.keys().clone();
    let first = kids(&app).await;
    app.clock.advance(Duration::from_secs(23 * 3600 - 1));
    keys.maintain().await.unwrap();
    assert_eq!(kids(&app).await, first, "not due yet");
    app.clock.advance(Duration::from_secs(1));
    keys.maintain().await.unwrap();
    assert_eq!(
        kids(&app).await.len(),
        2,
        "published one lead time before the interval ends"
    );
    keys.maintain().await.unwrap();
    assert_eq!(
        kids(&app).await.len(),
        2,
        "one rotation, not one per maintenance run"
    );
    app.clock.advance(HOUR);
    keys.maintain().await.unwrap();
    let kid = jsonwebtoken::decode_header(issue(&app))
        .unwrap()
        .kid
        .unwrap();
    assert!(
        !first.contains(&kid),
        "the new key signs after exactly one interval"
    );
}

async fn a_restart_keeps_every_kid_and_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.state.tokens.keys().rotate().await.unwrap();
    let before = kids(&app).await;
    let token = issue(&app);
    let (db, clock) = (app.db.clone(), app.clock.clone());
    app.stop().await;

    let restarted = TestApp::start(backend, db, &[], false, clock).await;
    assert_eq!(kids(&restarted).await, before);
    assert!(verify_with_jwks(&restarted, &token).await.is_ok());
    assert!(
        restarted
            .state
            .tokens
            .verify(&token, restarted.clock.now(), Expiry::Enforce)
            .is_ok()
    );
}

async fn encrypted_keys_need_the_right_encryption_key(backend: Backend) {
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const OTHER: &str = "HxwdHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";
    let app = TestApp::spawn_with(backend, &[("TESSERA_KEY_ENCRYPTION_KEY", KEY)]).await;
    let token = issue(&app);
    let record = &app.state.tokens.keys().snapshot().keys[0].record;
    assert_eq!(record.encryption, "aes-256-gcm");
    let stored = app.store.signing_keys().await.unwrap();
    assert!(
        p256::SecretKey::from_slice(&stored[0].private_key).is_err()
            && <p256::SecretKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_der(
                &stored[0].private_key
            )
            .is_err(),
        "the stored private key is not usable as it is"
    );
    let (db, clock) = (app.db.clone(), app.clock.clone());
    app.stop().await;

    let mut env = crate::helpers::test_env(db.url());
    env.insert("TESSERA_KEY_ENCRYPTION_KEY".into(), OTHER.into());
    let config = tessera::config::Config::from_lookup(&|v| env.get(v).cloned()).unwrap();
    let err = tessera::startup::Application::build(config, Arc::new(clock.clone()))
        .await
        .err()
        .expect("a wrong key refuses to start");
    let line = format!("{err:#}");
    assert!(
        line.contains("TESSERA_KEY_ENCRYPTION_KEY cannot decrypt"),
        "{line}"
    );

    let restarted = TestApp::start(
        backend,
        db,
        &[("TESSERA_KEY_ENCRYPTION_KEY", KEY)],
        false,
        clock,
    )
    .await;
    assert!(verify_with_jwks(&restarted, &token).await.is_ok());
}

both_backends!(
    tokens_verify_against_the_served_jwks_with_exactly_the_spec_claims,
    jwks_is_cacheable_public_and_conditional,
    discovery_issuer_equals_iss,
    rotation_timeline_prepublish_switch_retire_drop,
    scheduled_rotation_follows_the_interval,
    a_restart_keeps_every_kid_and_token,
    encrypted_keys_need_the_right_encryption_key,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_share_keys_and_follow_a_rotation() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = TestApp::start(Backend::Postgres, a.db.clone(), &[], false, a.clock.clone()).await;
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert_eq!(
        kid(&issue(&a)),
        kid(&issue(&b)),
        "one key set, not one per process"
    );

    let rotation = a.state.tokens.keys().rotate().await.unwrap();
    b.state.tokens.keys().maintain().await.unwrap();
    assert_eq!(
        kids(&a).await,
        kids(&b).await,
        "b publishes a's new key without restart"
    );
    a.clock.advance(HOUR);
    b.state.tokens.keys().maintain().await.unwrap();
    assert_eq!(kid(&issue(&a)), rotation.kid);
    assert_eq!(kid(&issue(&b)), rotation.kid);
    let from_b = issue(&b);
    assert!(verify_with_jwks(&a, &from_b).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_add_one_key() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = TestApp::start(Backend::Postgres, a.db.clone(), &[], false, a.clock.clone()).await;
    let (ra, rb) = tokio::join!(
        a.state.tokens.keys().rotate(),
        b.state.tokens.keys().rotate()
    );
    assert!(
        ra.is_ok() != rb.is_ok(),
        "exactly one rotation wins: {ra:?} {rb:?}"
    );
    a.state.tokens.keys().refresh().await.unwrap();
    assert_eq!(kids(&a).await.len(), 2);
}
