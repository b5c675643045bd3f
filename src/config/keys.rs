//! The keys section: the key-encryption key and how signing keys rotate.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use secrecy::SecretBox;

use super::source::{Source, error, positive_duration};
use super::values::{self, duration};
use super::{ConfigError, Database};

/// How to make a key-encryption key, in every message that asks for one.
const KEY_ENCRYPTION_KEY_EXAMPLE: &str =
    "<32 random bytes in base64, from `openssl rand -base64 32`>";

/// Signing keys: where they come from and how they rotate.
#[derive(Debug)]
pub struct KeyConfig {
    /// AES-256-GCM key that encrypts private keys at rest. Unset on SQLite, the embedded
    /// default makes its own, in a file next to the database (see `keys::custody`).
    pub encryption_key: Option<SecretBox<[u8; 32]>>,
    /// `TESSERA_ALLOW_PLAINTEXT_KEYS`: the operator accepts private keys in clear in a
    /// Postgres database that has no `TESSERA_KEY_ENCRYPTION_KEY` (refused otherwise).
    pub allow_plaintext: bool,
    /// A PKCS#8 PEM imported at start-up if its key is not in the key set yet.
    pub signing_key_file: Option<PathBuf>,
    /// Scheduled rotation; zero turns it off.
    pub rotation_interval: Duration,
    /// `Cache-Control: max-age` of the JWKS.
    pub jwks_max_age: Duration,
    /// How long a new key is published before it signs; longer than `jwks_max_age`.
    pub publish_lead: Duration,
}

impl KeyConfig {
    /// Private keys are never stored in clear unless the operator says so: SQLite always
    /// has a key (its own key file, at worst); Postgres needs one from the operator.
    pub(super) fn parse(env: &Source<'_>, database: &Database) -> Result<Self, ConfigError> {
        let keys = KeyConfig {
            encryption_key: env
                .optional(
                    "TESSERA_KEY_ENCRYPTION_KEY",
                    KEY_ENCRYPTION_KEY_EXAMPLE,
                    parse_encryption_key,
                )?
                .map(|key| SecretBox::new(Box::new(key))),
            allow_plaintext: env.parsed(
                "TESSERA_ALLOW_PLAINTEXT_KEYS",
                "false",
                false,
                values::boolean,
            )?,
            signing_key_file: env.raw("TESSERA_SIGNING_KEY_FILE").map(PathBuf::from),
            rotation_interval: env.parsed(
                "TESSERA_KEY_ROTATION_INTERVAL",
                "30d",
                Duration::from_secs(30 * 86_400),
                duration,
            )?,
            jwks_max_age: env.parsed(
                "TESSERA_JWKS_MAX_AGE",
                "10m",
                Duration::from_secs(600),
                positive_duration,
            )?,
            publish_lead: env.parsed(
                "TESSERA_KEY_PUBLISH_LEAD",
                "1h",
                Duration::from_secs(3600),
                positive_duration,
            )?,
        };
        if matches!(database, Database::Postgres(_))
            && keys.encryption_key.is_none()
            && !keys.allow_plaintext
        {
            return Err(error(
                "TESSERA_KEY_ENCRYPTION_KEY",
                "is required with a Postgres DATABASE_URL, so that private signing keys are encrypted at rest (set TESSERA_ALLOW_PLAINTEXT_KEYS=true to store them in clear instead)",
                KEY_ENCRYPTION_KEY_EXAMPLE,
            ));
        }
        if keys.jwks_max_age >= keys.publish_lead {
            return Err(error(
                "TESSERA_JWKS_MAX_AGE",
                "must be shorter than TESSERA_KEY_PUBLISH_LEAD, so verifiers see a new key before it signs",
                "10m",
            ));
        }
        Ok(keys)
    }
}

/// A key-encryption key: 32 bytes in base64 (any alphabet, padded or not) or hex, as
/// `TESSERA_KEY_ENCRYPTION_KEY` and the embedded default's key file hold it.
pub fn parse_encryption_key(raw: &str) -> Result<[u8; 32], String> {
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    // 64 hex digits are also valid base64 (of 48 bytes), so hex is tried first.
    let bytes = hex_decode(raw)
        .or_else(|| engines.iter().find_map(|engine| engine.decode(raw).ok()))
        .ok_or("is neither base64 nor hex")?;
    bytes
        .try_into()
        .map_err(|_| "is not exactly 32 bytes".to_string())
}

fn hex_decode(raw: &str) -> Option<Vec<u8>> {
    if !raw.len().is_multiple_of(2) {
        return None;
    }
    (0..raw.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(raw.get(i..i + 2)?, 16).ok())
        .collect()
}
