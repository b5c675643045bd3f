//! The security event log, SQLite flavour.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use sqlx::{Row, Sqlite, Transaction};

use super::{SqliteStore, time_at};
use crate::store::{EventFilter, EventStore, SecurityEventRecord, StoreResult, to_micros};

fn event_from_row(row: &SqliteRow) -> sqlx::Result<SecurityEventRecord> {
    Ok(SecurityEventRecord {
        occurred_at: time_at(row, "occurred_at")?,
        kind: row.try_get("kind")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        detail: row.try_get::<Json<serde_json::Value>, _>("detail")?.0,
    })
}

pub(super) async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
    event: &SecurityEventRecord,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO security_events (occurred_at, kind, user_id, session_id, ip, user_agent, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(to_micros(event.occurred_at))
    .bind(&event.kind)
    .bind(event.user_id)
    .bind(event.session_id)
    .bind(&event.ip)
    .bind(&event.user_agent)
    .bind(Json(&event.detail))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn record_event(&self, event: &SecurityEventRecord) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn search_events(
        &self,
        filter: &EventFilter,
    ) -> StoreResult<Vec<(i64, SecurityEventRecord)>> {
        let rows = sqlx::query(
            "SELECT * FROM security_events
             WHERE (?1 IS NULL OR user_id = ?1)
               AND (?2 IS NULL OR kind = ?2)
               AND (?3 IS NULL OR occurred_at >= ?3)
               AND (?4 IS NULL OR occurred_at < ?4)
               AND (?5 IS NULL OR id < ?5)
             ORDER BY id DESC LIMIT ?6",
        )
        .bind(filter.user_id)
        .bind(&filter.kind)
        .bind(filter.since.map(to_micros))
        .bind(filter.until.map(to_micros))
        .bind(filter.before_id)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| Ok((row.try_get("id")?, event_from_row(row)?)))
            .collect::<sqlx::Result<_>>()?)
    }
}
