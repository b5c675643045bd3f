//! One P-256 key: generation, PKCS#8 import, its public JWK and RFC 7638 thumbprint, and
//! encryption of the private half at rest.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use serde_json::{Value, json};

use super::KeyError;

/// A fresh P-256 private key as PKCS#8 DER.
pub fn generate_pkcs8() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .expect("P-256 key generation")
        .as_ref()
        .to_vec()
}

/// Reads a PKCS#8 PEM P-256 private key and returns it as PKCS#8 DER.
pub fn pkcs8_from_pem(pem: &str) -> Result<Vec<u8>, KeyError> {
    let secret = p256::SecretKey::from_pkcs8_pem(pem).map_err(|_| {
        KeyError::Import(
            "not a PKCS#8 PEM P-256 private key (convert with `openssl pkcs8 -topk8 -nocrypt`)"
                .into(),
        )
    })?;
    let der = secret
        .to_pkcs8_der()
        .map_err(|err| KeyError::Import(format!("cannot encode the key: {err}")))?;
    Ok(der.as_bytes().to_vec())
}

/// Parses PKCS#8 DER into a key pair ready to sign (parsed once, reused for every token).
pub fn key_pair(pkcs8: &[u8]) -> Result<EcdsaKeyPair, KeyError> {
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
        .map_err(|err| KeyError::Import(format!("not a usable P-256 key: {err}")))
}

/// The public JWK members of a key pair: `x` and `y` always exactly 32 bytes, leading zero
/// bytes kept (PyJWT and go-jose reject a trimmed coordinate).
pub fn coordinates(key_pair: &EcdsaKeyPair) -> (String, String) {
    // The public key is the uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
    let point = key_pair.public_key().as_ref();
    assert_eq!(point.len(), 65, "uncompressed P-256 point");
    (
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
}

/// RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order, no spaces.
pub fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
}

/// The JWK as published in the JWKS.
pub fn public_jwk(kid: &str, x: &str, y: &str) -> Value {
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": x,
        "y": y,
        "kid": kid,
        "use": "sig",
        "alg": "ES256",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_thousand_keys_have_32_byte_coordinates_and_unique_kids() {
        let mut kids = HashSet::new();
        let mut leading_zero = 0;
        for _ in 0..1000 {
            let pair = key_pair(&generate_pkcs8()).unwrap();
            let (x, y) = coordinates(&pair);
            let (xb, yb) = (
                URL_SAFE_NO_PAD.decode(&x).unwrap(),
                URL_SAFE_NO_PAD.decode(&y).unwrap(),
            );
            assert_eq!((xb.len(), yb.len()), (32, 32));
            assert_eq!(x.len(), 43);
            leading_zero += usize::from(xb[0] == 0 || yb[0] == 0);
            assert!(kids.insert(thumbprint(&x, &y)));
        }
        // About one key in 128 has a zero first byte in x or y; the check above ran on them.
        println!("{leading_zero} of 1000 keys had a leading zero byte");
    }

    #[test]
    fn a_key_with_a_leading_zero_byte_keeps_it() {
        let pair = (0..20_000)
            .map(|_| key_pair(&generate_pkcs8()).unwrap())
            .find(|pair| pair.public_key().as_ref()[1] == 0)
            .expect("one key in 256 has x starting with a zero byte");
        let (x, _) = coordinates(&pair);
        let x = URL_SAFE_NO_PAD.decode(x).unwrap();
        assert_eq!(x.len(), 32);
        assert_eq!(x[0], 0);
    }

    #[test]
    fn thumbprint_matches_rfc_7638_canonical_form() {
        // A fixed key: the thumbprint is over exactly {"crv","kty","x","y"}.
        let kid = thumbprint("AAAA", "BBBB");
        let expected = URL_SAFE_NO_PAD.encode(digest(
            &SHA256,
            br#"{"crv":"P-256","kty":"EC","x":"AAAA","y":"BBBB"}"#,
        ));
        assert_eq!(kid, expected);
        assert_eq!(kid.len(), 43);
    }

    #[test]
    fn pem_import_round_trips_and_refuses_other_keys() {
        let der = generate_pkcs8();
        let secret = p256::SecretKey::from_pkcs8_der(&der).unwrap();
        let pem = secret.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).unwrap();
        let imported = pkcs8_from_pem(&pem).unwrap();
        let (a, b) = (key_pair(&der).unwrap(), key_pair(&imported).unwrap());
        assert_eq!(coordinates(&a), coordinates(&b));
        assert!(
            pkcs8_from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
        assert!(pkcs8_from_pem("hello").is_err());
    }
}
