//! Identities at providers and provider flows, SQLite flavour (the domain's `providers`
//! module states the rules; the schema is migration 0009).

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
    IdentityRecord, IdentityRemoval, ProviderFlowRecord, ProviderStore, SecurityEventRecord,
    StoreError, StoreResult, UserRecord, to_micros,
};

/// The names Postgres gives the unique constraints; SQLite names none, only the columns
/// ("UNIQUE constraint failed: user_providers.provider, user_providers.subject").
fn identity_conflict(err: sqlx::Error) -> StoreError {
    let subject_taken = err.to_string().contains("user_providers.subject");
    match StoreError::from(err) {
        StoreError::Conflict(_) if subject_taken => {
            StoreError::Conflict("user_providers_provider_subject_key".into())
        }
        StoreError::Conflict(_) => StoreError::Conflict("user_providers_user_provider_key".into()),
        other => other,
    }
}

fn identity_from_row(row: &SqliteRow) -> sqlx::Result<IdentityRecord> {
    Ok(IdentityRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        provider: row.try_get("provider")?,
        subject: row.try_get("subject")?,
        email: row.try_get("email")?,
        created_at: time_at(row, "created_at")?,
        last_used_at: optional_time_at(row, "last_used_at")?,
    })
}

fn flow_from_row(row: &SqliteRow) -> sqlx::Result<ProviderFlowRecord> {
    Ok(ProviderFlowRecord {
        state_hash: row.try_get("state_hash")?,
        provider: row.try_get("provider")?,
        browser_hash: row.try_get("browser_hash")?,
        nonce: row.try_get("nonce")?,
        pkce_verifier: row.try_get("pkce_verifier")?,
        redirect_to: row.try_get("redirect_to")?,
        code_challenge: row.try_get("code_challenge")?,
        link_user_id: row.try_get("link_user_id")?,
        payload: row.try_get::<Json<serde_json::Value>, _>("payload")?.0,
        created_at: time_at(row, "created_at")?,
        expires_at: time_at(row, "expires_at")?,
    })
}

async fn insert_identity_row(
    tx: &mut Transaction<'_, Sqlite>,
    identity: &IdentityRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO user_providers (id, user_id, provider, subject, email, created_at,
             last_used_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(identity.id)
    .bind(identity.user_id)
    .bind(&identity.provider)
    .bind(&identity.subject)
    .bind(&identity.email)
    .bind(to_micros(identity.created_at))
    .bind(identity.last_used_at.map(to_micros))
    .execute(&mut **tx)
    .await
    .map_err(identity_conflict)?;
    Ok(())
}

#[async_trait]
impl ProviderStore for SqliteStore {
    async fn insert_provider_flow(&self, flow: &ProviderFlowRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO provider_flows (state_hash, provider, browser_hash, nonce, pkce_verifier,
                 redirect_to, code_challenge, link_user_id, payload, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(&flow.state_hash)
        .bind(&flow.provider)
        .bind(&flow.browser_hash)
        .bind(&flow.nonce)
        .bind(&flow.pkce_verifier)
        .bind(&flow.redirect_to)
        .bind(&flow.code_challenge)
        .bind(flow.link_user_id)
        .bind(Json(&flow.payload))
        .bind(to_micros(flow.created_at))
        .bind(to_micros(flow.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_provider_flow(
        &self,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<ProviderFlowRecord>> {
        let row = sqlx::query("DELETE FROM provider_flows WHERE state_hash = ?1 RETURNING *")
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await?;
        let flow = row.as_ref().map(flow_from_row).transpose()?;
        Ok(flow.filter(|f| f.expires_at > now))
    }

    async fn identity(&self, provider: &str, subject: &str) -> StoreResult<Option<IdentityRecord>> {
        let row = sqlx::query("SELECT * FROM user_providers WHERE provider = ?1 AND subject = ?2")
            .bind(provider)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(identity_from_row).transpose()?)
    }

    async fn identities_of(&self, user_id: Uuid) -> StoreResult<Vec<IdentityRecord>> {
        let rows =
            sqlx::query("SELECT * FROM user_providers WHERE user_id = ?1 ORDER BY created_at, id")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(identity_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    async fn link_identity(
        &self,
        identity: &IdentityRecord,
        event: &SecurityEventRecord,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_identity_row(&mut tx, identity).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_user_with_identity(
        &self,
        user: &UserRecord,
        identity: &IdentityRecord,
        event: &SecurityEventRecord,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_user_row(&mut *tx, user)
            .await
            .map_err(email_conflict)?;
        insert_identity_row(&mut tx, identity).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_identity_use(
        &self,
        id: Uuid,
        email: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE user_providers SET email = ?2, last_used_at = ?3 WHERE id = ?1")
            .bind(id)
            .bind(email)
            .bind(to_micros(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn unlink_identity(
        &self,
        user_id: Uuid,
        provider: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<IdentityRemoval> {
        // BEGIN IMMEDIATE: no other write runs between the count and the delete.
        let mut tx = self.write_tx().await?;
        let Some(user) = sqlx::query("SELECT password_hash FROM users WHERE id = ?1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(IdentityRemoval::NotFound);
        };
        let has_password = user
            .try_get::<Option<String>, _>("password_hash")?
            .is_some();
        let (linked, others): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM user_providers WHERE user_id = ?1 AND provider = ?2),
                    (SELECT count(*) FROM user_providers WHERE user_id = ?1 AND provider <> ?2)
                        + (SELECT count(*) FROM webauthn_credentials WHERE user_id = ?1)",
        )
        .bind(user_id)
        .bind(provider)
        .fetch_one(&mut *tx)
        .await?;
        if linked == 0 {
            return Ok(IdentityRemoval::NotFound);
        }
        if !has_password && others == 0 {
            return Ok(IdentityRemoval::LastSignInMethod);
        }
        sqlx::query("DELETE FROM user_providers WHERE user_id = ?1 AND provider = ?2")
            .bind(user_id)
            .bind(provider)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(IdentityRemoval::Removed)
    }

    async fn delete_identities_of(&self, user_id: Uuid) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM user_providers WHERE user_id = ?1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn prune_provider_flows(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM provider_flows WHERE expires_at <= ?1")
            .bind(to_micros(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
