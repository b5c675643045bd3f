//! Rate-limit counters, shared by every replica.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreResult;

/// Fixed-window rate-limit counters kept in the database, so that every replica counts
/// the same hits. Part of [`Store`](super::Store).
#[async_trait]
pub trait LimitStore: Send + Sync + 'static {
    /// The hits of a rate-limit counter in its current window (started after `window_start`).
    async fn rate_limit_hits(
        &self,
        key: &str,
        window_start: OffsetDateTime,
    ) -> StoreResult<Option<(i64, OffsetDateTime)>>;
    /// Counts one hit: a window older than `window_start` starts over at `now`. Returns the
    /// hits and the start of the window they belong to. One statement, so concurrent hits
    /// from several replicas all count.
    async fn hit_rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        window_start: OffsetDateTime,
    ) -> StoreResult<(i64, OffsetDateTime)>;
}
