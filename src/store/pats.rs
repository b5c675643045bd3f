//! Personal access tokens.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{PatRecord, SecurityEventRecord, StoreResult};

/// Personal access tokens (the domain's `pats` module states the rules), and the sessions
/// they start. Part of [`Store`](super::Store); each backend implements it in its own `pats.rs`.
#[async_trait]
pub trait PatStore: Send + Sync + 'static {
    /// Stores a new PAT (only its hash).
    async fn insert_pat(&self, pat: &PatRecord) -> StoreResult<()>;
    /// The PAT with this hash if it is unrevoked and unexpired at `now`, its `last_used_at`
    /// set to `now` in the same statement.
    async fn use_pat(&self, hash: &[u8], now: OffsetDateTime) -> StoreResult<Option<PatRecord>>;
    /// A PAT by id, whatever its state.
    async fn pat(&self, id: Uuid) -> StoreResult<Option<PatRecord>>;
    /// The user's unrevoked, unexpired PATs, newest first.
    async fn live_pats(&self, user_id: Uuid, now: OffsetDateTime) -> StoreResult<Vec<PatRecord>>;
    /// Marks a session as started with this PAT.
    async fn link_pat_session(&self, session_id: Uuid, pat_id: Uuid) -> StoreResult<()>;
    /// Whether a session was started with a PAT.
    async fn session_from_pat(&self, session_id: Uuid) -> StoreResult<bool>;
    /// Revokes one unrevoked PAT of `user_id` and ends the sessions it started, recording
    /// `event`, in one transaction; false when there was no such PAT.
    async fn revoke_pat(
        &self,
        id: Uuid,
        user_id: Uuid,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool>;
    /// Revokes every unrevoked PAT of a user and ends the sessions they started, recording
    /// `event` when there was any, in one transaction; returns how many PATs.
    async fn revoke_user_pats(
        &self,
        user_id: Uuid,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<u64>;
    /// Deletes up to `batch` PATs that expired or were revoked before `ended_before`;
    /// returns how many.
    async fn prune_pats(&self, ended_before: OffsetDateTime, batch: i64) -> StoreResult<u64>;
}
