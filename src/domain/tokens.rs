//! ES256 access tokens: issuing (signed with the active key, parsed once) and verifying
//! (only against keys of our own set, chosen by `kid`, with `alg`, `iss`, `aud` and `exp`
//! enforced against the injected clock).
//!
//! A token that verified is remembered, by the SHA-256 of the whole token, with its claims
//! and the `kid` that signed it. The same token presented again (a service checking each
//! request with `/token/verify`, a client calling `/user` repeatedly: a token lives an hour
//! and is presented many times) skips the ECDSA check, about 53 µs of the 120 µs such a
//! request costs. Only the exact token string hits; its key must still be in our set at
//! that moment (a revoked key's tokens stop as soon as this replica's key set drops it, as they always did); `exp` and `iat` are checked again
//! each time. Tokens for sign-out (expired ones accepted) are never remembered.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use quick_cache::sync::Cache;
use tessera_verify::{MAX_TOKEN_BYTES, Rules, check_times, verify_token};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::{CustomClaims, TokenConfig};
use crate::domain::custom_claims;
use crate::domain::keys::{KeyError, KeyService, SigningKey};
use crate::store::{SessionRecord, UserRecord};

/// Tolerated clock difference between replicas for `iat`.
const IAT_LEEWAY_SECONDS: u64 = 60;
/// How many verified tokens are remembered (a few hundred bytes each).
const VERIFIED_CAPACITY: usize = 10_000;

/// A token that verified: the key that signed it and its claims.
struct Verified {
    kid: String,
    claims: AccessClaims,
}

/// The claims of an access token, exactly the documented ones (the verifier
/// crate's type, so both sides agree on the shape).
pub use tessera_verify::{Claims as AccessClaims, HasuraClaims, VerifyError as TokenError};

/// Who a token is for: the user as read for this issue (so custom claims and roles are
/// never older than the sign-in or refresh that asked for the token) and the session, with
/// how and when it was last authenticated.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub user: &'a UserRecord,
    pub session_id: Uuid,
    /// The session's latest authentication (`auth_time`).
    pub auth_time: OffsetDateTime,
    /// The methods the session proved (`amr`); empty for an anonymous session.
    pub amr: &'a [String],
}

impl<'a> Subject<'a> {
    /// A token of `session` for `user`.
    pub fn of(user: &'a UserRecord, session: &'a SessionRecord) -> Self {
        Self {
            user,
            session_id: session.id,
            auth_time: session.auth_time,
            amr: &session.amr,
        }
    }
}

/// Whether an expired token is acceptable (sign-out only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Enforce,
    Ignore,
}

/// Issues and verifies access tokens.
pub struct TokenIssuer {
    keys: Arc<KeyService>,
    issuer: String,
    audience: String,
    ttl: Duration,
    hasura: bool,
    custom: CustomClaims,
    rules: Rules,
    rng: SystemRandom,
    /// Tokens that verified, by the SHA-256 of the token (see the module documentation).
    verified: Cache<[u8; 32], Arc<Verified>>,
}

impl TokenIssuer {
    /// An issuer for the configured `iss`, `aud`, TTL and claims.
    pub fn new(keys: Arc<KeyService>, config: &TokenConfig) -> Self {
        // Tessera is the clock of its own tokens: no leeway on `exp`; `iat` tolerates the
        // clock difference between replicas.
        let rules = Rules {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            exp_leeway: 0,
            iat_leeway: IAT_LEEWAY_SECONDS,
            check_exp: true,
        };
        Self {
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_token_ttl,
            hasura: config.hasura_claims,
            custom: config.custom_claims.clone(),
            rules,
            rng: SystemRandom::new(),
            verified: Cache::new(VERIFIED_CAPACITY),
        }
    }

    /// Seconds an access token lives (`accessTokenExpiresIn`).
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// The key service behind this issuer.
    pub fn keys(&self) -> &Arc<KeyService> {
        &self.keys
    }

    /// Signs a token for `subject` at `now` with the active key.
    pub fn issue(&self, subject: &Subject<'_>, now: OffsetDateTime) -> Result<String, KeyError> {
        let set = self.keys.snapshot();
        let key = set.signing_key(now).ok_or(KeyError::NoActiveKey)?;
        let iat = now.unix_timestamp();
        let user = subject.user;
        let claims = AccessClaims {
            sid: subject.session_id,
            sub: user.id,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat,
            exp: iat + self.ttl.as_secs() as i64,
            auth_time: Some(subject.auth_time.unix_timestamp()),
            amr: subject.amr.to_vec(),
            hasura: self.hasura.then(|| HasuraClaims {
                user_id: user.id.to_string(),
                default_role: user.default_role.clone(),
                allowed_roles: user.roles.clone(),
                user_is_anonymous: user.is_anonymous.to_string(),
            }),
        };
        let payload = if self.custom.is_empty() {
            serde_json::to_vec(&claims)
        } else {
            // Custom claims have no place in the fixed claim type, so the claims go
            // through a JSON object they are added to.
            serde_json::to_value(&claims).and_then(|mut value| {
                if let serde_json::Value::Object(map) = &mut value {
                    custom_claims::add(&self.custom, user, map);
                }
                serde_json::to_vec(&value)
            })
        }
        .map_err(|_| KeyError::Import("claims could not be serialised".into()))?;
        self.sign(key, &key.header_b64, &payload)
    }

    /// A compact JWS of `payload` under `header_b64` (base64url of the header JSON), signed
    /// by `key`.
    fn sign(&self, key: &SigningKey, header_b64: &str, payload: &[u8]) -> Result<String, KeyError> {
        let mut token = String::with_capacity(512);
        token.push_str(header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        // ECDSA_P256_SHA256_FIXED_SIGNING yields r || s, 64 bytes: the JWS ES256 format.
        let signature = key
            .pair()
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| KeyError::Import("signing failed".into()))?;
        // ECDSA signatures come in two valid forms, (r, s) and (r, n-s); Tessera always
        // issues the low-s one and verifiers refuse the other, so a token has one spelling.
        let signature = p256::ecdsa::Signature::from_slice(signature.as_ref())
            .map_err(|_| KeyError::Import("signing produced an invalid signature".into()))?;
        let signature = signature.normalize_s().unwrap_or(signature);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }

    /// Signs other claims (the tokens of apps that sign in through Tessera) with the active
    /// key: header `{"alg":"ES256","typ":<typ>,"kid":...}`.
    pub fn sign_claims(
        &self,
        typ: &str,
        claims: &serde_json::Value,
        now: OffsetDateTime,
    ) -> Result<String, KeyError> {
        let set = self.keys.snapshot();
        let key = set.signing_key(now).ok_or(KeyError::NoActiveKey)?;
        let header = serde_json::json!({ "alg": "ES256", "typ": typ, "kid": key.kid });
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        let payload = serde_json::to_vec(claims)
            .map_err(|_| KeyError::Import("claims could not be serialised".into()))?;
        self.sign(key, &header_b64, &payload)
    }

    /// The issuer of every token (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Seconds an access token lives, as a duration.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Verifies a token with the same code as the `tessera-verify` crate: our key by `kid`,
    /// ES256 with a canonical signature, `iss`, `aud`, and (unless `Ignore`) `exp`.
    pub fn verify(
        &self,
        token: &str,
        now: OffsetDateTime,
        expiry: Expiry,
    ) -> Result<AccessClaims, TokenError> {
        let set = self.keys.snapshot();
        // Remembered only with `exp` enforced, and never a token the verifier refuses for
        // its size before reading it.
        let memo = (expiry == Expiry::Enforce && token.len() <= MAX_TOKEN_BYTES).then(|| {
            <[u8; 32]>::try_from(digest(&SHA256, token.as_bytes()).as_ref())
                .expect("SHA-256 is 32 bytes")
        });
        if let Some(hash) = &memo
            && let Some(seen) = self.verified.get(hash)
            && set.verification_key(&seen.kid, now).is_some()
        {
            check_times(&seen.claims, &self.rules, now.unix_timestamp())?;
            return Ok(seen.claims.clone());
        }
        let rules = match expiry {
            Expiry::Enforce => std::borrow::Cow::Borrowed(&self.rules),
            Expiry::Ignore => std::borrow::Cow::Owned(Rules {
                check_exp: false,
                ..self.rules.clone()
            }),
        };
        let mut signed_by = None;
        let claims = verify_token(
            token,
            |kid| {
                signed_by = Some(kid.to_owned());
                set.verification_key(kid, now).map(|k| &k.decoding)
            },
            &rules,
            now.unix_timestamp(),
        )?;
        if let (Some(hash), Some(kid)) = (memo, signed_by) {
            let remembered = Verified {
                kid,
                claims: claims.clone(),
            };
            self.verified.insert(hash, Arc::new(remembered));
        }
        Ok(claims)
    }

    /// The start-up self-test: sign one token and verify it through the verifier.
    pub fn self_test(&self, now: OffsetDateTime) -> Result<(), String> {
        // A user with every named field a custom claim may read, so the test also signs
        // whatever custom claims are configured.
        let user = UserRecord::placeholder(Uuid::nil(), now);
        let subject = Subject {
            user: &user,
            session_id: Uuid::nil(),
            auth_time: now,
            amr: &[],
        };
        let token = self.issue(&subject, now).map_err(|e| e.to_string())?;
        let claims = self
            .verify(&token, now, Expiry::Enforce)
            .map_err(|e| e.to_string())?;
        if claims.sub != Uuid::nil() || claims.exp - claims.iat != self.ttl.as_secs() as i64 {
            return Err("the verified claims differ from the signed ones".into());
        }
        Ok(())
    }
}
