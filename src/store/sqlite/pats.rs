//! Personal access tokens, SQLite flavour (the domain's `pats` module states the rules;
//! the schema is migration 0004).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::events::insert_event;
use super::{SqliteStore, optional_time_at, time_at};
use crate::store::{PatRecord, PatStore, SecurityEventRecord, StoreResult, to_micros};

fn pat_from_row(row: &SqliteRow) -> sqlx::Result<PatRecord> {
    Ok(PatRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        hash: row.try_get("token_hash")?,
        created_at: time_at(row, "created_at")?,
        expires_at: time_at(row, "expires_at")?,
        last_used_at: optional_time_at(row, "last_used_at")?,
        revoked_at: optional_time_at(row, "revoked_at")?,
        metadata: row.try_get::<Json<serde_json::Value>, _>("metadata")?.0,
    })
}

#[async_trait]
impl PatStore for SqliteStore {
    async fn insert_pat(&self, pat: &PatRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO personal_access_tokens (id, user_id, token_hash, created_at, expires_at,
                 metadata)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(pat.id)
        .bind(pat.user_id)
        .bind(&pat.hash)
        .bind(to_micros(pat.created_at))
        .bind(to_micros(pat.expires_at))
        .bind(Json(&pat.metadata))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn use_pat(&self, hash: &[u8], now: OffsetDateTime) -> StoreResult<Option<PatRecord>> {
        let row = sqlx::query(
            "UPDATE personal_access_tokens SET last_used_at = ?2
             WHERE token_hash = ?1 AND revoked_at IS NULL AND expires_at > ?2
             RETURNING *",
        )
        .bind(hash)
        .bind(to_micros(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(pat_from_row).transpose()?)
    }

    async fn pat(&self, id: Uuid) -> StoreResult<Option<PatRecord>> {
        let row = sqlx::query("SELECT * FROM personal_access_tokens WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(pat_from_row).transpose()?)
    }

    async fn live_pats(&self, user_id: Uuid, now: OffsetDateTime) -> StoreResult<Vec<PatRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM personal_access_tokens
             WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2
             ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .bind(to_micros(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(pat_from_row).collect::<sqlx::Result<_>>()?)
    }

    async fn link_pat_session(&self, session_id: Uuid, pat_id: Uuid) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET personal_access_token_id = ?2 WHERE id = ?1")
            .bind(session_id)
            .bind(pat_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session_from_pat(&self, session_id: Uuid) -> StoreResult<bool> {
        let found: Option<bool> = sqlx::query_scalar(
            "SELECT personal_access_token_id IS NOT NULL FROM sessions WHERE id = ?1",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.unwrap_or(false))
    }

    async fn revoke_pat(
        &self,
        id: Uuid,
        user_id: Uuid,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let at = to_micros(event.occurred_at);
        let revoked = sqlx::query(
            "UPDATE personal_access_tokens SET revoked_at = ?3, revoked_reason = ?4
             WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .bind(at)
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revoked == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE sessions SET revoked_at = ?2, revoked_reason = 'pat-revoked'
             WHERE personal_access_token_id = ?1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        self.changes.announce(crate::store::Change::User(user_id));
        Ok(true)
    }

    async fn revoke_user_pats(
        &self,
        user_id: Uuid,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let at = to_micros(event.occurred_at);
        let revoked = sqlx::query(
            "UPDATE personal_access_tokens SET revoked_at = ?2, revoked_reason = ?3
             WHERE user_id = ?1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(at)
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Also the sessions of PATs that expired without being revoked.
        let sessions = sqlx::query(
            "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3
             WHERE user_id = ?1 AND personal_access_token_id IS NOT NULL AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(at)
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revoked > 0 || sessions > 0 {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        if sessions > 0 {
            self.changes.announce(crate::store::Change::User(user_id));
        }
        Ok(revoked)
    }

    async fn prune_pats(&self, ended_before: OffsetDateTime, batch: i64) -> StoreResult<u64> {
        // One writer at a time in SQLite: small batches keep each write short.
        Ok(sqlx::query(
            "DELETE FROM personal_access_tokens WHERE id IN (
                 SELECT id FROM personal_access_tokens
                 WHERE expires_at < ?1 OR revoked_at < ?1 LIMIT ?2)",
        )
        .bind(to_micros(ended_before))
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }
}
