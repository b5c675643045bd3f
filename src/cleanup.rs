//! Background upkeep of the database: old security events are pruned in small batches, so
//! that no long transaction ever competes with sign-ins and refreshes.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::store::{Store, StoreResult};

/// Rows deleted per statement.
pub const BATCH: i64 = 1000;
/// How often the upkeep runs.
pub const PERIOD: Duration = Duration::from_secs(600);

/// Deletes events older than `retention` (none when it is zero); returns how many.
pub async fn prune_events(
    store: &dyn Store,
    clock: &dyn Clock,
    retention: Duration,
) -> StoreResult<u64> {
    if retention.is_zero() {
        return Ok(0);
    }
    let before = clock.now() - retention;
    let mut total = 0;
    loop {
        let deleted = store.prune_events(before, BATCH).await?;
        total += deleted;
        if deleted < BATCH as u64 {
            return Ok(total);
        }
        // Let other work through between batches.
        tokio::task::yield_now().await;
    }
}

/// Runs the upkeep every [`PERIOD`] until the process ends.
pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    retention: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(PERIOD);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match prune_events(store.as_ref(), clock.as_ref(), retention).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "old security events pruned"),
                Err(err) => tracing::warn!(error = %err, "pruning security events failed"),
            }
        }
    })
}
