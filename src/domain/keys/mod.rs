//! Signing keys and their lifecycle (docs/keys.md).
//!
//! A key moves through four stages, all decided by timestamps in the database so that
//! every replica agrees without talking to the others:
//! 1. *published*: in the JWKS from `published_at`, not signing yet. A rotation publishes
//!    the next key `TESSERA_KEY_PUBLISH_LEAD` before it signs, longer than the JWKS cache
//!    lifetime, so verifiers have it before the first token it signs;
//! 2. *active*: the newest key whose `activates_at` has passed signs every token;
//! 3. *retired*: from `retires_at` (the next key's activation) it signs nothing but stays
//!    published until `expires_at` = retirement + access-token TTL + one cache lifetime;
//! 4. *dropped*: after `expires_at` it leaves the JWKS and is deleted.
//!
//! Apart from that schedule, a key can be *revoked* at once (a leak): see [`revocation`].
//!
//! Each process keeps the key set in memory (parsed once) and reloads it periodically, so
//! a rotation made by another process or by `tessera keys rotate` is picked up without a
//! restart; the JWKS is served from bytes precomputed at each reload.

pub mod custody;
pub mod material;
mod revocation;
pub mod secrets;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::EcdsaKeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::json;
use time::OffsetDateTime;

use crate::config::{Database, KeyConfig};
use crate::store::{KeyInsertion, KeyRecord, Store, StoreError};
use crate::support::clock::Clock;
use crate::support::sealing;

pub use revocation::{REVOCATION_POLL_PERIOD, Revocation};

/// How often each process reloads the key set and runs scheduled rotation.
pub const KEY_REFRESH_PERIOD: Duration = Duration::from_secs(30);

/// Why key management failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Import(String),
    #[error(
        "{kek} cannot decrypt signing key {kid} (is it the key the signing keys were encrypted with?)"
    )]
    Decrypt { kid: String, kek: String },
    #[error("key-encryption key file {} {problem}", path.display())]
    KeyFile {
        path: std::path::PathBuf,
        problem: String,
    },
    #[error(
        "the signing keys are encrypted, but TESSERA_KEY_ENCRYPTION_KEY is not set and the key-encryption key file {} is missing; restore the file from a backup, or set the variable to the key they were encrypted with",
        path.display()
    )]
    KeyFileMissing { path: std::path::PathBuf },
    #[error(
        "signing key {kid} is encrypted; set TESSERA_KEY_ENCRYPTION_KEY to the key it was encrypted with"
    )]
    EncryptionKeyMissing { kid: String },
    #[error("signing key {kid} is stored with unknown encryption `{encryption}`")]
    UnknownEncryption { kid: String, encryption: String },
    #[error("no signing key is active")]
    NoActiveKey,
    #[error("no such key in the key set")]
    NotFound,
    #[error("key {kid} was revoked; a revoked key is never used again")]
    Revoked { kid: String },
    #[error("a rotation is already pending: key {kid} starts signing at {activates_at}")]
    RotationPending {
        kid: String,
        activates_at: OffsetDateTime,
    },
    #[error("the key set changed while rotating; try again")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key loaded into memory, ready to sign and verify.
pub struct SigningKey {
    pub kid: String,
    pub record: KeyRecord,
    pair: EcdsaKeyPair,
    /// base64url of `{"alg":"ES256","typ":"JWT","kid":...}`, the same for every token.
    pub header_b64: String,
    pub decoding: DecodingKey,
}

impl SigningKey {
    /// The parsed key pair.
    pub fn pair(&self) -> &EcdsaKeyPair {
        &self.pair
    }

    /// Where the key is in its lifecycle at `now`.
    pub fn state(&self, now: OffsetDateTime, newest_active: bool) -> &'static str {
        let r = &self.record;
        if r.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else if r.activates_at > now {
            "published"
        } else if newest_active {
            "active"
        } else {
            "retired"
        }
    }
}

/// The keys of one reload, and the JWKS bytes made from them.
pub struct KeySet {
    /// The unrevoked keys, oldest activation first: the only ones that sign or verify.
    pub keys: Vec<Arc<SigningKey>>,
    /// Revoked keys (tombstones, their private keys erased), for listing and for refusing
    /// to import them again.
    pub revoked: Vec<KeyRecord>,
    pub jwks: Vec<u8>,
    pub etag: String,
}

impl KeySet {
    /// The key that signs at `now`: the newest whose activation has passed.
    pub fn signing_key(&self, now: OffsetDateTime) -> Option<&Arc<SigningKey>> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.record.activates_at <= now && k.record.expires_at.is_none_or(|at| at > now))
    }

    /// A published key by kid: only keys of our own set ever verify a token.
    pub fn verification_key(&self, kid: &str, now: OffsetDateTime) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|k| {
            k.kid == kid
                && k.record.published_at <= now
                && k.record.expires_at.is_none_or(|at| at > now)
        })
    }
}

/// Seals every key stored in clear (by an earlier release, or while the operator allowed
/// plaintext keys) under `key`. Each is one conditional update, so replicas starting at once
/// seal each key once. Old backups still hold the clear key: the log says to rotate.
async fn encrypt_in_place(
    store: &dyn Store,
    key: &[u8; 32],
    source: &str,
    stored: &[KeyRecord],
) -> Result<(), KeyError> {
    for record in stored.iter().filter(|r| r.encryption == "none") {
        // Only a key that parses is sealed: a malformed one fails loudly, as it does at load.
        material::key_pair(&record.private_key)?;
        let sealed = sealing::seal(key, record.kid.as_bytes(), &record.private_key);
        if store
            .seal_signing_key(&record.kid, &sealed, "aes-256-gcm")
            .await?
        {
            tracing::warn!(kid = %record.kid, key = %source, "signing key was stored in clear; it is encrypted now. Backups made before hold it in clear: rotate it (tessera keys rotate) if they may be read by others");
        }
    }
    Ok(())
}

/// Settings of the key lifecycle, from the configuration.
#[derive(Clone)]
struct Policy {
    encryption_key: Option<[u8; 32]>,
    /// Where `encryption_key` came from, for messages.
    key_source: String,
    rotation_interval: Duration,
    publish_lead: Duration,
    /// Retirement to removal: access-token TTL plus one JWKS cache lifetime.
    retired_kept_for: Duration,
}

/// The process's view of the key set, shared by every request.
pub struct KeyService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    current: RwLock<Arc<KeySet>>,
}

/// The outcome of a rotation.
#[derive(Debug)]
pub struct Rotation {
    pub kid: String,
    pub activates_at: OffsetDateTime,
}

impl KeyService {
    /// Loads the key set, creating the first key if there is none and importing
    /// `TESSERA_SIGNING_KEY_FILE` if it names a key not in the set yet. Finds the
    /// key-encryption key first (see [`custody`]) and encrypts in place any key an earlier
    /// release stored in clear.
    pub async fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: &KeyConfig,
        database: &Database,
        access_token_ttl: Duration,
    ) -> Result<Arc<Self>, KeyError> {
        let stored = store.signing_keys().await?;
        let custody = custody::resolve(
            config,
            database,
            stored.iter().any(|k| k.encryption == "aes-256-gcm"),
        )?;
        if let Some(key) = &custody.key {
            encrypt_in_place(store.as_ref(), key, &custody.source, &stored).await?;
        }
        let service = Arc::new(Self {
            store,
            clock,
            policy: Policy {
                encryption_key: custody.key,
                key_source: custody.source,
                rotation_interval: config.rotation_interval,
                publish_lead: config.publish_lead,
                retired_kept_for: access_token_ttl + config.jwks_max_age,
            },
            current: RwLock::new(Arc::new(KeySet {
                keys: Vec::new(),
                revoked: Vec::new(),
                jwks: br#"{"keys":[]}"#.to_vec(),
                etag: String::new(),
            })),
        });
        service.refresh().await?;
        if let Some(path) = &config.signing_key_file {
            let pem = std::fs::read_to_string(path).map_err(|err| {
                KeyError::Import(format!(
                    "TESSERA_SIGNING_KEY_FILE {}: cannot be read: {err}",
                    path.display()
                ))
            })?;
            match service.import_pem(&pem).await {
                Ok(_) => {}
                // The operator revoked it and the variable still names it: keep it revoked.
                Err(KeyError::Revoked { kid }) => tracing::warn!(
                    %kid,
                    "TESSERA_SIGNING_KEY_FILE names a revoked key; it is not used (unset the variable)"
                ),
                Err(err) => return Err(err),
            }
        }
        if service.snapshot().keys.is_empty() {
            service
                .add_key(material::generate_pkcs8(), "generated")
                .await?;
        }
        Ok(service)
    }

    /// A 32-byte secret for `purpose`, derived from the key-encryption key (HMAC-SHA256
    /// over a label), so that it is in no database dump either; `None` when signing keys
    /// are stored in clear (no key-encryption key). Every replica derives the same one.
    pub fn derived_secret(&self, purpose: &str) -> Option<[u8; 32]> {
        let kek = self.policy.encryption_key.as_ref()?;
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, kek);
        let mut label = b"tessera derived secret v1\0".to_vec();
        label.extend_from_slice(purpose.as_bytes());
        let tag = aws_lc_rs::hmac::sign(&key, &label);
        let mut secret = [0u8; 32];
        secret.copy_from_slice(tag.as_ref());
        Some(secret)
    }

    /// The key set as of the last reload.
    pub fn snapshot(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reloads the key set from the database.
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let (revoked, records): (Vec<_>, Vec<_>) = self
            .store
            .signing_keys()
            .await?
            .into_iter()
            .partition(|record| record.revoked_at.is_some());
        let keys = records
            .into_iter()
            .map(|record| self.load(record).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let now = self.clock.now();
        let published: Vec<_> = keys
            .iter()
            .filter(|k| {
                k.record.published_at <= now && k.record.expires_at.is_none_or(|at| at > now)
            })
            .map(|k| k.record.public_jwk.clone())
            .collect();
        let jwks = serde_json::to_vec(&json!({ "keys": published })).expect("JSON of JSON values");
        let etag = format!(
            "\"{}\"",
            URL_SAFE_NO_PAD.encode(&digest(&SHA256, &jwks).as_ref()[..16])
        );
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(KeySet {
            keys,
            revoked,
            jwks,
            etag,
        });
        Ok(())
    }

    /// Periodic upkeep: reload, rotate when the schedule says so, drop expired keys.
    pub async fn maintain(&self) -> Result<(), KeyError> {
        self.refresh().await?;
        let now = self.clock.now();
        if self.rotation_due(now) {
            match self.rotate().await {
                Ok(rotation) => {
                    tracing::info!(kid = %rotation.kid, activates_at = %rotation.activates_at, "scheduled key rotation")
                }
                // Another process rotated first: that is the expected race, not an error.
                Err(KeyError::Conflict | KeyError::RotationPending { .. }) => {}
                Err(err) => return Err(err),
            }
        }
        let dropped = self.store.delete_expired_signing_keys(now).await?;
        if dropped > 0 {
            tracing::info!(dropped, "expired signing keys removed");
            self.refresh().await?;
        }
        Ok(())
    }

    fn rotation_due(&self, now: OffsetDateTime) -> bool {
        if self.policy.rotation_interval.is_zero() {
            return false;
        }
        let set = self.snapshot();
        let Some(newest) = set.keys.last() else {
            return false;
        };
        // Start publishing the next key `publish_lead` before the newest one has signed for
        // a whole interval, so the switch happens on schedule.
        let due = newest.record.activates_at + self.policy.rotation_interval
            - self.policy.publish_lead.min(self.policy.rotation_interval);
        newest.record.activates_at <= now && due <= now
    }

    /// Publishes a new generated key that starts signing after the publish lead.
    pub async fn rotate(&self) -> Result<Rotation, KeyError> {
        self.add_key(material::generate_pkcs8(), "generated").await
    }

    /// Imports a PKCS#8 PEM key: it becomes the next key (or the first one). Importing a
    /// key already in the set does nothing.
    pub async fn import_pem(&self, pem: &str) -> Result<Option<Rotation>, KeyError> {
        let pkcs8 = material::pkcs8_from_pem(pem)?;
        let (x, y) = material::coordinates(&material::key_pair(&pkcs8)?);
        let kid = material::thumbprint(&x, &y);
        let set = self.snapshot();
        if set.revoked.iter().any(|k| k.kid == kid) {
            return Err(KeyError::Revoked { kid });
        }
        if set.keys.iter().any(|k| k.kid == kid) {
            return Ok(None);
        }
        self.add_key(pkcs8, "imported").await.map(Some)
    }

    async fn add_key(&self, pkcs8: Vec<u8>, origin: &str) -> Result<Rotation, KeyError> {
        self.refresh().await?;
        let now = self.clock.now();
        let set = self.snapshot();
        let newest = set.keys.last();
        if let Some(newest) = newest.filter(|k| k.record.activates_at > now) {
            return Err(KeyError::RotationPending {
                kid: newest.kid.clone(),
                activates_at: newest.record.activates_at,
            });
        }
        // The first key signs at once: no verifier can hold an older JWKS yet.
        let activates_at = match newest {
            None => now,
            Some(_) => now + self.policy.publish_lead,
        };
        let key = self.new_record(pkcs8, origin, now, activates_at)?;
        let kid = key.kid.clone();
        let insertion = KeyInsertion {
            expected_newest: newest.map(|k| k.kid.clone()),
            retire_previous: newest
                .map(|_| (activates_at, activates_at + self.policy.retired_kept_for)),
            key,
        };
        if !self.store.insert_signing_key(&insertion).await? {
            self.refresh().await?;
            return Err(KeyError::Conflict);
        }
        self.refresh().await?;
        Ok(Rotation { kid, activates_at })
    }

    /// The row of a new key, published at `now`, its private key sealed under the
    /// key-encryption key (in clear only when the operator allowed it).
    fn new_record(
        &self,
        pkcs8: Vec<u8>,
        origin: &str,
        now: OffsetDateTime,
        activates_at: OffsetDateTime,
    ) -> Result<KeyRecord, KeyError> {
        let pair = material::key_pair(&pkcs8)?;
        let (x, y) = material::coordinates(&pair);
        let kid = material::thumbprint(&x, &y);
        let (private_key, encryption) = match &self.policy.encryption_key {
            Some(key) => (sealing::seal(key, kid.as_bytes(), &pkcs8), "aes-256-gcm"),
            None => (pkcs8, "none"),
        };
        Ok(KeyRecord {
            public_jwk: material::public_jwk(&kid, &x, &y),
            kid,
            private_key,
            encryption: encryption.into(),
            origin: origin.into(),
            created_at: now,
            published_at: now,
            activates_at,
            retires_at: None,
            expires_at: None,
            revoked_at: None,
        })
    }

    fn load(&self, record: KeyRecord) -> Result<SigningKey, KeyError> {
        let kid = record.kid.clone();
        let pkcs8 = match (record.encryption.as_str(), &self.policy.encryption_key) {
            ("none", key) => {
                if key.is_some() {
                    tracing::warn!(%kid, "signing key is stored unencrypted; rotate to replace it with an encrypted one");
                }
                record.private_key.clone()
            }
            ("aes-256-gcm", Some(key)) => sealing::open(key, kid.as_bytes(), &record.private_key)
                .ok_or_else(|| KeyError::Decrypt {
                kid: kid.clone(),
                kek: self.policy.key_source.clone(),
            })?,
            ("aes-256-gcm", None) => return Err(KeyError::EncryptionKeyMissing { kid }),
            (other, _) => {
                return Err(KeyError::UnknownEncryption {
                    kid,
                    encryption: other.into(),
                });
            }
        };
        let pair = material::key_pair(&pkcs8)?;
        let (x, y) = material::coordinates(&pair);
        let decoding = DecodingKey::from_ec_components(&x, &y)
            .map_err(|err| KeyError::Import(format!("key {kid}: {err}")))?;
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": kid });
        Ok(SigningKey {
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            kid,
            record,
            pair,
            decoding,
        })
    }

    /// Runs [`KeyService::maintain`] every [`KEY_REFRESH_PERIOD`], and in between looks
    /// for revocations every [`REVOCATION_POLL_PERIOD`], until the process ends.
    pub fn spawn_maintenance(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let service = Arc::clone(self);
        let polls_per_refresh =
            (KEY_REFRESH_PERIOD.as_secs() / REVOCATION_POLL_PERIOD.as_secs()).max(1);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(REVOCATION_POLL_PERIOD);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            let mut ticks = 0u64;
            loop {
                interval.tick().await;
                ticks += 1;
                if ticks.is_multiple_of(polls_per_refresh) {
                    if let Err(err) = service.maintain().await {
                        tracing::warn!(error = %err, "key maintenance failed; keeping the current key set");
                    }
                } else if let Err(err) = service.reload_if_revoked().await {
                    // Maintenance reports a lost database; this poll only says it missed one.
                    tracing::debug!(error = %err, "revocation poll failed");
                }
            }
        })
    }
}
