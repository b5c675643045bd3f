//! Pruning what has ended, Postgres flavour.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::PgStore;
use crate::store::{StoreResult, UpkeepStore};

#[async_trait]
impl UpkeepStore for PgStore {
    async fn prune_sessions(&self, ended_before: OffsetDateTime, batch: i64) -> StoreResult<u64> {
        // SKIP LOCKED: a session being refreshed right now is left for the next batch, and
        // replicas pruning at the same time take disjoint rows.
        let ended: Vec<Uuid> = sqlx::query_scalar(
            "DELETE FROM sessions WHERE id IN (
                 SELECT id FROM sessions
                 WHERE revoked_at < $1 OR expires_at < $1
                 LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id",
        )
        .bind(ended_before)
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        for id in &ended {
            self.changes.announce(crate::store::Change::Session(*id));
        }
        Ok(ended.len() as u64)
    }

    async fn forget_sealed_successors(
        &self,
        rotated_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE refresh_tokens SET successor_sealed = NULL WHERE id IN (
                 SELECT id FROM refresh_tokens
                 WHERE successor_sealed IS NOT NULL AND rotated_at < $1
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(rotated_before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn prune_tickets(&self, expired_before: OffsetDateTime, batch: i64) -> StoreResult<u64> {
        Ok(sqlx::query(
            "DELETE FROM tickets WHERE id IN (
                 SELECT id FROM tickets WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(expired_before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn prune_rate_limits(
        &self,
        window_started_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64> {
        Ok(sqlx::query(
            "DELETE FROM rate_limits WHERE key IN (
                 SELECT key FROM rate_limits WHERE window_started_at < $1 LIMIT $2
                 FOR UPDATE SKIP LOCKED)",
        )
        .bind(window_started_before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn prune_anonymous_users(
        &self,
        ended_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64> {
        // Sessions, tickets, TOTP secrets and recovery codes go with the user (ON DELETE
        // CASCADE); its events age out with TESSERA_EVENT_RETENTION like everyone's.
        let ended: Vec<Uuid> = sqlx::query_scalar(
            "DELETE FROM users WHERE id IN (
                 SELECT u.id FROM users u
                 WHERE u.is_anonymous AND u.created_at < $1
                   AND NOT EXISTS (
                       SELECT 1 FROM sessions s
                       WHERE s.user_id = u.id AND COALESCE(s.revoked_at, s.expires_at) >= $1)
                 LIMIT $2 FOR UPDATE OF u SKIP LOCKED) RETURNING id",
        )
        .bind(ended_before)
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        for id in &ended {
            self.changes.announce(crate::store::Change::User(*id));
        }
        Ok(ended.len() as u64)
    }

    async fn prune_events(&self, before: OffsetDateTime, batch: i64) -> StoreResult<u64> {
        // Small batches keep each transaction short, so pruning never blocks sign-ins.
        Ok(sqlx::query(
            "DELETE FROM security_events WHERE id IN (
                 SELECT id FROM security_events WHERE occurred_at < $1 ORDER BY id LIMIT $2
                 FOR UPDATE SKIP LOCKED)",
        )
        .bind(before)
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
