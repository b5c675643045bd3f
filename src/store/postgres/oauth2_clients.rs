//! Registered apps (OAuth 2.1 clients) and users' consents, Postgres flavour (the
//! `store::oauth2` traits state the rules; the schema is migration 0012). The lists are
//! JSONB arrays.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use super::PgStore;
use super::events::insert_event;
use crate::store::{
    ConsentRecord, OAuthClientRecord, OAuthClientStore, SecurityEventRecord, StoreResult,
};

fn client_from_row(row: &PgRow) -> sqlx::Result<OAuthClientRecord> {
    Ok(OAuthClientRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        redirect_uris: row.try_get::<Json<Vec<String>>, _>("redirect_uris")?.0,
        post_logout_redirect_uris: row
            .try_get::<Json<Vec<String>>, _>("post_logout_redirect_uris")?
            .0,
        scopes: row.try_get::<Json<Vec<String>>, _>("scopes")?.0,
        first_party: row.try_get("first_party")?,
        dynamic: row.try_get("dynamic")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn consent_from_row(row: &PgRow) -> sqlx::Result<ConsentRecord> {
    Ok(ConsentRecord {
        user_id: row.try_get("user_id")?,
        client_id: row.try_get("client_id")?,
        scopes: row.try_get::<Json<Vec<String>>, _>("scopes")?.0,
        granted_at: row.try_get("granted_at")?,
    })
}

/// Revokes the unrevoked sessions of the client's grants (all of them, or the user's), at the event's time with `reason`; returns their ids, to announce after the
/// commit.
pub(super) async fn revoke_grant_sessions(
    tx: &mut Transaction<'_, Postgres>,
    client_id: &str,
    user_id: Option<Uuid>,
    reason: &str,
    event: &SecurityEventRecord,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "UPDATE sessions SET revoked_at = $3, revoked_reason = $4
         WHERE revoked_at IS NULL AND id IN (
             SELECT session_id FROM oauth2_grants
             WHERE client_id = $1 AND ($2::uuid IS NULL OR user_id = $2))
         RETURNING id",
    )
    .bind(client_id)
    .bind(user_id)
    .bind(event.occurred_at)
    .bind(reason)
    .fetch_all(&mut **tx)
    .await
}

#[async_trait]
impl OAuthClientStore for PgStore {
    async fn insert_client(&self, client: &OAuthClientRecord) -> StoreResult<()> {
        // A taken id violates `oauth2_clients_pkey`, which the error mapping reports by name.
        sqlx::query(
            "INSERT INTO oauth2_clients (id, name, secret_hash, redirect_uris,
                 post_logout_redirect_uris, scopes, first_party, dynamic, created_at,
                 updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&client.id)
        .bind(&client.name)
        .bind(&client.secret_hash)
        .bind(Json(&client.redirect_uris))
        .bind(Json(&client.post_logout_redirect_uris))
        .bind(Json(&client.scopes))
        .bind(client.first_party)
        .bind(client.dynamic)
        .bind(client.created_at)
        .bind(client.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn client(&self, id: &str) -> StoreResult<Option<OAuthClientRecord>> {
        let row = sqlx::query("SELECT * FROM oauth2_clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(client_from_row).transpose()?)
    }

    async fn clients(&self) -> StoreResult<Vec<OAuthClientRecord>> {
        let rows = sqlx::query("SELECT * FROM oauth2_clients ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(client_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    async fn update_client(&self, client: &OAuthClientRecord) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE oauth2_clients
             SET name = $2, secret_hash = $3, redirect_uris = $4,
                 post_logout_redirect_uris = $5, scopes = $6, first_party = $7,
                 updated_at = $8
             WHERE id = $1",
        )
        .bind(&client.id)
        .bind(&client.name)
        .bind(&client.secret_hash)
        .bind(Json(&client.redirect_uris))
        .bind(Json(&client.post_logout_redirect_uris))
        .bind(Json(&client.scopes))
        .bind(client.first_party)
        .bind(client.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_client(&self, id: &str, event: &SecurityEventRecord) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // The client's lock orders this against a grant being created for it: inserting a
        // grant takes a key-share lock on the client (its foreign key), so a grant either
        // committed before this lock, and its session is revoked below (each statement of
        // READ COMMITTED sees what committed before it), or waits, then fails its foreign
        // key once the client is gone.
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM oauth2_clients WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Ok(false);
        }
        let revoked = revoke_grant_sessions(&mut tx, id, None, "client-deleted", event).await?;
        insert_event(&mut tx, event).await?;
        // Consents, requests and grants go with it (ON DELETE CASCADE); the sessions stay,
        // revoked, until upkeep prunes them.
        sqlx::query("DELETE FROM oauth2_clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for session_id in revoked {
            self.changes
                .announce(crate::store::Change::Session(session_id));
        }
        Ok(true)
    }

    async fn upsert_consent(&self, consent: &ConsentRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth2_consents (user_id, client_id, scopes, granted_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, client_id)
             DO UPDATE SET scopes = EXCLUDED.scopes, granted_at = EXCLUDED.granted_at",
        )
        .bind(consent.user_id)
        .bind(&consent.client_id)
        .bind(Json(&consent.scopes))
        .bind(consent.granted_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn consent(&self, user_id: Uuid, client_id: &str) -> StoreResult<Option<ConsentRecord>> {
        let row =
            sqlx::query("SELECT * FROM oauth2_consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.as_ref().map(consent_from_row).transpose()?)
    }

    async fn consents_of(&self, user_id: Uuid) -> StoreResult<Vec<ConsentRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM oauth2_consents WHERE user_id = $1 ORDER BY granted_at, client_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(consent_from_row)
            .collect::<sqlx::Result<_>>()?)
    }
}
