//! One-time tickets and codes, SQLite flavour.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use sqlx::{Row, Sqlite};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SqliteStore, optional_time_at, time_at};
use crate::store::{StoreResult, TicketRecord, TicketStore, to_micros};

fn ticket_from_row(row: &SqliteRow) -> sqlx::Result<TicketRecord> {
    Ok(TicketRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        purpose: row.try_get("purpose")?,
        hash: row.try_get("ticket_hash")?,
        created_at: time_at(row, "created_at")?,
        expires_at: time_at(row, "expires_at")?,
        used_at: optional_time_at(row, "used_at")?,
        redirect_to: row.try_get("redirect_to")?,
        code_challenge: row.try_get("code_challenge")?,
        payload: row.try_get::<Json<serde_json::Value>, _>("payload")?.0,
    })
}

/// The INSERT of one ticket, bound (a lone insert and the email-code replacement share it).
fn insert_ticket_query(
    ticket: &TicketRecord,
) -> sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments> {
    sqlx::query(
        "INSERT INTO tickets (id, user_id, purpose, ticket_hash, created_at, expires_at,
             redirect_to, code_challenge, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(ticket.id)
    .bind(ticket.user_id)
    .bind(&ticket.purpose)
    .bind(&ticket.hash)
    .bind(to_micros(ticket.created_at))
    .bind(to_micros(ticket.expires_at))
    .bind(&ticket.redirect_to)
    .bind(&ticket.code_challenge)
    .bind(Json(&ticket.payload))
}

#[async_trait]
impl TicketStore for SqliteStore {
    async fn insert_ticket(&self, ticket: &TicketRecord) -> StoreResult<()> {
        insert_ticket_query(ticket).execute(&self.pool).await?;
        Ok(())
    }

    async fn ticket(&self, hash: &[u8]) -> StoreResult<Option<TicketRecord>> {
        let row = sqlx::query("SELECT * FROM tickets WHERE ticket_hash = ?1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(ticket_from_row).transpose()?)
    }

    async fn consume_ticket(
        &self,
        hash: &[u8],
        purpose: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>> {
        let row = sqlx::query(
            "UPDATE tickets SET used_at = ?3
             WHERE ticket_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
             RETURNING *",
        )
        .bind(hash)
        .bind(purpose)
        .bind(to_micros(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(ticket_from_row).transpose()?)
    }

    async fn replace_ticket(&self, ticket: &TicketRecord) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let spent = sqlx::query(
            "UPDATE tickets SET used_at = ?3
             WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL",
        )
        .bind(ticket.user_id)
        .bind(&ticket.purpose)
        .bind(to_micros(ticket.created_at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        insert_ticket_query(ticket).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(spent)
    }

    async fn attempt_ticket(
        &self,
        user_id: Uuid,
        purpose: &str,
        now: OffsetDateTime,
        max_attempts: i64,
    ) -> StoreResult<Option<(TicketRecord, i64)>> {
        // The conditions are repeated outside the subquery: a concurrent try that took the
        // last attempt (or a redemption) makes this one match nothing.
        let row = sqlx::query(
            "UPDATE tickets SET attempts = attempts + 1
             WHERE id = (SELECT id FROM tickets
                         WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL
                             AND expires_at > ?3
                         ORDER BY created_at DESC, id DESC LIMIT 1)
                 AND used_at IS NULL AND expires_at > ?3 AND attempts < ?4
             RETURNING *",
        )
        .bind(user_id)
        .bind(purpose)
        .bind(to_micros(now))
        .bind(max_attempts)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempts: i64 = row.try_get("attempts")?;
        Ok(Some((ticket_from_row(&row)?, attempts)))
    }
}
