//! The second factor, Postgres flavour.

use async_trait::async_trait;
use sqlx::{Postgres, Row, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::PgStore;
use super::events::insert_event;
use crate::store::{MfaStore, SecurityEventRecord, StoreResult, TotpSecretRecord};

async fn insert_codes(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
    hashes: &[Vec<u8>],
    now: OffsetDateTime,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    for hash in hashes {
        sqlx::query(
            "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl MfaStore for PgStore {
    async fn put_pending_totp(
        &self,
        user_id: Uuid,
        secret_sealed: &[u8],
        recovery_hashes: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // The user row's lock orders this against enabling and removal.
        let pending =
            sqlx::query("SELECT 1 FROM users WHERE id = $1 AND active_mfa_type IS NULL FOR UPDATE")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if !pending {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO totp_secrets (user_id, secret_sealed, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed,
                 created_at = EXCLUDED.created_at, confirmed_at = NULL, last_used_step = NULL
             WHERE totp_secrets.confirmed_at IS NULL",
        )
        .bind(user_id)
        .bind(secret_sealed)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_codes(&mut tx, user_id, recovery_hashes, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn totp_secret(&self, user_id: Uuid) -> StoreResult<Option<TotpSecretRecord>> {
        let row = sqlx::query("SELECT * FROM totp_secrets WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|row| -> sqlx::Result<TotpSecretRecord> {
                Ok(TotpSecretRecord {
                    user_id: row.try_get("user_id")?,
                    secret_sealed: row.try_get("secret_sealed")?,
                    created_at: row.try_get("created_at")?,
                    confirmed_at: row.try_get("confirmed_at")?,
                    last_used_step: row.try_get("last_used_step")?,
                })
            })
            .transpose()?)
    }

    async fn use_totp_step(&self, user_id: Uuid, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE totp_secrets SET last_used_step = $2
             WHERE user_id = $1 AND (last_used_step IS NULL OR last_used_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn enable_totp(
        &self,
        user_id: Uuid,
        secret_sealed: &[u8],
        now: OffsetDateTime,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let enabled = sqlx::query(
            "UPDATE users SET active_mfa_type = 'totp', updated_at = $2
             WHERE id = $1 AND active_mfa_type IS NULL
               AND EXISTS (SELECT 1 FROM totp_secrets
                           WHERE user_id = $1 AND secret_sealed = $3 AND confirmed_at IS NULL)",
        )
        .bind(user_id)
        .bind(now)
        .bind(secret_sealed)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !enabled {
            return Ok(false);
        }
        sqlx::query("UPDATE totp_secrets SET confirmed_at = $2 WHERE user_id = $1")
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        self.changes.announce(crate::store::Change::User(user_id));
        Ok(true)
    }

    async fn remove_mfa(&self, user_id: Uuid, event: &SecurityEventRecord) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let active = sqlx::query(
            "UPDATE users SET active_mfa_type = NULL, updated_at = $2
             WHERE id = $1 AND active_mfa_type IS NOT NULL",
        )
        .bind(user_id)
        .bind(event.occurred_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let secrets = sqlx::query("DELETE FROM totp_secrets WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let codes = sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let removed = active + secrets + codes > 0;
        if removed {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        if active > 0 {
            self.changes.announce(crate::store::Change::User(user_id));
        }
        Ok(removed)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        hashes: &[Vec<u8>],
        now: OffsetDateTime,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let active = sqlx::query(
            "SELECT 1 FROM users WHERE id = $1 AND active_mfa_type = 'totp' FOR UPDATE",
        )
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if !active {
            return Ok(false);
        }
        insert_codes(&mut tx, user_id, hashes, now).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn use_recovery_code(
        &self,
        user_id: Uuid,
        hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = $3
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL
               AND EXISTS (SELECT 1 FROM users WHERE id = $1 AND active_mfa_type = 'totp')",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn recovery_codes_left(&self, user_id: Uuid) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?)
    }
}
