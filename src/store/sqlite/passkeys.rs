//! Passkeys, SQLite flavour (the domain's `passkeys` module states the rules; the schema is
//! migration 0008).

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use sqlx::{Row, Sqlite, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::events::insert_event;
use super::users::{email_conflict, insert_user_row};
use super::{SqliteStore, optional_time_at, time_at};
use crate::store::{
    CeremonyRecord, PasskeyRecord, PasskeyRemoval, PasskeyStore, PasskeyUse, SecurityEventRecord,
    StoreError, StoreResult, UserRecord, to_micros,
};

/// The name Postgres gives the unique constraint (SQLite names none).
const CREDENTIAL_TAKEN: &str = "webauthn_credentials_credential_id_key";

fn credential_conflict(err: sqlx::Error) -> StoreError {
    match StoreError::from(err) {
        StoreError::Conflict(_) => StoreError::Conflict(CREDENTIAL_TAKEN.into()),
        other => other,
    }
}

fn passkey_from_row(row: &SqliteRow) -> sqlx::Result<PasskeyRecord> {
    Ok(PasskeyRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        credential_id: row.try_get("credential_id")?,
        passkey: row.try_get::<Json<serde_json::Value>, _>("passkey")?.0,
        counter: row.try_get("counter")?,
        backup_eligible: row.try_get("backup_eligible")?,
        backup_state: row.try_get("backup_state")?,
        transports: row.try_get::<Json<Vec<String>>, _>("transports")?.0,
        nickname: row.try_get("nickname")?,
        created_at: time_at(row, "created_at")?,
        last_used_at: optional_time_at(row, "last_used_at")?,
    })
}

fn ceremony_from_row(row: &SqliteRow) -> sqlx::Result<CeremonyRecord> {
    Ok(CeremonyRecord {
        challenge_hash: row.try_get("challenge_hash")?,
        purpose: row.try_get("purpose")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        state: row.try_get::<Json<serde_json::Value>, _>("state")?.0,
        payload: row.try_get::<Json<serde_json::Value>, _>("payload")?.0,
        created_at: time_at(row, "created_at")?,
        expires_at: time_at(row, "expires_at")?,
    })
}

async fn insert_passkey_row(
    tx: &mut Transaction<'_, Sqlite>,
    passkey: &PasskeyRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO webauthn_credentials (id, user_id, credential_id, passkey, counter,
             backup_eligible, backup_state, transports, nickname, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(passkey.id)
    .bind(passkey.user_id)
    .bind(&passkey.credential_id)
    .bind(Json(&passkey.passkey))
    .bind(passkey.counter)
    .bind(passkey.backup_eligible)
    .bind(passkey.backup_state)
    .bind(Json(&passkey.transports))
    .bind(&passkey.nickname)
    .bind(to_micros(passkey.created_at))
    .execute(&mut **tx)
    .await
    .map_err(credential_conflict)?;
    Ok(())
}

#[async_trait]
impl PasskeyStore for SqliteStore {
    async fn insert_ceremony(&self, ceremony: &CeremonyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (challenge_hash, purpose, user_id, session_id, state,
                 payload, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&ceremony.challenge_hash)
        .bind(&ceremony.purpose)
        .bind(ceremony.user_id)
        .bind(ceremony.session_id)
        .bind(Json(&ceremony.state))
        .bind(Json(&ceremony.payload))
        .bind(to_micros(ceremony.created_at))
        .bind(to_micros(ceremony.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        challenge_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<CeremonyRecord>> {
        let row =
            sqlx::query("DELETE FROM webauthn_ceremonies WHERE challenge_hash = ?1 RETURNING *")
                .bind(challenge_hash)
                .fetch_optional(&self.pool)
                .await?;
        let ceremony = row.as_ref().map(ceremony_from_row).transpose()?;
        Ok(ceremony.filter(|c| c.expires_at > now))
    }

    async fn passkeys_of(&self, user_id: Uuid) -> StoreResult<Vec<PasskeyRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM webauthn_credentials WHERE user_id = ?1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(passkey_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<PasskeyRecord>> {
        let row = sqlx::query("SELECT * FROM webauthn_credentials WHERE credential_id = ?1")
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(passkey_from_row).transpose()?)
    }

    async fn insert_passkey(
        &self,
        passkey: &PasskeyRecord,
        event: &SecurityEventRecord,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_passkey_row(&mut tx, passkey).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_user_with_passkey(
        &self,
        user: &UserRecord,
        passkey: &PasskeyRecord,
        event: &SecurityEventRecord,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_user_row(&mut *tx, user)
            .await
            .map_err(email_conflict)?;
        insert_passkey_row(&mut tx, passkey).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_passkey_use(&self, id: Uuid, used: &PasskeyUse) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webauthn_credentials SET counter = ?2, backup_eligible = ?3,
                 backup_state = ?4, passkey = ?5, last_used_at = ?6
             WHERE id = ?1 AND (counter < ?2 OR (?2 = 0 AND counter = 0))",
        )
        .bind(id)
        .bind(used.counter)
        .bind(used.backup_eligible)
        .bind(used.backup_state)
        .bind(Json(&used.passkey))
        .bind(to_micros(used.now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, nickname: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webauthn_credentials SET nickname = ?3 WHERE id = ?2 AND user_id = ?1",
        )
        .bind(user_id)
        .bind(id)
        .bind(nickname)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_passkey(
        &self,
        user_id: Uuid,
        id: Uuid,
        event: &SecurityEventRecord,
    ) -> StoreResult<PasskeyRemoval> {
        // BEGIN IMMEDIATE: no other write runs between the count and the delete.
        let mut tx = self.write_tx().await?;
        let Some(user) = sqlx::query("SELECT password_hash FROM users WHERE id = ?1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(PasskeyRemoval::NotFound);
        };
        let has_password = user
            .try_get::<Option<String>, _>("password_hash")?
            .is_some();
        // Other ways to sign in: the other passkeys, and identities at providers.
        let others: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM webauthn_credentials WHERE user_id = ?1 AND id <> ?2)
                  + (SELECT count(*) FROM user_providers WHERE user_id = ?1)",
        )
        .bind(user_id)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let exists =
            sqlx::query("SELECT 1 FROM webauthn_credentials WHERE id = ?1 AND user_id = ?2")
                .bind(id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if !exists {
            return Ok(PasskeyRemoval::NotFound);
        }
        if !has_password && others == 0 {
            return Ok(PasskeyRemoval::LastSignInMethod);
        }
        sqlx::query("DELETE FROM webauthn_credentials WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(PasskeyRemoval::Removed)
    }

    async fn delete_passkeys_of(&self, user_id: Uuid) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM webauthn_credentials WHERE user_id = ?1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn prune_ceremonies(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at <= ?1")
            .bind(to_micros(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
