//! Pruning: rows whose time is over.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;

/// Deleting (or forgetting) what has ended, in small batches, for the upkeep task. Part of
/// [`Store`](super::Store).
#[async_trait]
pub trait UpkeepStore: Send + Sync + 'static {
    /// Deletes up to `batch` sessions that ended (revoked or expired) before `ended_before`,
    /// with their refresh tokens; returns how many sessions.
    async fn prune_sessions(&self, ended_before: OffsetDateTime, batch: i64) -> StoreResult<u64>;
    /// Forgets the sealed successors of up to `batch` tokens rotated before
    /// `rotated_before` (the grace window that needed them is over); returns how many.
    async fn forget_sealed_successors(
        &self,
        rotated_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64>;
    /// Deletes up to `batch` tickets that expired before `expired_before`; returns how many.
    async fn prune_tickets(&self, expired_before: OffsetDateTime, batch: i64) -> StoreResult<u64>;
    /// Deletes up to `batch` events older than `before`; returns how many.
    async fn prune_events(&self, before: OffsetDateTime, batch: i64) -> StoreResult<u64>;
    /// Deletes up to `batch` rate-limit counters whose window started before
    /// `window_started_before` (spent: the next hit starts a new window); returns how many.
    async fn prune_rate_limits(
        &self,
        window_started_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64>;
    /// Deletes up to `batch` anonymous users created before `ended_before` that have no
    /// session ending (revoked or expiring) at or after it, with what names them; returns
    /// how many.
    async fn prune_anonymous_users(
        &self,
        ended_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64>;
}
