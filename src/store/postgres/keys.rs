//! Signing-key writes other than rotation, Postgres flavour: sealing a key stored in clear,
//! and emergency revocation (see `keys::revocation` and migration 0002).

use time::OffsetDateTime;

use super::{PgStore, insert_event};
use crate::store::{KeyRevocation, RevocationOutcome, StoreResult};

impl PgStore {
    pub(super) async fn seal_key(
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

    pub(super) async fn revoke_key(
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

    pub(super) async fn revoked_kids(&self) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT kid FROM signing_keys WHERE revoked_at IS NOT NULL")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}
