//! The security event log, Postgres flavour.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};

use super::PgStore;
use crate::store::{EventFilter, EventStore, SecurityEventRecord, StoreResult};

fn event_from_row(row: &PgRow) -> sqlx::Result<SecurityEventRecord> {
    Ok(SecurityEventRecord {
        occurred_at: row.try_get("occurred_at")?,
        kind: row.try_get("kind")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        detail: row.try_get("detail")?,
    })
}

pub(super) async fn insert_event(
    tx: &mut Transaction<'_, Postgres>,
    event: &SecurityEventRecord,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO security_events (occurred_at, kind, user_id, session_id, ip, user_agent, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(event.occurred_at)
    .bind(&event.kind)
    .bind(event.user_id)
    .bind(event.session_id)
    .bind(&event.ip)
    .bind(&event.user_agent)
    .bind(&event.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl EventStore for PgStore {
    async fn record_event(&self, event: &SecurityEventRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
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
             WHERE ($1::uuid IS NULL OR user_id = $1)
               AND ($2::text IS NULL OR kind = $2)
               AND ($3::timestamptz IS NULL OR occurred_at >= $3)
               AND ($4::timestamptz IS NULL OR occurred_at < $4)
               AND ($5::bigint IS NULL OR id < $5)
             ORDER BY id DESC LIMIT $6",
        )
        .bind(filter.user_id)
        .bind(&filter.kind)
        .bind(filter.since)
        .bind(filter.until)
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
