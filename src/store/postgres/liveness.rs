//! Liveness reads and the change feed, Postgres flavour.
//!
//! Triggers (migration `0011_liveness_changes.sql`) `pg_notify` the channel
//! `tessera_liveness` with `s:<session id>` when a session is revoked or deleted and
//! `u:<user id>` when a users row is updated or deleted. Each process listens on a
//! connection of its own (`application_name` `tessera-liveness`) and passes them on.
//!
//! Whether the listener is in sync is proved, not assumed: every [`HEARTBEAT`] it sends,
//! through the pool, a ping whose payload only this listener uses, and waits for it on the
//! listener. Postgres delivers notifications in commit order, so when the ping comes back,
//! every change committed before it was sent has been passed on. The view trusts its
//! memory only while such a proof is recent; a listener that is lost, fails, or whose
//! pings stop coming back is replaced, and the view starts afresh once the new one listens.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::PgStore;
use super::users::user_from_row;
use crate::store::{Change, Changes, LiveSession, LivenessStore, StoreResult, UserRecord};

/// The channel the triggers notify (see the migration).
const CHANNEL: &str = "tessera_liveness";
/// The listener's `application_name`, so that operators (and tests) can find it in
/// `pg_stat_activity`.
const APPLICATION_NAME: &str = "tessera-liveness";
/// How often a ping is sent. The view's trust window (`domain::liveness::TRUST_WINDOW`)
/// must be several of these, so that one slow ping does not cost the cache.
const HEARTBEAT: Duration = Duration::from_millis(250);
/// A ping not back after this long means the listener is stuck: it is replaced.
const SILENCE: Duration = Duration::from_secs(2);
/// How long sending a ping may take before it counts as not sent.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// The pause between two failed attempts to listen.
const RETRY: Duration = Duration::from_millis(250);

#[async_trait]
impl LivenessStore for PgStore {
    async fn live_session(
        &self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(LiveSession, UserRecord)>> {
        // The conditions of `session_is_live`; the user comes along for the view.
        let row = sqlx::query(
            "SELECT u.*, s.expires_at AS session_expires_at,
                    s.absolute_expires_at AS session_absolute_expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND NOT u.disabled",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> sqlx::Result<(LiveSession, UserRecord)> {
            let expires_at: OffsetDateTime = row.try_get("session_expires_at")?;
            let absolute: Option<OffsetDateTime> = row.try_get("session_absolute_expires_at")?;
            let user = user_from_row(&row)?;
            let session = LiveSession {
                id,
                user_id: user.id,
                live_until: absolute.map_or(expires_at, |cap| cap.min(expires_at)),
            };
            Ok((session, user))
        })
        .transpose()
        .map_err(Into::into)
    }

    fn changes(&self) -> &Changes {
        &self.changes
    }

    async fn follow_changes(&self) {
        follow(&self.pool, &self.changes).await;
    }
}

/// Listens, passes changes on and proves the sync, reconnecting for ever.
async fn follow(pool: &PgPool, changes: &Changes) {
    // A loss was logged and no resync since: the next resync is logged too.
    let mut outage = false;
    loop {
        let listener = match listen(pool).await {
            Ok(listener) => listener,
            Err(err) => {
                if !outage {
                    tracing::warn!(error = %err, "liveness listener cannot listen; sessions are checked against the database until it can");
                    outage = true;
                }
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        // Whatever was committed while nothing listened is unknown: start afresh, now that
        // every later change will be heard.
        changes.reset();
        let reason = run(pool, listener, changes, &mut outage).await;
        changes.lost();
        tracing::warn!(%reason, "liveness listener lost; sessions are checked against the database until it resynchronises");
        outage = true;
    }
}

/// A listener on a connection of its own (a pool of one, which `PgListener` needs), named
/// [`APPLICATION_NAME`], listening on [`CHANNEL`].
async fn listen(pool: &PgPool) -> sqlx::Result<PgListener> {
    let options = (*pool.connect_options())
        .clone()
        .application_name(APPLICATION_NAME);
    let own = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&own).await?;
    // A lost connection ends this listener (`try_recv` answers `None`); `follow` makes a
    // new one, so that the view is reset after the new one listens, never before.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Serves one listener until it is lost; returns why.
async fn run(
    pool: &PgPool,
    mut listener: PgListener,
    changes: &Changes,
    outage: &mut bool,
) -> String {
    // Pings carry a token of this listener's own: each process knows its pings among every
    // replica's, and a ping sent for an earlier listener can never pass for this one's.
    let ours = format!("p:{}:", Uuid::new_v4().simple());
    let (echo, mut echoes) = mpsc::unbounded_channel::<u64>();
    // Changes are passed on in the order Postgres delivers them, and a ping of ours only
    // after everything delivered before it. This future is never cancelled while the
    // listener is kept: it ends with it.
    let receive = async {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let payload = notification.payload();
                    match payload.strip_prefix(&ours) {
                        Some(ping) => {
                            if let Ok(n) = ping.parse() {
                                let _ = echo.send(n);
                            }
                        }
                        None => apply(payload, changes),
                    }
                }
                Ok(None) => return "the connection was closed".to_owned(),
                Err(err) => return err.to_string(),
            }
        }
    };
    let heartbeat = async {
        let mut ticker = tokio::time::interval(HEARTBEAT);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Pings sent and not back yet: their number and when they were sent.
        let mut waiting: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut next = 0u64;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if waiting.front().is_some_and(|(_, sent)| sent.elapsed() > SILENCE) {
                        return format!("no heartbeat came back within {SILENCE:?}");
                    }
                    next += 1;
                    let sent = Instant::now();
                    let ping = sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(CHANNEL)
                        .bind(format!("{ours}{next}"))
                        .execute(pool);
                    match tokio::time::timeout(PING_TIMEOUT, ping).await {
                        Ok(Ok(_)) => waiting.push_back((next, sent)),
                        // Not sent: no proof this round; the view's trust runs out alone.
                        Ok(Err(err)) => tracing::debug!(error = %err, "liveness ping not sent"),
                        Err(_) => tracing::debug!("liveness ping not sent in time"),
                    }
                }
                Some(n) = echoes.recv() => {
                    while let Some(&(m, sent)) = waiting.front().filter(|(m, _)| *m <= n) {
                        waiting.pop_front();
                        if m == n {
                            changes.synced(sent);
                            if *outage {
                                tracing::info!("liveness listener resynchronised; sessions are answered from memory again");
                                *outage = false;
                            }
                        }
                    }
                }
            }
        }
    };
    tokio::select! {
        reason = receive => reason,
        reason = heartbeat => reason,
    }
}

/// Passes on `s:<uuid>` and `u:<uuid>`; anything else (another replica's ping) is not a
/// change.
fn apply(payload: &str, changes: &Changes) {
    let change = match payload.split_once(':') {
        Some(("s", id)) => Uuid::parse_str(id).ok().map(Change::Session),
        Some(("u", id)) => Uuid::parse_str(id).ok().map(Change::User),
        _ => None,
    };
    if let Some(change) = change {
        changes.announce(change);
    }
}
