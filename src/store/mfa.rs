//! The second factor: a user's TOTP secret, its replay guard, and recovery codes.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SecurityEventRecord, StoreResult, TotpSecretRecord};

/// TOTP secrets (sealed) and recovery codes (HMAC tags), and `users.active_mfa_type`.
/// Every change that spans rows is one transaction. Part of [`Store`](super::Store).
#[async_trait]
pub trait MfaStore: Send + Sync + 'static {
    /// Stores a pending secret and the tags of its recovery codes, replacing a pending
    /// secret and any codes from before, unless the user's TOTP is enabled: then nothing
    /// changes and the answer is false (an enabled secret is never overwritten). False too
    /// for an unknown user.
    async fn put_pending_totp(
        &self,
        user_id: Uuid,
        secret_sealed: &[u8],
        recovery_hashes: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// The user's secret, pending or enabled.
    async fn totp_secret(&self, user_id: Uuid) -> StoreResult<Option<TotpSecretRecord>>;
    /// Accepts time step `step` for the user's secret in one conditional UPDATE: true only
    /// when no step, or an earlier one, was accepted before (each step is usable once, RFC
    /// 6238 section 5.2; of two concurrent uses of one step, one succeeds).
    async fn use_totp_step(&self, user_id: Uuid, step: i64) -> StoreResult<bool>;
    /// Enables TOTP: confirms the pending secret, sets `active_mfa_type = 'totp'` and
    /// records `event`, in one transaction. False (nothing changed) without a pending
    /// secret, when already enabled, or when the pending secret is no longer
    /// `secret_sealed` (the one whose code was checked: a `generate` in between replaced it).
    async fn enable_totp(
        &self,
        user_id: Uuid,
        secret_sealed: &[u8],
        now: OffsetDateTime,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool>;
    /// Removes the second factor: clears `active_mfa_type`, deletes the secret (pending or
    /// enabled) and the recovery codes, and records `event` if there was anything to
    /// remove, in one transaction. Returns whether there was.
    async fn remove_mfa(&self, user_id: Uuid, event: &SecurityEventRecord) -> StoreResult<bool>;
    /// Replaces the recovery codes of a user whose TOTP is enabled and records `event`, in
    /// one transaction; false (nothing changed) when it is not enabled.
    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        hashes: &[Vec<u8>],
        now: OffsetDateTime,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool>;
    /// Spends an unused recovery code of a user whose TOTP is enabled, in one conditional
    /// UPDATE: true once per code.
    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, user_id: Uuid) -> StoreResult<i64>;
}
