//! Liveness reads and the change feed, SQLite flavour.
//!
//! SQLite has no notifications, and another process (the `tessera` CLI disabling a user)
//! may write the same file. Triggers (migration `0011_liveness_changes.sql`) append each
//! change to `liveness_changes`; the feed reads that table every [`POLL`], passes the
//! changes on and deletes what it read. One cheap query per interval, never one per
//! request: in WAL mode the read never waits for a writer, and the delete only runs when
//! there was something to delete. A poll is its own proof of sync: it sees every
//! transaction committed before it began. One server process per database file (the
//! embedded default): a second one would take changes meant for the first.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::user_from_row;
use super::{SqliteStore, optional_time_at, time_at};
use crate::store::{
    Change, Changes, LiveSession, LivenessStore, StoreResult, UserRecord, to_micros,
};

/// How often the feed reads `liveness_changes`: the delay before a change another
/// process committed reaches this one.
const POLL: Duration = Duration::from_millis(50);

#[async_trait]
impl LivenessStore for SqliteStore {
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
             WHERE s.id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2 AND NOT u.disabled",
        )
        .bind(id)
        .bind(to_micros(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> sqlx::Result<(LiveSession, UserRecord)> {
            let expires_at = time_at(&row, "session_expires_at")?;
            let absolute = optional_time_at(&row, "session_absolute_expires_at")?;
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
        self.changes.reset();
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // A failure was logged and no poll succeeded since.
        let mut failing = false;
        loop {
            ticker.tick().await;
            let started = Instant::now();
            match self.poll_changes().await {
                Ok(()) => {
                    self.changes.synced(started);
                    if failing {
                        tracing::info!(
                            "liveness poll succeeds again; sessions are answered from memory again"
                        );
                        failing = false;
                    }
                }
                Err(err) => {
                    if !failing {
                        tracing::warn!(error = %err, "liveness poll failed; sessions are checked against the database until it succeeds");
                        failing = true;
                    }
                }
            }
        }
    }
}

impl SqliteStore {
    /// Passes on every change recorded, oldest first, then deletes them. A failed delete
    /// costs nothing but a second pass over the same rows.
    async fn poll_changes(&self) -> StoreResult<()> {
        let rows = sqlx::query("SELECT seq, kind, id FROM liveness_changes ORDER BY seq")
            .fetch_all(&self.pool)
            .await?;
        let mut last = None;
        for row in &rows {
            let id: Uuid = row.try_get("id")?;
            let kind: String = row.try_get("kind")?;
            self.changes.announce(match kind.as_str() {
                "s" => Change::Session(id),
                _ => Change::User(id),
            });
            last = Some(row.try_get::<i64, _>("seq")?);
        }
        if let Some(last) = last
            && let Err(err) = sqlx::query("DELETE FROM liveness_changes WHERE seq <= ?1")
                .bind(last)
                .execute(&self.pool)
                .await
        {
            tracing::debug!(error = %err, "liveness changes not deleted; read again next time");
        }
        Ok(())
    }
}
