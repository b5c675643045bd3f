//! Access-token signing and verification, and refresh-token minting and hashing, per
//! operation on one core.
//!
//! `cargo bench --bench tokens`. Figures and the machine they came from are in
//! docs/benchmarks.md. `jsonwebtoken_encode` is the alternative Tessera does not use for
//! signing (it re-parses the PKCS#8 key on every call); it is measured here so the choice
//! stays checked. The refresh-token functions mirror `mint` in src/sessions.rs (32 bytes from
//! aws-lc-rs's SystemRandom, base64url without padding, SHA-256 of the text) and call the
//! public `hash_refresh_token`, so a change there shows up here.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use tessera::config::Config;
use tessera::domain::keys::{KeyService, material};
use tessera::domain::sessions::hash_refresh_token;
use tessera::domain::tokens::{Expiry, Subject, TokenIssuer};
use tessera::store;
use tessera::support::clock::{Clock, SystemClock};
use uuid::Uuid;

fn issuer() -> (TokenIssuer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let vars: HashMap<&str, String> = HashMap::from([(
        "DATABASE_URL",
        format!("sqlite://{}", dir.path().join("bench.db").display()),
    )]);
    let config = Config::from_lookup(&|v| vars.get(v).cloned()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let issuer = runtime.block_on(async {
        let store = store::connect(&config.database).await.unwrap();
        store.migrate().await.unwrap();
        let keys = KeyService::start(
            store,
            Arc::new(SystemClock),
            &config.keys,
            &config.database.location,
            config.tokens.access_token_ttl,
        )
        .await
        .unwrap();
        TokenIssuer::new(keys, &config.tokens)
    });
    (issuer, dir)
}

fn tokens(c: &mut Criterion) {
    let (issuer, _dir) = issuer();
    let now = SystemClock.now();
    let user = store::UserRecord::placeholder(Uuid::new_v4(), now);
    let amr = ["pwd".to_owned()];
    let subject = Subject {
        user: &user,
        session_id: Uuid::new_v4(),
        auth_time: now,
        amr: &amr,
    };
    c.bench_function("sign_es256", |b| {
        b.iter(|| issuer.issue(black_box(&subject), now).unwrap())
    });
    let token = issuer.issue(&subject, now).unwrap();
    c.bench_function("verify_es256", |b| {
        b.iter(|| {
            issuer
                .verify(black_box(&token), now, Expiry::Enforce)
                .unwrap()
        })
    });

    let pkcs8 = material::generate_pkcs8();
    let key = jsonwebtoken::EncodingKey::from_ec_der(&pkcs8);
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    let claims = serde_json::json!({"sub": "x", "exp": 1, "iat": 0});
    c.bench_function("jsonwebtoken_encode_es256", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &key).unwrap())
    });
}

/// What `sessions::mint` does for every sign-in and every rotation.
fn mint(rng: &SystemRandom) -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes).unwrap();
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

fn refresh_tokens(c: &mut Criterion) {
    let rng = SystemRandom::new();
    c.bench_function("refresh_token_random_32", |b| {
        b.iter(|| {
            let mut bytes = [0u8; 32];
            rng.fill(black_box(&mut bytes)).unwrap();
            bytes
        })
    });
    c.bench_function("refresh_token_mint", |b| b.iter(|| mint(black_box(&rng))));
    let (token, _) = mint(&rng);
    assert_eq!(token.len(), 43);
    c.bench_function("refresh_token_hash", |b| {
        b.iter(|| hash_refresh_token(black_box(&token)))
    });
}

criterion_group!(benches, tokens, refresh_tokens);
criterion_main!(benches);
