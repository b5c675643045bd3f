//! The JWT parser and verifier (the primitive the server and the crate share): any input
//! is refused or accepted, never a panic. Inputs that look like tokens are built from the
//! fuzzer's bytes so that the header and payload parsers are reached too.
#![no_main]

use std::sync::LazyLock;

use jsonwebtoken::DecodingKey;
use libfuzzer_sys::fuzz_target;
use tessera_verify::{Rules, verify_token};

static KEY: LazyLock<DecodingKey> = LazyLock::new(|| {
    DecodingKey::from_ec_components(
        "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    )
    .unwrap()
});

fuzz_target!(|data: &[u8]| {
    let rules = Rules {
        issuer: "https://auth.example.com".into(),
        audience: "tessera".into(),
        exp_leeway: 60,
        iat_leeway: 60,
        check_exp: true,
    };
    // As raw text.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = verify_token(text, |_| Some(&*KEY), &rules, 1_900_000_000);
    }
    // As three base64url segments around the fuzzer's bytes (header, payload, signature).
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let third = data.len() / 3;
    let (a, rest) = data.split_at(third);
    let (b, c) = rest.split_at(third);
    let token = format!("{}.{}.{}", b64.encode(a), b64.encode(b), b64.encode(c));
    let _ = verify_token(&token, |_| Some(&*KEY), &rules, 1_900_000_000);
    let token = format!(r#"{}.{}.{}"#, b64.encode(br#"{"alg":"ES256","kid":"k"}"#), b64.encode(a), b64.encode(c));
    let _ = verify_token(&token, |_| Some(&*KEY), &rules, 1_900_000_000);
});
