//! Signing keys and the server secrets every replica shares.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{KeyInsertion, KeyRecord, KeyRevocation, RevocationOutcome, StoreResult};

/// The signing key set (see the domain's `keys` module) and the shared server secrets.
/// Part of [`Store`](super::Store).
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Every signing key, oldest first.
    async fn signing_keys(&self) -> StoreResult<Vec<KeyRecord>>;
    /// Adds a key if the newest unrevoked key is still `expected_newest`; false if another
    /// process changed the key set first (or the kid exists).
    async fn insert_signing_key(&self, insertion: &KeyInsertion) -> StoreResult<bool>;
    /// Replaces a key stored in clear (`encryption = 'none'`) by its sealing; false when
    /// it is not stored in clear (any more).
    async fn seal_signing_key(
        &self,
        kid: &str,
        sealed: &[u8],
        encryption: &str,
    ) -> StoreResult<bool>;
    /// Revokes a key as [`KeyRevocation`] says, in one transaction.
    async fn revoke_signing_key(
        &self,
        revocation: &KeyRevocation,
    ) -> StoreResult<RevocationOutcome>;
    /// The kids of the revoked keys: a small query replicas poll between reloads, so that a
    /// revocation elsewhere is applied within seconds.
    async fn revoked_signing_keys(&self) -> StoreResult<Vec<String>>;
    /// Removes unrevoked keys whose `expires_at` is at or before `now` (revoked keys stay
    /// as tombstones); returns how many.
    async fn delete_expired_signing_keys(&self, now: OffsetDateTime) -> StoreResult<u64>;
    /// The server secret named `name`, shared by every replica: `candidate` is stored if
    /// there is none yet, and whichever row exists afterwards is returned (concurrent first
    /// starts agree on one).
    async fn server_secret(
        &self,
        name: &str,
        candidate: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<u8>>;
}
