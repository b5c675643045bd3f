//! ES256 access tokens: issuing (signed with the active key, parsed once) and verifying
//! (only against keys of our own set, chosen by `kid`, with `alg`, `iss`, `aud` and `exp`
//! enforced against the injected clock).

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::Config;
use crate::keys::{KeyError, KeyService};

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 4096;
/// Tolerated clock difference between replicas for `iat`.
const IAT_LEEWAY_SECONDS: i64 = 60;

/// The claims of an access token, exactly those of SPEC.md section 2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sid: Uuid,
    pub sub: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(
        rename = "https://hasura.io/jwt/claims",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub hasura: Option<HasuraClaims>,
}

/// Nhost/Hasura's claims namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HasuraClaims {
    #[serde(rename = "x-hasura-user-id")]
    pub user_id: String,
    #[serde(rename = "x-hasura-default-role")]
    pub default_role: String,
    #[serde(rename = "x-hasura-allowed-roles")]
    pub allowed_roles: Vec<String>,
    /// `"true"` or `"false"`: Hasura session variables are strings.
    #[serde(rename = "x-hasura-user-is-anonymous")]
    pub user_is_anonymous: String,
}

/// Who a token is for.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub default_role: &'a str,
    pub roles: &'a [String],
    pub is_anonymous: bool,
}

/// Why a token was refused. Never shown to clients beyond `invalid-token`; logged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm is not ES256")]
    Algorithm,
    #[error("unknown key id")]
    UnknownKey,
    #[error("signature or claims invalid: {0}")]
    Invalid(String),
    #[error("token expired")]
    Expired,
    #[error("token issued in the future")]
    NotYetValid,
}

/// Whether an expired token is acceptable (sign-out only: SPEC.md section 4).
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
    validation: Validation,
    rng: SystemRandom,
}

impl TokenIssuer {
    /// An issuer for the configured `iss`, `aud`, TTL and claims.
    pub fn new(keys: Arc<KeyService>, config: &Config) -> Self {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Expiry is checked against the injected clock below, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        Self {
            keys,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_token_ttl,
            hasura: config.hasura_claims,
            validation,
            rng: SystemRandom::new(),
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
        let claims = AccessClaims {
            sid: subject.session_id,
            sub: subject.user_id,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat,
            exp: iat + self.ttl.as_secs() as i64,
            hasura: self.hasura.then(|| HasuraClaims {
                user_id: subject.user_id.to_string(),
                default_role: subject.default_role.to_owned(),
                allowed_roles: subject.roles.to_vec(),
                user_is_anonymous: subject.is_anonymous.to_string(),
            }),
        };
        let payload = serde_json::to_vec(&claims).expect("claims serialise");
        let mut token = String::with_capacity(512);
        token.push_str(&key.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        // ECDSA_P256_SHA256_FIXED_SIGNING yields r || s, 64 bytes: the JWS ES256 format.
        let signature = key
            .pair()
            .sign(&self.rng, token.as_bytes())
            .map_err(|_| KeyError::Import("signing failed".into()))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Ok(token)
    }

    /// Verifies a token: our key by `kid`, ES256, `iss`, `aud`, and (unless `Ignore`) `exp`.
    pub fn verify(
        &self,
        token: &str,
        now: OffsetDateTime,
        expiry: Expiry,
    ) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES || token.split('.').count() != 3 {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::ES256 {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let set = self.keys.snapshot();
        let key = set
            .verification_key(&kid, now)
            .ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &self.validation)
            .map_err(|err| TokenError::Invalid(err.to_string()))?;
        let claims = data.claims;
        let now = now.unix_timestamp();
        if expiry == Expiry::Enforce && claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if claims.iat > now + IAT_LEEWAY_SECONDS {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }

    /// The start-up self-test: sign one token and verify it through the verifier.
    pub fn self_test(&self, now: OffsetDateTime) -> Result<(), String> {
        let subject = Subject {
            user_id: Uuid::nil(),
            session_id: Uuid::nil(),
            default_role: "user",
            roles: &["user".to_owned()],
            is_anonymous: false,
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
