//! Verifications per second on one core with a warm JWKS cache.
//!
//! `cargo bench -p tessera-verify --bench verify`; figures in docs/benchmarks.md.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tessera_verify::Verifier;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let jwks = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "kid": "k", "alg": "ES256", "use": "sig",
        "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]) }] });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({ "sid": "2b0a5e0c-6f4f-4a7e-9b1e-1c1c1c1c1c1c", "sub": "9a0a5e0c-6f4f-4a7e-9b1e-1c1c1c1c1c1c",
        "iss": "https://auth.example.com", "aud": "tessera", "iat": now, "exp": now + 3600,
        "https://hasura.io/jwt/claims": { "x-hasura-user-id": "9a0a5e0c-6f4f-4a7e-9b1e-1c1c1c1c1c1c",
            "x-hasura-default-role": "user", "x-hasura-allowed-roles": ["user"], "x-hasura-user-is-anonymous": "false" } });
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": "k" });
    let message = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = pair.sign(&SystemRandom::new(), message.as_bytes()).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(sig.as_ref()).unwrap();
    let token = format!(
        "{message}.{}",
        B64.encode(sig.normalize_s().unwrap_or(sig).to_bytes())
    );

    let verifier = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let app = Router::new().route("/jwks", get(move || async move { axum::Json(jwks) }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Verifier::builder(url, "https://auth.example.com", "tessera").build()
    });
    runtime
        .block_on(verifier.verify(&token))
        .expect("warm-up verification");
    c.bench_function("verifier_warm_cache", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(black_box(&token)))
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
