//! Authorization requests, codes and grants, SQLite flavour (the `store::oauth2` traits
//! state the rules; the schema is migration 0012). A grant is a session of its own, created
//! exactly as `create_session` creates one, plus its `oauth2_grants` row.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::events::insert_event;
use super::oauth2_clients::revoke_grant_sessions;
use super::sessions::insert_session;
use super::{SqliteStore, optional_time_at, time_at};
use crate::store::{
    AuthorizationRequestRecord, AuthorizationStore, CodeTake, NewRefreshToken, OAuthGrantRecord,
    SecurityEventRecord, SessionRecord, StoreResult, methods_column, methods_of, to_micros,
};

fn request_from_row(row: &SqliteRow) -> sqlx::Result<AuthorizationRequestRecord> {
    Ok(AuthorizationRequestRecord {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scopes: row.try_get::<Json<Vec<String>>, _>("scopes")?.0,
        state: row.try_get("state")?,
        nonce: row.try_get("nonce")?,
        code_challenge: row.try_get("code_challenge")?,
        browser_hash: row.try_get("browser_hash")?,
        created_at: time_at(row, "created_at")?,
        expires_at: time_at(row, "expires_at")?,
        user_id: row.try_get("user_id")?,
        auth_time: optional_time_at(row, "auth_time")?,
        amr: methods_of(row.try_get("amr")?),
        code_hash: row.try_get("code_hash")?,
        code_expires_at: optional_time_at(row, "code_expires_at")?,
        redeemed_at: optional_time_at(row, "redeemed_at")?,
        session_id: row.try_get("session_id")?,
        reused_at: optional_time_at(row, "reused_at")?,
    })
}

fn grant_from_row(row: &SqliteRow) -> sqlx::Result<OAuthGrantRecord> {
    Ok(OAuthGrantRecord {
        session_id: row.try_get("session_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        scopes: row.try_get::<Json<Vec<String>>, _>("scopes")?.0,
        created_at: time_at(row, "created_at")?,
    })
}

#[async_trait]
impl AuthorizationStore for SqliteStore {
    async fn insert_authorization_request(
        &self,
        request: &AuthorizationRequestRecord,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth2_requests (id, client_id, redirect_uri, scopes, state, nonce,
                 code_challenge, browser_hash, created_at, expires_at, user_id, auth_time, amr,
                 code_hash, code_expires_at, redeemed_at, session_id, reused_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18)",
        )
        .bind(request.id)
        .bind(&request.client_id)
        .bind(&request.redirect_uri)
        .bind(Json(&request.scopes))
        .bind(&request.state)
        .bind(&request.nonce)
        .bind(&request.code_challenge)
        .bind(&request.browser_hash)
        .bind(to_micros(request.created_at))
        .bind(to_micros(request.expires_at))
        .bind(request.user_id)
        .bind(request.auth_time.map(to_micros))
        .bind(methods_column(&request.amr))
        .bind(&request.code_hash)
        .bind(request.code_expires_at.map(to_micros))
        .bind(request.redeemed_at.map(to_micros))
        .bind(request.session_id)
        .bind(request.reused_at.map(to_micros))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn authorization_request(
        &self,
        id: Uuid,
    ) -> StoreResult<Option<AuthorizationRequestRecord>> {
        let row = sqlx::query("SELECT * FROM oauth2_requests WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(request_from_row).transpose()?)
    }

    async fn approve_authorization_request(
        &self,
        approved: &AuthorizationRequestRecord,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        // One statement: writes are serialised, so of two approvals the second finds the
        // request approved.
        let done = sqlx::query(
            "UPDATE oauth2_requests
             SET user_id = ?2, auth_time = ?3, amr = ?4, code_hash = ?5, code_expires_at = ?6
             WHERE id = ?1 AND code_hash IS NULL AND expires_at > ?7",
        )
        .bind(approved.id)
        .bind(approved.user_id)
        .bind(approved.auth_time.map(to_micros))
        .bind(methods_column(&approved.amr))
        .bind(&approved.code_hash)
        .bind(approved.code_expires_at.map(to_micros))
        .bind(to_micros(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn take_authorization_code(
        &self,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<CodeTake> {
        // The first presentation marks it in the same statement; writes are serialised, so a
        // second one at the same time finds it redeemed and changes nothing. Expiry is the
        // domain's to judge.
        let taken = sqlx::query(
            "UPDATE oauth2_requests SET redeemed_at = ?2
             WHERE code_hash = ?1 AND redeemed_at IS NULL
             RETURNING *",
        )
        .bind(code_hash)
        .bind(to_micros(now))
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = taken {
            return Ok(CodeTake::Taken(request_from_row(&row)?));
        }
        let row = sqlx::query("SELECT * FROM oauth2_requests WHERE code_hash = ?1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => CodeTake::AlreadyRedeemed(request_from_row(&row)?),
            None => CodeTake::Unknown,
        })
    }

    async fn create_grant(
        &self,
        session: &SessionRecord,
        token: &NewRefreshToken,
        grant: &OAuthGrantRecord,
        request_id: Option<Uuid>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        if let Some(request_id) = request_id {
            // BEGIN IMMEDIATE: `mark_code_reused` runs either before, and this finds the
            // request reused and creates nothing, or after, and finds the session to revoke.
            let recorded = sqlx::query(
                "UPDATE oauth2_requests SET session_id = ?2
                 WHERE id = ?1 AND reused_at IS NULL",
            )
            .bind(request_id)
            .bind(session.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if recorded == 0 {
                return Ok(false);
            }
        }
        // The session and its first token as `create_session` writes them.
        insert_session(&mut tx, session, token).await?;
        sqlx::query(
            "INSERT INTO oauth2_grants (session_id, client_id, user_id, scopes, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(grant.session_id)
        .bind(&grant.client_id)
        .bind(grant.user_id)
        .bind(Json(&grant.scopes))
        .bind(to_micros(grant.created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn mark_code_reused(
        &self,
        request_id: Uuid,
        event: &SecurityEventRecord,
    ) -> StoreResult<Option<Uuid>> {
        let mut tx = self.write_tx().await?;
        // BEGIN IMMEDIATE: a `create_grant` for this request either committed (its session
        // is read here) or runs after, and finds the request reused.
        let row = sqlx::query("SELECT session_id FROM oauth2_requests WHERE id = ?1")
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let session_id: Option<Uuid> = row.try_get("session_id")?;
        sqlx::query("UPDATE oauth2_requests SET reused_at = ?2 WHERE id = ?1")
            .bind(request_id)
            .bind(to_micros(event.occurred_at))
            .execute(&mut *tx)
            .await?;
        let mut revoked = None;
        if let Some(session_id) = session_id {
            let user: Option<Uuid> = sqlx::query_scalar(
                "UPDATE sessions SET revoked_at = ?2, revoked_reason = 'authorization-code-reused'
                 WHERE id = ?1 AND revoked_at IS NULL
                 RETURNING user_id",
            )
            .bind(session_id)
            .bind(to_micros(event.occurred_at))
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(user_id) = user {
                let event = SecurityEventRecord {
                    user_id: event.user_id.or(Some(user_id)),
                    session_id: event.session_id.or(Some(session_id)),
                    ..event.clone()
                };
                insert_event(&mut tx, &event).await?;
                revoked = Some(session_id);
            }
        }
        tx.commit().await?;
        if let Some(session_id) = revoked {
            self.changes
                .announce(crate::store::Change::Session(session_id));
        }
        Ok(revoked)
    }

    async fn grant(&self, session_id: Uuid) -> StoreResult<Option<OAuthGrantRecord>> {
        let row = sqlx::query("SELECT * FROM oauth2_grants WHERE session_id = ?1")
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(grant_from_row).transpose()?)
    }

    async fn live_grants_of(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<OAuthGrantRecord>> {
        let rows = sqlx::query(
            "SELECT g.* FROM oauth2_grants g JOIN sessions s ON s.id = g.session_id
             WHERE g.user_id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2
               AND (s.absolute_expires_at IS NULL OR s.absolute_expires_at > ?2)
             ORDER BY g.created_at, g.session_id",
        )
        .bind(user_id)
        .bind(to_micros(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(grant_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    async fn revoke_client_grants(
        &self,
        user_id: Uuid,
        client_id: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let revoked =
            revoke_grant_sessions(&mut tx, client_id, Some(user_id), "grant-revoked", event)
                .await?;
        let consents =
            sqlx::query("DELETE FROM oauth2_consents WHERE user_id = ?1 AND client_id = ?2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        let changed = !revoked.is_empty() || consents > 0;
        if changed {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        for session_id in revoked {
            self.changes
                .announce(crate::store::Change::Session(session_id));
        }
        Ok(changed)
    }

    async fn prune_authorization_requests(
        &self,
        now: OffsetDateTime,
        redeemed_before: OffsetDateTime,
    ) -> StoreResult<u64> {
        // Each case has its partial index (migration 0012).
        let done = sqlx::query(
            "DELETE FROM oauth2_requests
             WHERE (code_hash IS NULL AND expires_at < ?1)
                OR (code_hash IS NOT NULL AND redeemed_at IS NULL AND code_expires_at < ?1)
                OR (redeemed_at IS NOT NULL AND redeemed_at < ?2)",
        )
        .bind(to_micros(now))
        .bind(to_micros(redeemed_before))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
