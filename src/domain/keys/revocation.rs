//! Emergency revocation of a signing key whose private half leaked (or may have).
//!
//! Rotation cannot answer a leak: the next key signs only after the publish lead and the old
//! one keeps verifying until its tokens expire. A revocation, in one transaction:
//! - marks the key revoked and erases its private key, so it never signs again, never
//!   verifies a token at Tessera again and never returns to the JWKS (the row stays as a
//!   tombstone, so the key cannot be imported again either);
//! - if it was the key signing now, inserts a new key that is published and signs at once.
//!   Skipping the publish lead is the price of the emergency: a verifier that does not know
//!   the new `kid` yet must refetch the JWKS (the usual libraries do so on an unknown kid);
//! - records a `signing-key-revoked` security event.
//!
//! Clients whose access tokens were signed by the revoked key get 401 and refresh: refresh
//! tokens are opaque and kept in the database, so they do not depend on any signing key.
//!
//! How soon: the process that revokes applies it before answering; every other process
//! polls for revocations every [`REVOCATION_POLL_PERIOD`] (one small query) and reloads
//! the key set when there is a new one, so within that period plus a reload. Verifiers
//! outside Tessera that cached the JWKS keep accepting the key until their cache expires
//! (`TESSERA_JWKS_MAX_AGE`) unless they refetch. Revoking a revoked key changes nothing and
//! answers as the first time did (idempotent, for scripts that retry).

use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;

use super::{KeyError, KeyService, material};
use crate::store::{KeyRevocation, RevocationOutcome, SecurityEventRecord};

/// How often each process looks for keys revoked by another process.
pub const REVOCATION_POLL_PERIOD: Duration = Duration::from_secs(5);

/// The outcome of a revocation.
#[derive(Debug)]
pub struct Revocation {
    pub kid: String,
    pub revoked_at: OffsetDateTime,
    /// The key that signs from now on.
    pub signing_kid: Option<String>,
    /// The key was revoked before; nothing changed.
    pub already_revoked: bool,
}

impl KeyService {
    /// Revokes `kid` at once (see the module documentation) and records `event`, a
    /// `signing-key-revoked` event the caller made with its actor, to which `kid` and
    /// `signingKid` are added.
    pub async fn revoke(
        &self,
        kid: &str,
        mut event: SecurityEventRecord,
    ) -> Result<Revocation, KeyError> {
        self.refresh().await?;
        let now = self.clock.now();
        let set = self.snapshot();
        if let Some(record) = set.revoked.iter().find(|r| r.kid == kid) {
            return Ok(self.already_revoked(kid, record.revoked_at.unwrap_or(now)));
        }
        let key = set
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(KeyError::NotFound)?;
        let signing = set.signing_key(now).map(|k| k.kid.clone());
        let replacement = if signing.as_deref() == Some(kid) {
            let mut record = self.new_record(material::generate_pkcs8(), "generated", now, now)?;
            // A key already published to come next still takes over at its time, retiring
            // the new one as it would have retired the revoked one.
            if let Some(next) = set.keys.iter().find(|k| k.record.activates_at > now) {
                record.retires_at = Some(next.record.activates_at);
                record.expires_at = Some(next.record.activates_at + self.policy.retired_kept_for);
            }
            Some(record)
        } else {
            None
        };
        // Revoking a key still to come: the key it was to retire must sign on, unretired,
        // or the key set would run out of signing keys when that one expires.
        let unretire = (key.record.activates_at > now)
            .then(|| {
                set.keys
                    .iter()
                    .find(|k| k.kid != kid && k.record.retires_at == Some(key.record.activates_at))
                    .map(|k| k.kid.clone())
            })
            .flatten();
        let signing_kid = replacement.as_ref().map(|r| r.kid.clone()).or(signing);
        event.detail["kid"] = json!(kid);
        event.detail["signingKid"] = json!(signing_kid);
        let revocation = KeyRevocation {
            kid: kid.to_owned(),
            revoked_at: now,
            replacement,
            unretire,
            event,
        };
        let outcome = self.store.revoke_signing_key(&revocation).await?;
        self.refresh().await?;
        match outcome {
            RevocationOutcome::Revoked => {
                tracing::warn!(%kid, signing_kid = signing_kid.as_deref().unwrap_or("none"), "signing key revoked");
                Ok(Revocation {
                    kid: kid.to_owned(),
                    revoked_at: now,
                    signing_kid,
                    already_revoked: false,
                })
            }
            // Another process revoked it between our reload and our transaction.
            RevocationOutcome::AlreadyRevoked(at) => Ok(self.already_revoked(kid, at)),
            RevocationOutcome::NotFound => Err(KeyError::NotFound),
        }
    }

    fn already_revoked(&self, kid: &str, revoked_at: OffsetDateTime) -> Revocation {
        Revocation {
            kid: kid.to_owned(),
            revoked_at,
            signing_kid: self
                .snapshot()
                .signing_key(self.clock.now())
                .map(|k| k.kid.clone()),
            already_revoked: true,
        }
    }

    /// Reloads the key set if the database names a revoked key this process does not know
    /// as revoked yet; true if it did. Cheap enough to run every few seconds.
    pub async fn reload_if_revoked(&self) -> Result<bool, KeyError> {
        let revoked = self.store.revoked_signing_keys().await?;
        let set = self.snapshot();
        let news = revoked
            .iter()
            .any(|kid| !set.revoked.iter().any(|known| &known.kid == kid));
        if news {
            self.refresh().await?;
            tracing::info!("a signing key was revoked elsewhere; key set reloaded");
        }
        Ok(news)
    }
}
