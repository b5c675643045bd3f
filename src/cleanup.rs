//! Background upkeep of the database, in small batches so that no long transaction ever
//! competes with sign-ins and refreshes, and safe with several replicas doing it at once
//! (on Postgres each batch takes its rows with `FOR UPDATE SKIP LOCKED`):
//! - sessions that ended (revoked or expired) a week ago go, with their refresh tokens;
//!   until then a rotated token stays, so its reuse is still detected;
//! - the sealed successor of a rotated token is forgotten once the grace window is over;
//! - tickets a day past their expiry go;
//! - security events older than `TESSERA_EVENT_RETENTION` go.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::store::{Store, StoreResult};

/// Rows per statement.
pub const BATCH: i64 = 1000;
/// How often the upkeep runs.
pub const PERIOD: Duration = Duration::from_secs(600);
/// How long an ended session (and its tokens) is kept, for administrators to see.
pub const ENDED_SESSIONS_KEPT: Duration = Duration::from_secs(7 * 86_400);
/// How long an expired ticket is kept.
pub const EXPIRED_TICKETS_KEPT: Duration = Duration::from_secs(86_400);

/// What one run removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub sessions: u64,
    pub sealed_successors: u64,
    pub tickets: u64,
    pub events: u64,
}

/// Repeats a batch until it comes back short.
async fn in_batches<F, Fut>(mut batch: F) -> StoreResult<u64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<u64>>,
{
    let mut total = 0;
    loop {
        let done = batch().await?;
        total += done;
        if done < BATCH as u64 {
            return Ok(total);
        }
        // Let other work through between batches.
        tokio::task::yield_now().await;
    }
}

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
    in_batches(|| store.prune_events(before, BATCH)).await
}

/// One run of the whole upkeep.
pub async fn run_once(
    store: &dyn Store,
    clock: &dyn Clock,
    event_retention: Duration,
    grace: Duration,
) -> StoreResult<Report> {
    let now = clock.now();
    Ok(Report {
        sessions: in_batches(|| store.prune_sessions(now - ENDED_SESSIONS_KEPT, BATCH)).await?,
        sealed_successors: in_batches(|| store.forget_sealed_successors(now - grace, BATCH))
            .await?,
        tickets: in_batches(|| store.prune_tickets(now - EXPIRED_TICKETS_KEPT, BATCH)).await?,
        events: prune_events(store, clock, event_retention).await?,
    })
}

/// Runs the upkeep every [`PERIOD`] until the process ends.
pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    event_retention: Duration,
    grace: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(PERIOD);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once: skip it, so start-up does no bulk deletes.
        interval.tick().await;
        loop {
            interval.tick().await;
            match run_once(store.as_ref(), clock.as_ref(), event_retention, grace).await {
                Ok(report) if report == Report::default() => {}
                Ok(report) => {
                    crate::metrics::cleaned(&report);
                    tracing::info!(?report, "database upkeep");
                }
                Err(err) => tracing::warn!(error = %err, "database upkeep failed"),
            }
        }
    })
}
