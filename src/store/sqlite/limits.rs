//! Rate-limit counters, SQLite flavour.

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;

use super::{SqliteStore, time_at};
use crate::store::{LimitStore, StoreResult, to_micros};

#[async_trait]
impl LimitStore for SqliteStore {
    async fn rate_limit_hits(
        &self,
        key: &str,
        window_start: OffsetDateTime,
    ) -> StoreResult<Option<(i64, OffsetDateTime)>> {
        let row = sqlx::query(
            "SELECT hits, window_started_at FROM rate_limits WHERE key = ?1 AND window_started_at > ?2",
        )
        .bind(key)
        .bind(to_micros(window_start))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> sqlx::Result<_> {
                Ok((r.try_get("hits")?, time_at(&r, "window_started_at")?))
            })
            .transpose()?)
    }

    async fn hit_rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        window_start: OffsetDateTime,
    ) -> StoreResult<(i64, OffsetDateTime)> {
        let row = sqlx::query(
            "INSERT INTO rate_limits (key, window_started_at, hits) VALUES (?1, ?2, 1)
             ON CONFLICT (key) DO UPDATE SET
                 hits = CASE WHEN rate_limits.window_started_at <= ?3 THEN 1
                             ELSE rate_limits.hits + 1 END,
                 window_started_at = CASE WHEN rate_limits.window_started_at <= ?3 THEN ?2
                                          ELSE rate_limits.window_started_at END
             RETURNING hits, window_started_at",
        )
        .bind(key)
        .bind(to_micros(now))
        .bind(to_micros(window_start))
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("hits")?, time_at(&row, "window_started_at")?))
    }
}
