//! The verification primitive shared by this crate and the Tessera server itself: one
//! function that takes a compact JWS, a way to find a key by `kid`, and the rules.
//!
//! What it refuses, before any key is looked up: more than [`MAX_TOKEN_BYTES`]; anything
//! but three non-empty unpadded base64url segments; a header that is not a JSON object,
//! whose `alg` is not exactly `ES256`, that lacks a `kid` (or has one over 256 bytes), or
//! that carries `jku`, `x5u`, `jwk`, `x5c` or `crit` (keys never come from the token).
//! Then: an unknown `kid`; a signature that is not 64 bytes, has `r` or `s` zero or not
//! below the group order, or has a high `s` (Tessera signs with low `s`, so `(r, n-s)` is
//! not a second valid form of a token); a bad signature; a wrong `iss` or `aud`; a missing
//! `sid`, `sub`, `iss`, `aud`, `iat` or `exp`; an `exp` at or before now minus the
//! leeway; an `iat` after now plus the leeway.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::Claims;

/// Longer tokens are refused without being parsed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Longest `kid` accepted.
pub const MAX_KID_BYTES: usize = 256;
/// Header members that would let a token name its own key: never honoured, always refused.
const FORBIDDEN_HEADERS: [&str; 5] = ["jku", "x5u", "jwk", "x5c", "crit"];

/// Why a token was refused. Shown in logs, never in a response body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no token")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("algorithm is not ES256")]
    Algorithm,
    #[error("unknown key id")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("invalid claims: {0}")]
    Claims(String),
    #[error("token expired")]
    Expired,
    #[error("token issued in the future")]
    NotYetValid,
    #[error("the session has ended")]
    SessionEnded,
    #[error("cannot check the token now: {0}")]
    Unavailable(String),
}

/// What a valid token must satisfy.
#[derive(Debug, Clone)]
pub struct Rules {
    pub issuer: String,
    pub audience: String,
    /// Seconds an expired token is still accepted (clock difference with Tessera).
    pub exp_leeway: u64,
    /// Seconds an `iat` may lie in the future.
    pub iat_leeway: u64,
    /// False only for sign-out, where an expired token still names its session.
    pub check_exp: bool,
}

impl Rules {
    fn validation(&self) -> Validation {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Time is checked below against the caller's clock, with the caller's leeway.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation
    }
}

fn decode_segment(segment: &str) -> Result<Vec<u8>, VerifyError> {
    if segment.is_empty() {
        return Err(VerifyError::Malformed("empty segment"));
    }
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| VerifyError::Malformed("segment is not unpadded base64url"))
}

/// The `kid` of a token whose shape and header pass the checks above.
pub fn header_kid(token: &str) -> Result<String, VerifyError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(VerifyError::Malformed("token too long"));
    }
    let segments: Vec<&str> = token.split('.').collect();
    if segments.len() != 3 {
        return Err(VerifyError::Malformed("not three segments"));
    }
    let header: Map<String, Value> = serde_json::from_slice(&decode_segment(segments[0])?)
        .map_err(|_| VerifyError::Malformed("header is not a JSON object"))?;
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err(VerifyError::Algorithm);
    }
    if FORBIDDEN_HEADERS
        .iter()
        .any(|name| header.contains_key(*name))
    {
        return Err(VerifyError::Malformed("header names its own key"));
    }
    if header.get("typ").is_some_and(|typ| typ != "JWT") {
        return Err(VerifyError::Malformed("typ is not JWT"));
    }
    match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID_BYTES => Ok(kid.to_owned()),
        _ => Err(VerifyError::UnknownKey),
    }
}

/// Whether a raw ES256 signature (`r || s`) is canonical: both scalars in `1..n`, `s` low.
pub fn canonical_signature(raw: &[u8]) -> bool {
    p256::ecdsa::Signature::from_slice(raw).is_ok_and(|sig| sig.normalize_s().is_none())
}

/// Verifies `token` with the key `key_for_kid` returns for its `kid`, at `now` (seconds).
pub fn verify_token<'k>(
    token: &str,
    key_for_kid: impl FnOnce(&str) -> Option<&'k DecodingKey>,
    rules: &Rules,
    now: i64,
) -> Result<Claims, VerifyError> {
    let kid = header_kid(token)?;
    let key = key_for_kid(&kid).ok_or(VerifyError::UnknownKey)?;
    verify_with_key(token, key, rules, now)
}

/// The second half of [`verify_token`], once the key is known.
pub fn verify_with_key(
    token: &str,
    key: &DecodingKey,
    rules: &Rules,
    now: i64,
) -> Result<Claims, VerifyError> {
    let signature = token.rsplit('.').next().unwrap_or_default();
    let raw = decode_segment(signature)?;
    if raw.len() != 64 || !canonical_signature(&raw) {
        return Err(VerifyError::Signature);
    }
    let data = jsonwebtoken::decode::<Claims>(token, key, &rules.validation()).map_err(|err| {
        use jsonwebtoken::errors::ErrorKind as K;
        match err.kind() {
            K::InvalidSignature => VerifyError::Signature,
            K::InvalidAlgorithm | K::InvalidAlgorithmName => VerifyError::Algorithm,
            K::Base64(_) | K::Json(_) | K::Utf8(_) | K::InvalidToken => {
                VerifyError::Malformed("payload is not a JSON object of claims")
            }
            _ => VerifyError::Claims(err.to_string()),
        }
    })?;
    let claims = data.claims;
    check_times(&claims, rules, now)?;
    Ok(claims)
}

/// The time checks of [`verify_with_key`] alone: `exp` (unless `rules.check_exp` is off) and
/// `iat`, against `now` with the rules' leeways. For claims that verified earlier and are
/// looked at again later.
pub fn check_times(claims: &Claims, rules: &Rules, now: i64) -> Result<(), VerifyError> {
    if rules.check_exp && claims.exp.saturating_add(rules.exp_leeway as i64) <= now {
        return Err(VerifyError::Expired);
    }
    if claims.iat > now.saturating_add(rules.iat_leeway as i64) {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}
