//! Identities at providers and provider flows, Postgres flavour (the domain's `providers`
//! module states the rules; the schema is migration 0009).

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::PgStore;
use super::events::insert_event;
use super::users::insert_user_row;
use crate::store::{
    IdentityRecord, IdentityRemoval, ProviderFlowRecord, ProviderStore, SecurityEventRecord,
    StoreResult, UserRecord,
};

fn identity_from_row(row: &PgRow) -> sqlx::Result<IdentityRecord> {
    Ok(IdentityRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        provider: row.try_get("provider")?,
        subject: row.try_get("subject")?,
        email: row.try_get("email")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

fn flow_from_row(row: &PgRow) -> sqlx::Result<ProviderFlowRecord> {
    Ok(ProviderFlowRecord {
        state_hash: row.try_get("state_hash")?,
        provider: row.try_get("provider")?,
        browser_hash: row.try_get("browser_hash")?,
        nonce: row.try_get("nonce")?,
        pkce_verifier: row.try_get("pkce_verifier")?,
        redirect_to: row.try_get("redirect_to")?,
        code_challenge: row.try_get("code_challenge")?,
        link_user_id: row.try_get("link_user_id")?,
        payload: row.try_get("payload")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

async fn insert_identity_row(
    tx: &mut Transaction<'_, Postgres>,
    identity: &IdentityRecord,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO user_providers (id, user_id, provider, subject, email, created_at,
             last_used_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(identity.id)
    .bind(identity.user_id)
    .bind(&identity.provider)
    .bind(&identity.subject)
    .bind(&identity.email)
    .bind(identity.created_at)
    .bind(identity.last_used_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl ProviderStore for PgStore {
    async fn insert_provider_flow(&self, flow: &ProviderFlowRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO provider_flows (state_hash, provider, browser_hash, nonce, pkce_verifier,
                 redirect_to, code_challenge, link_user_id, payload, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&flow.state_hash)
        .bind(&flow.provider)
        .bind(&flow.browser_hash)
        .bind(&flow.nonce)
        .bind(&flow.pkce_verifier)
        .bind(&flow.redirect_to)
        .bind(&flow.code_challenge)
        .bind(flow.link_user_id)
        .bind(&flow.payload)
        .bind(flow.created_at)
        .bind(flow.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_provider_flow(
        &self,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<ProviderFlowRecord>> {
        let row = sqlx::query("DELETE FROM provider_flows WHERE state_hash = $1 RETURNING *")
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await?;
        let flow = row.as_ref().map(flow_from_row).transpose()?;
        Ok(flow.filter(|f| f.expires_at > now))
    }

    async fn identity(&self, provider: &str, subject: &str) -> StoreResult<Option<IdentityRecord>> {
        let row = sqlx::query("SELECT * FROM user_providers WHERE provider = $1 AND subject = $2")
            .bind(provider)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(identity_from_row).transpose()?)
    }

    async fn identities_of(&self, user_id: Uuid) -> StoreResult<Vec<IdentityRecord>> {
        let rows =
            sqlx::query("SELECT * FROM user_providers WHERE user_id = $1 ORDER BY created_at, id")
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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
        insert_user_row(&mut *tx, user).await?;
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
        sqlx::query("UPDATE user_providers SET email = $2, last_used_at = $3 WHERE id = $1")
            .bind(id)
            .bind(email)
            .bind(now)
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
        let mut tx = self.pool.begin().await?;
        // The user's row lock orders this against other removals of sign-in methods (a
        // passkey's, another identity's): two cannot both see "one other left".
        let Some(user) = sqlx::query("SELECT password_hash FROM users WHERE id = $1 FOR UPDATE")
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
            "SELECT count(*) FILTER (WHERE provider = $2),
                    count(*) FILTER (WHERE provider <> $2)
                        + (SELECT count(*) FROM webauthn_credentials WHERE user_id = $1)
             FROM user_providers WHERE user_id = $1",
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
        sqlx::query("DELETE FROM user_providers WHERE user_id = $1 AND provider = $2")
            .bind(user_id)
            .bind(provider)
            .execute(&mut *tx)
            .await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(IdentityRemoval::Removed)
    }

    async fn delete_identities_of(&self, user_id: Uuid) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM user_providers WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn prune_provider_flows(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM provider_flows WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
