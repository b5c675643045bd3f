//! The security event log.

use async_trait::async_trait;
use uuid::Uuid;

use super::{EventFilter, SecurityEventRecord, StoreResult};

/// The security event log: append and read. Part of [`Store`](super::Store).
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends to the security event log.
    async fn record_event(&self, event: &SecurityEventRecord) -> StoreResult<()>;
    /// Events matching `filter`, newest first, with their ids (for cursors).
    async fn search_events(
        &self,
        filter: &EventFilter,
    ) -> StoreResult<Vec<(i64, SecurityEventRecord)>>;
    /// The most recent events of a user (or of everyone), newest first.
    async fn events(
        &self,
        user_id: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<SecurityEventRecord>> {
        let filter = EventFilter {
            user_id,
            limit,
            ..EventFilter::default()
        };
        Ok(self
            .search_events(&filter)
            .await?
            .into_iter()
            .map(|(_, event)| event)
            .collect())
    }
}
