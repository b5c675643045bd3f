//! Hostile tokens, each refused by the `tessera-verify` crate (pointed at the server's
//! JWKS) and by the server itself (`POST /token/verify`, `GET /user`, and `POST /signout`,
//! which must not revoke anything), with no side effect.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::pkcs8::EncodePublicKey;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::support::clock::Clock;
use tessera_verify::Verifier;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, unique_email};

/// The P-256 group order n.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn b64json(value: &Value) -> String {
    B64.encode(value.to_string())
}

/// `a - b` for 32-byte big-endian numbers (a >= b).
fn sub(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = a[i] as i16 - b[i] as i16 - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

/// Everything needed to forge: the server's own active key (tests only), its public key
/// in every form an attacker could try as an HMAC secret, and a live session's ids.
struct Forge {
    kid: String,
    sid: String,
    sub: String,
    iss: String,
    now: i64,
    point: Vec<u8>,
    key: Arc<tessera::domain::keys::SigningKey>,
}

impl Forge {
    /// A low-s ES256 signature by Tessera's real key.
    fn sign_real(&self, message: &str) -> Vec<u8> {
        let sig = self
            .key
            .pair()
            .sign(&SystemRandom::new(), message.as_bytes())
            .unwrap();
        let sig = p256::ecdsa::Signature::from_slice(sig.as_ref()).unwrap();
        sig.normalize_s().unwrap_or(sig).to_bytes().to_vec()
    }

    fn claims(&self) -> Value {
        json!({ "sid": self.sid, "sub": self.sub, "iss": self.iss, "aud": "tessera",
                "iat": self.now, "exp": self.now + 3600 })
    }

    fn header(&self) -> Value {
        json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid })
    }

    /// Signed by Tessera's real key, low s.
    fn real(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64json(header), b64json(claims));
        let sig = self.sign_real(&message);
        format!("{message}.{}", B64.encode(sig))
    }

    fn raw_signature(&self, token: &str) -> Vec<u8> {
        B64.decode(token.rsplit('.').next().unwrap()).unwrap()
    }

    fn with_signature(&self, token: &str, sig: &[u8]) -> String {
        let message = &token[..token.rfind('.').unwrap()];
        format!("{message}.{}", B64.encode(sig))
    }

    fn hs256(&self, secret: &[u8]) -> String {
        let header = json!({ "alg": "HS256", "typ": "JWT", "kid": self.kid });
        let message = format!("{}.{}", b64json(&header), b64json(&self.claims()));
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret),
            message.as_bytes(),
        );
        format!("{message}.{}", B64.encode(tag.as_ref()))
    }

    /// Signed by an attacker's key, whose public half the header offers in `extra`.
    fn self_keyed(&self, extra: &[(&str, Value)]) -> String {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let mut header = self.header();
        for (name, value) in extra {
            let value = if value == "<jwk>" {
                json!({ "kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]) })
            } else {
                value.clone()
            };
            header[*name] = value;
        }
        let message = format!("{}.{}", b64json(&header), b64json(&self.claims()));
        let sig = pair.sign(&SystemRandom::new(), message.as_bytes()).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(sig.as_ref()).unwrap();
        let sig = sig.normalize_s().unwrap_or(sig);
        format!("{message}.{}", B64.encode(sig.to_bytes()))
    }

    /// Every hostile token, named.
    fn hostile(&self, key_url: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut add = |name: &str, token: String| out.push((name.to_owned(), token));
        let claims = self.claims();
        let valid = self.real(&self.header(), &claims);

        for alg in ["none", "None", "NONE"] {
            let header = json!({ "alg": alg, "typ": "JWT", "kid": self.kid });
            add(
                &format!("alg {alg}"),
                format!("{}.{}.", b64json(&header), b64json(&claims)),
            );
        }
        add(
            "empty signature",
            format!("{}.", &valid[..valid.rfind('.').unwrap()]),
        );

        let public = p256::PublicKey::from_sec1_bytes(&self.point).unwrap();
        let pem = public
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap();
        let der = public.to_public_key_der().unwrap();
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": B64.encode(&self.point[1..33]),
                          "y": B64.encode(&self.point[33..65]), "kid": self.kid, "use": "sig", "alg": "ES256" });
        add("HS256 with the public key PEM", self.hs256(pem.as_bytes()));
        add("HS256 with the public key DER", self.hs256(der.as_bytes()));
        add(
            "HS256 with the public JWK JSON",
            self.hs256(jwk.to_string().as_bytes()),
        );
        add("HS256 with the raw point", self.hs256(&self.point));

        add("embedded jwk", self.self_keyed(&[("jwk", json!("<jwk>"))]));
        add(
            "jku on loopback",
            self.self_keyed(&[("jku", json!(key_url))]),
        );
        add(
            "x5u on loopback",
            self.self_keyed(&[("x5u", json!(key_url))]),
        );
        add("attacker key, our kid", self.self_keyed(&[]));

        for kid in [
            "../../../../etc/passwd".to_owned(),
            "' OR '1'='1' --".to_owned(),
            "\"; DROP TABLE signing_keys; --".to_owned(),
            String::new(),
            "k".repeat(10 * 1024),
            "unknown-kid".to_owned(),
        ] {
            let header = json!({ "alg": "ES256", "typ": "JWT", "kid": kid });
            add(&format!("kid {:.24}", kid), self.real(&header, &claims));
        }
        let no_kid = json!({ "alg": "ES256", "typ": "JWT" });
        add("no kid", self.real(&no_kid, &claims));

        let mut tampered_claims = claims.clone();
        tampered_claims["sub"] = json!("00000000-0000-0000-0000-000000000000");
        let signature = valid.rsplit('.').next().unwrap();
        add(
            "tampered payload",
            format!(
                "{}.{}.{signature}",
                b64json(&self.header()),
                b64json(&tampered_claims)
            ),
        );

        let mut wrong = claims.clone();
        wrong["iss"] = json!("https://evil.example");
        add("wrong iss", self.real(&self.header(), &wrong));
        let mut wrong = claims.clone();
        wrong["iss"] = json!(format!("{}/", self.iss));
        add(
            "iss with a trailing slash",
            self.real(&self.header(), &wrong),
        );
        let mut wrong = claims.clone();
        wrong["aud"] = json!("other-service");
        add("wrong aud", self.real(&self.header(), &wrong));
        for missing in ["sid", "sub", "iss", "aud", "iat", "exp"] {
            let mut partial = claims.clone();
            partial.as_object_mut().unwrap().remove(missing);
            add(
                &format!("missing {missing}"),
                self.real(&self.header(), &partial),
            );
        }
        let mut typed = claims.clone();
        typed["exp"] = json!("9999999999");
        add("exp as a string", self.real(&self.header(), &typed));

        let message = &valid[..valid.rfind('.').unwrap()];
        add("two segments", message.to_owned());
        add("four segments", format!("{valid}.{signature}"));
        add("padded segments", valid.replace('.', "=."));
        add("bad base64", format!("{message}.*{}", &signature[1..]));
        add(
            "header not JSON",
            format!("{}.{}.{signature}", B64.encode("{alg"), b64json(&claims)),
        );
        add(
            "payload not JSON",
            self.real_raw(&self.header(), "not json"),
        );
        add(
            "payload a JSON array",
            self.real_raw(&self.header(), "[1,2]"),
        );
        add(
            "a 1 MB token",
            format!(
                "{}.{}.{}",
                b64json(&self.header()),
                "A".repeat(1 << 20),
                signature
            ),
        );

        let raw = self.raw_signature(&valid);
        let (r, s) = raw.split_at(32);
        let high_s = sub(&N, s);
        add(
            "(r, n-s)",
            self.with_signature(&valid, &[r, &high_s].concat()),
        );
        add(
            "r = 0",
            self.with_signature(&valid, &[&[0u8; 32][..], s].concat()),
        );
        add(
            "s = 0",
            self.with_signature(&valid, &[r, &[0u8; 32][..]].concat()),
        );
        add("r = n", self.with_signature(&valid, &[&N[..], s].concat()));
        add("s = n", self.with_signature(&valid, &[r, &N[..]].concat()));
        add(
            "65-byte signature",
            self.with_signature(&valid, &[&raw[..], &[0u8][..]].concat()),
        );
        out
    }

    fn real_raw(&self, header: &Value, payload: &str) -> String {
        let message = format!("{}.{}", b64json(header), B64.encode(payload));
        format!("{message}.{}", B64.encode(self.sign_real(&message)))
    }
}

/// A listener that counts connections: `jku`/`x5u` must never be fetched.
async fn trap() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/keys.json", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, hits)
}

async fn hostile_tokens_are_refused_by_the_crate_and_the_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let session = app.sign_up(&unique_email()).await;
    let now = app.clock.now().unix_timestamp();
    let set = app.state.tokens.keys().snapshot();
    let key = set.signing_key(app.clock.now()).unwrap().clone();
    let point = key.pair().public_key().as_ref().to_vec();
    let forge = Forge {
        kid: key.kid.clone(),
        sid: session["refreshTokenId"].as_str().unwrap().to_owned(),
        sub: session["user"]["id"].as_str().unwrap().to_owned(),
        iss: app.state.config.tokens.issuer.clone(),
        now,
        point,
        key,
    };
    let clock = app.clock.clone();
    let verifier = Verifier::builder(app.url("/.well-known/jwks.json"), &forge.iss, "tessera")
        .clock(move || clock.now().unix_timestamp())
        .build();
    let (trap_url, trap_hits) = trap().await;

    // The baseline, forged with the real key, passes everywhere: each hostile token below
    // differs from a valid one in exactly the way its name says.
    let baseline = forge.real(&forge.header(), &forge.claims());
    assert!(verifier.verify(&baseline).await.is_ok());
    assert_eq!(app.verify(&baseline).await, StatusCode::OK);

    let mut cases = forge.hostile(&trap_url);
    // Time boundaries: the server has no leeway on exp (it is the clock), the crate 60 s;
    // both tolerate an iat up to 60 s ahead.
    let at = |iat: i64, exp: i64| {
        let mut claims = forge.claims();
        claims["iat"] = json!(iat);
        claims["exp"] = json!(exp);
        forge.real(&forge.header(), &claims)
    };
    cases.push(("iat beyond the leeway".into(), at(now + 61, now + 3600)));
    let server_only = vec![("exp = now".to_owned(), at(now - 3600, now))];
    let crate_only = vec![
        ("exp = now - leeway".to_owned(), at(now - 3600, now - 60)),
        ("exp beyond the leeway".to_owned(), at(now - 3600, now - 61)),
    ];
    assert!(
        verifier.verify(&at(now - 3600, now - 59)).await.is_ok(),
        "inside the crate's leeway"
    );
    assert!(
        verifier.verify(&at(now + 60, now + 3600)).await.is_ok(),
        "iat at the leeway"
    );
    assert_eq!(
        app.verify(&at(now - 3600, now + 1)).await,
        StatusCode::OK,
        "one second left"
    );
    assert_eq!(
        app.verify(&at(now + 60, now + 3600)).await,
        StatusCode::OK,
        "iat at the leeway"
    );

    for (name, token) in cases.iter().chain(&crate_only) {
        let result = verifier.verify(token).await;
        assert!(result.is_err(), "the crate accepted `{name}`");
    }
    // The 1 MB token goes on a connection of its own: the server closes the one it
    // answers 413 on, and a pooled client could send the next request on it meanwhile.
    let unpooled = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for (name, token) in cases.iter().chain(&server_only) {
        let client = if token.len() > 64 * 1024 {
            &unpooled
        } else {
            &app.client
        };
        let sent = client
            .post(app.url("/token/verify"))
            .json(&json!({ "token": token }))
            .send()
            .await;
        // A 1 MB token exceeds the body limit before it is a token at all: the server
        // answers 413 from the Content-Length and closes the connection, which can cut
        // the client's upload (a broken pipe) before it reads that answer.
        let oversized = token.len() > 64 * 1024;
        let verify = match sent {
            Err(err) if oversized && err.is_request() => {
                assert_eq!(app.verify(&baseline).await, StatusCode::OK, "still serving");
                continue;
            }
            other => other.unwrap(),
        };
        let status = verify.status();
        let expected = if oversized {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "/token/verify with `{name}`");
        if token.len() < 16 * 1024 {
            let user = app
                .client
                .get(app.url("/user"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(
                user.status(),
                StatusCode::UNAUTHORIZED,
                "/user with `{name}`"
            );
            // An expired but genuine token may sign its session out;
            // every other one must not.
            if name != "exp = now" {
                let signout = app
                    .client
                    .post(app.url("/signout"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    signout.status(),
                    StatusCode::OK,
                    "/signout always answers OK"
                );
            }
        }
    }

    // No side effect: the session is alive, no key was fetched from a token's URL.
    assert_eq!(
        app.verify(&baseline).await,
        StatusCode::OK,
        "no hostile sign-out revoked the session"
    );
    assert_eq!(
        trap_hits.load(Ordering::SeqCst),
        0,
        "jku/x5u were never fetched"
    );
    let refresh = app.refresh(session["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refresh.status(), StatusCode::OK);
}

both_backends!(hostile_tokens_are_refused_by_the_crate_and_the_server);
