//! Signing keys and server secrets, Postgres flavour: the key set and its rotation, sealing a key
//! stored in clear, and emergency revocation (see `keys::revocation` and migration 0002).

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;

use super::PgStore;
use super::events::insert_event;
use crate::store::{
    KeyInsertion, KeyRecord, KeyRevocation, KeyStore, RevocationOutcome, StoreResult,
};

fn key_from_row(row: &PgRow) -> sqlx::Result<KeyRecord> {
    Ok(KeyRecord {
        kid: row.try_get("kid")?,
        public_jwk: row.try_get("public_jwk")?,
        private_key: row.try_get("private_key")?,
        encryption: row.try_get("encryption")?,
        origin: row.try_get("origin")?,
        created_at: row.try_get("created_at")?,
        published_at: row.try_get("published_at")?,
        activates_at: row.try_get("activates_at")?,
        retires_at: row.try_get("retires_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

#[async_trait]
impl KeyStore for PgStore {
    async fn signing_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY activates_at, created_at")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(key_from_row).collect::<sqlx::Result<_>>()?)
    }

    async fn insert_signing_key(&self, insertion: &KeyInsertion) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // Readers (JWKS refresh, signing) are not blocked; concurrent writers wait here.
        sqlx::query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let newest: Option<String> = sqlx::query_scalar(
            "SELECT kid FROM signing_keys WHERE revoked_at IS NULL
             ORDER BY activates_at DESC, created_at DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        if newest != insertion.expected_newest {
            return Ok(false);
        }
        let key = &insertion.key;
        let inserted = sqlx::query(
            "INSERT INTO signing_keys (kid, public_jwk, private_key, encryption, origin,
                 created_at, published_at, activates_at, retires_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (kid) DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.public_jwk)
        .bind(&key.private_key)
        .bind(&key.encryption)
        .bind(&key.origin)
        .bind(key.created_at)
        .bind(key.published_at)
        .bind(key.activates_at)
        .bind(key.retires_at)
        .bind(key.expires_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        if let (Some(previous), Some((retires_at, expires_at))) =
            (&newest, insertion.retire_previous)
        {
            sqlx::query("UPDATE signing_keys SET retires_at = $2, expires_at = $3 WHERE kid = $1")
                .bind(previous)
                .bind(retires_at)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn seal_signing_key(
        &self,
        kid: &str,
        sealed: &[u8],
        encryption: &str,
    ) -> StoreResult<bool> {
        let updated = sqlx::query(
            "UPDATE signing_keys SET private_key = $2, encryption = $3
             WHERE kid = $1 AND encryption = 'none'",
        )
        .bind(kid)
        .bind(sealed)
        .bind(encryption)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    async fn revoke_signing_key(
        &self,
        revocation: &KeyRevocation,
    ) -> StoreResult<RevocationOutcome> {
        let mut tx = self.pool.begin().await?;
        // Serialised with rotations, which read the newest key and insert after it.
        sqlx::query("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let revoked = sqlx::query(
            "UPDATE signing_keys SET revoked_at = $2, private_key = ''::bytea, encryption = 'erased'
             WHERE kid = $1 AND revoked_at IS NULL",
        )
        .bind(&revocation.kid)
        .bind(revocation.revoked_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revoked == 0 {
            let found: Option<Option<OffsetDateTime>> =
                sqlx::query_scalar("SELECT revoked_at FROM signing_keys WHERE kid = $1")
                    .bind(&revocation.kid)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(match found.flatten() {
                Some(at) => RevocationOutcome::AlreadyRevoked(at),
                None => RevocationOutcome::NotFound,
            });
        }
        if let Some(kid) = &revocation.unretire {
            sqlx::query(
                "UPDATE signing_keys SET retires_at = NULL, expires_at = NULL
                 WHERE kid = $1 AND revoked_at IS NULL",
            )
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(key) = &revocation.replacement {
            sqlx::query(
                "INSERT INTO signing_keys (kid, public_jwk, private_key, encryption, origin,
                     created_at, published_at, activates_at, retires_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&key.kid)
            .bind(&key.public_jwk)
            .bind(&key.private_key)
            .bind(&key.encryption)
            .bind(&key.origin)
            .bind(key.created_at)
            .bind(key.published_at)
            .bind(key.activates_at)
            .bind(key.retires_at)
            .bind(key.expires_at)
            .execute(&mut *tx)
            .await?;
        }
        insert_event(&mut tx, &revocation.event).await?;
        tx.commit().await?;
        Ok(RevocationOutcome::Revoked)
    }

    async fn revoked_signing_keys(&self) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT kid FROM signing_keys WHERE revoked_at IS NOT NULL")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn delete_expired_signing_keys(&self, now: OffsetDateTime) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM signing_keys WHERE expires_at <= $1 AND revoked_at IS NULL")
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn server_secret(
        &self,
        name: &str,
        candidate: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<u8>> {
        sqlx::query(
            "INSERT INTO server_secrets (name, secret, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT secret FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
