//! Access-token signing and verification, and refresh-token minting and hashing, per
//! operation on one core.
//!
//! `cargo bench --bench tokens`. Figures and the machine they came from are in
//! docs/benchmarks.md. `jsonwebtoken_encode` is the alternative Tessera does not use for
//! signing (it re-parses the PKCS#8 key on every call); it is measured here so the choice
//! stays checked. The refresh-token functions call Tessera's own `RefreshTokens` (random
//! secret, HMAC tag, base64url, SHA-256 of the text) and `hash_refresh_token`, so a change
//! there shows up here.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use criterion::{Criterion, criterion_group, criterion_main};
use tessera::config::Config;
use tessera::domain::keys::{KeyService, material};
use tessera::domain::sessions::{Lineage, Presented, RefreshTokens, hash_refresh_token};
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

fn refresh_tokens(c: &mut Criterion) {
    let rng = SystemRandom::new();
    c.bench_function("refresh_token_random_32", |b| {
        b.iter(|| {
            let mut bytes = [0u8; 32];
            rng.fill(black_box(&mut bytes)).unwrap();
            bytes
        })
    });
    let tokens = RefreshTokens::with_secret(b"a benchmark secret");
    let lineage = Lineage::first(Uuid::new_v4());
    c.bench_function("refresh_token_mint", |b| {
        b.iter(|| tokens.mint(black_box(lineage)))
    });
    let token = tokens.mint(lineage).token;
    assert_eq!(tokens.parse(&token), Some(Presented::Issued(lineage)));
    c.bench_function("refresh_token_parse", |b| {
        b.iter(|| tokens.parse(black_box(&token)))
    });
    c.bench_function("refresh_token_hash", |b| {
        b.iter(|| hash_refresh_token(black_box(&token)))
    });
}

criterion_group!(benches, tokens, refresh_tokens);
criterion_main!(benches);
