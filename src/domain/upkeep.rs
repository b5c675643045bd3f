//! Background upkeep of the database, in small batches so that no long transaction ever
//! competes with sign-ins and refreshes, and safe with several replicas doing it at once
//! (on Postgres each batch takes its rows with `FOR UPDATE SKIP LOCKED`):
//! - sessions that ended (revoked or expired) a week ago go, with their refresh tokens;
//!   until then a rotated token stays, so its reuse is still detected;
//! - the sealed successor of a rotated token is forgotten once the grace window is over;
//! - tickets a day past their expiry go;
//! - security events older than `TESSERA_EVENT_RETENTION` go;
//! - rate-limit counters whose window is over go (one row per address ever tried);
//! - anonymous users whose last session ended `TESSERA_ANONYMOUS_USER_RETENTION` ago go,
//!   with their sessions and tickets;
//! - personal access tokens that expired or were revoked a week ago go (a week, like ended
//!   sessions, so that an administrator looking into an incident still finds them);
//! - passkey ceremonies begun and never finished go once their challenge has expired.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{RateLimits, RetentionConfig, SessionConfig};
use crate::store::{Store, StoreResult};
use crate::support::clock::Clock;

/// Rows per statement.
pub const BATCH: i64 = 1000;
/// How often the upkeep runs.
pub const PERIOD: Duration = Duration::from_secs(600);
/// How long an ended session (and its tokens) is kept, for administrators to see.
pub const ENDED_SESSIONS_KEPT: Duration = Duration::from_secs(7 * 86_400);
/// How long an expired or revoked personal access token is kept.
pub const ENDED_PATS_KEPT: Duration = Duration::from_secs(7 * 86_400);
/// How long an expired ticket is kept.
pub const EXPIRED_TICKETS_KEPT: Duration = Duration::from_secs(86_400);

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Security events (`TESSERA_EVENT_RETENTION`; zero keeps them).
    pub events: Duration,
    /// The refresh grace window: sealed successors are needed that long.
    pub grace: Duration,
    /// Anonymous users after their last session ended (zero keeps them).
    pub anonymous_users: Duration,
    /// The longest rate-limit window counted in the database (failed sign-ins).
    pub rate_limit_window: Duration,
}

impl Retention {
    /// The retention of this configuration.
    pub fn of(retention: &RetentionConfig, sessions: &SessionConfig, limits: &RateLimits) -> Self {
        Self {
            events: retention.events,
            grace: sessions.refresh_reuse_grace,
            anonymous_users: retention.anonymous_users,
            rate_limit_window: limits
                .failed_signins_per_account
                .map_or(Duration::from_secs(3600), |(_, window)| window),
        }
    }
}

/// What one run removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub sessions: u64,
    pub sealed_successors: u64,
    pub tickets: u64,
    pub events: u64,
    pub rate_limits: u64,
    pub anonymous_users: u64,
    pub pats: u64,
    pub passkey_ceremonies: u64,
    pub provider_flows: u64,
    pub oauth2_requests: u64,
}

impl Report {
    /// Each count with the `kind` label of `tessera_cleanup_removed_total`.
    pub fn by_kind(&self) -> [(&'static str, u64); 10] {
        [
            ("sessions", self.sessions),
            ("sealed_successors", self.sealed_successors),
            ("tickets", self.tickets),
            ("events", self.events),
            ("rate_limits", self.rate_limits),
            ("anonymous_users", self.anonymous_users),
            ("pats", self.pats),
            ("passkey_ceremonies", self.passkey_ceremonies),
            ("provider_flows", self.provider_flows),
            ("oauth2_requests", self.oauth2_requests),
        ]
    }
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
    retention: &Retention,
) -> StoreResult<Report> {
    let now = clock.now();
    let anonymous_users = if retention.anonymous_users.is_zero() {
        0
    } else {
        let ended_before = now - retention.anonymous_users;
        in_batches(|| store.prune_anonymous_users(ended_before, BATCH)).await?
    };
    Ok(Report {
        sessions: in_batches(|| store.prune_sessions(now - ENDED_SESSIONS_KEPT, BATCH)).await?,
        sealed_successors: in_batches(|| {
            store.forget_sealed_successors(now - retention.grace, BATCH)
        })
        .await?,
        tickets: in_batches(|| store.prune_tickets(now - EXPIRED_TICKETS_KEPT, BATCH)).await?,
        events: prune_events(store, clock, retention.events).await?,
        rate_limits: in_batches(|| {
            store.prune_rate_limits(now - retention.rate_limit_window, BATCH)
        })
        .await?,
        anonymous_users,
        pats: in_batches(|| store.prune_pats(now - ENDED_PATS_KEPT, BATCH)).await?,
        // Few rows (each lives `TESSERA_WEBAUTHN_TIMEOUT`, and the routes that make them
        // are rate-limited per address): one statement.
        passkey_ceremonies: store.prune_ceremonies(now).await?,
        // The same for flows at providers (each lives ten minutes).
        provider_flows: store.prune_provider_flows(now).await?,
        // Authorization requests that were never approved or whose code was never
        // redeemed (minutes), and redeemed ones after a day: a code presented again within
        // the day is still recognised as reused and revokes its grant.
        oauth2_requests: store
            .prune_authorization_requests(now, now - time::Duration::days(1))
            .await?,
    })
}

/// Runs the upkeep every [`PERIOD`] until the process ends.
pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    retention: Retention,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(PERIOD);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once: skip it, so start-up does no bulk deletes.
        interval.tick().await;
        loop {
            interval.tick().await;
            match run_once(store.as_ref(), clock.as_ref(), &retention).await {
                Ok(report) if report == Report::default() => {}
                Ok(report) => {
                    crate::support::metrics::cleaned(&report.by_kind());
                    tracing::info!(?report, "database upkeep");
                }
                Err(err) => tracing::warn!(error = %err, "database upkeep failed"),
            }
        }
    })
}
