//! The connection pool itself: which backend, how busy, whether it answers, its schema.

use async_trait::async_trait;

use super::StoreResult;

/// The database connection as a whole, for start-up, health checks, metrics and shutdown.
/// Part of [`Store`](super::Store).
#[async_trait]
pub trait DatabaseStore: Send + Sync + 'static {
    /// `"postgres"` or `"sqlite"`.
    fn backend(&self) -> &'static str;
    /// Connections open, idle, and the maximum (for metrics).
    fn pool_stats(&self) -> (u32, usize, u32);
    /// One round trip, for health checks.
    async fn ping(&self) -> StoreResult<()>;
    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> StoreResult<()>;
    /// Closes every connection (at shutdown).
    async fn close(&self);
}
