//! Passkeys (WebAuthn): registered credentials and the ceremonies begun but not finished.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    CeremonyRecord, PasskeyRecord, PasskeyRemoval, PasskeyUse, SecurityEventRecord, StoreResult,
    UserRecord,
};

/// Passkeys and WebAuthn ceremonies. Every change that spans rows is one transaction. Part
/// of [`Store`](super::Store).
#[async_trait]
pub trait PasskeyStore: Send + Sync + 'static {
    /// Stores a ceremony an options route began.
    async fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> StoreResult<()>;
    /// Takes (deletes and returns) the ceremony of a challenge if it has not expired at
    /// `now`, in one statement: of two finishes of one ceremony, one gets it. An expired
    /// one is deleted too, and `None`.
    async fn take_ceremony(
        &self,
        challenge_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<CeremonyRecord>>;
    /// The user's passkeys, oldest first.
    async fn passkeys_of(&self, user_id: Uuid) -> StoreResult<Vec<PasskeyRecord>>;
    /// The passkey of a credential id, whoever's it is.
    async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<PasskeyRecord>>;
    /// Adds a passkey to an existing user and records `event`, in one transaction.
    /// `Conflict("webauthn_credentials_credential_id_key")` when the credential is
    /// registered already (to anyone).
    async fn insert_passkey(
        &self,
        passkey: &PasskeyRecord,
        event: &SecurityEventRecord,
    ) -> StoreResult<()>;
    /// Creates a user together with its first passkey and records `event`, in one
    /// transaction: `Conflict("users_email_key")` when the email is taken,
    /// `Conflict("webauthn_credentials_credential_id_key")` when the credential is.
    async fn insert_user_with_passkey(
        &self,
        user: &UserRecord,
        passkey: &PasskeyRecord,
        event: &SecurityEventRecord,
    ) -> StoreResult<()>;
    /// Records a successful assertion: the new counter, flags and serialised credential,
    /// and `last_used_at`, in one conditional UPDATE. `used.counter` must be above the
    /// stored counter, or both be 0 (an authenticator that keeps no counter), else nothing
    /// changes and the answer is false (a replayed or cloned authenticator; of two
    /// assertions with one count, one wins; a 0 never resets a counter that had started).
    async fn record_passkey_use(&self, id: Uuid, used: &PasskeyUse) -> StoreResult<bool>;
    /// Renames one of the user's passkeys; false when the user has no such passkey.
    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, nickname: &str) -> StoreResult<bool>;
    /// Deletes one of the user's passkeys and records `event`, in one transaction that
    /// locks the user, unless it is the account's last way to sign in (no password, no other
    /// passkey, no identity at a provider): then nothing changes.
    async fn delete_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        event: &SecurityEventRecord,
    ) -> StoreResult<PasskeyRemoval>;
    /// Deletes every passkey of the user (an unverified account claimed by the mailbox's
    /// holder); returns how many there were.
    async fn delete_passkeys_of(&self, user_id: Uuid) -> StoreResult<u64>;
    /// Deletes ceremonies that expired before `now`; returns how many.
    async fn prune_ceremonies(&self, now: OffsetDateTime) -> StoreResult<u64>;
}
