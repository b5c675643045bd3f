//! Sessions and the refresh-token exchange, SQLite flavour.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::events::insert_event;
use super::users::user_from_row;
use super::{SqliteStore, optional_time_at, time_at};
use crate::store::{
    NewRefreshToken, RotationPlan, SecurityEventRecord, SessionColumns, SessionRecord,
    SessionStore, StoreResult, TokenState, merged_methods, methods_column, methods_of, to_micros,
};

fn session_from_row(row: &SqliteRow) -> sqlx::Result<SessionRecord> {
    session_from_columns(row, &SessionColumns::STORED)
}

pub(super) fn session_from_columns(
    row: &SqliteRow,
    c: &SessionColumns,
) -> sqlx::Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.try_get(c.id)?,
        user_id: row.try_get(c.user_id)?,
        created_at: time_at(row, c.created_at)?,
        last_used_at: time_at(row, c.last_used_at)?,
        expires_at: time_at(row, c.expires_at)?,
        absolute_expires_at: optional_time_at(row, c.absolute_expires_at)?,
        revoked_at: optional_time_at(row, c.revoked_at)?,
        user_agent: row.try_get(c.user_agent)?,
        ip: row.try_get(c.ip)?,
        auth_time: time_at(row, c.auth_time)?,
        amr: methods_of(row.try_get(c.amr)?),
    })
}

/// Inserts a session with its first refresh token, in the caller's transaction. Every
/// session starts here, a Tessera sign-in's and an app's grant alike.
pub(super) async fn insert_session(
    tx: &mut Transaction<'_, Sqlite>,
    session: &SessionRecord,
    token: &NewRefreshToken,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at,
             absolute_expires_at, user_agent, ip, auth_time, amr)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(session.id)
    .bind(session.user_id)
    .bind(to_micros(session.created_at))
    .bind(to_micros(session.last_used_at))
    .bind(to_micros(session.expires_at))
    .bind(session.absolute_expires_at.map(to_micros))
    .bind(&session.user_agent)
    .bind(&session.ip)
    .bind(to_micros(session.auth_time))
    .bind(methods_column(&session.amr))
    .execute(&mut **tx)
    .await?;
    insert_refresh_token(tx, session.id, token).await
}

async fn insert_refresh_token(
    tx: &mut Transaction<'_, Sqlite>,
    session_id: Uuid,
    token: &NewRefreshToken,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens
             (id, session_id, token_hash, created_at, expires_at, generation)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(token.id)
    .bind(session_id)
    .bind(&token.hash)
    .bind(to_micros(token.created_at))
    .bind(to_micros(token.expires_at))
    .bind(token.generation)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(
        &self,
        session: &SessionRecord,
        token: &NewRefreshToken,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_session(&mut tx, session, token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &[u8],
        decide: &(dyn Fn(Option<TokenState>) -> RotationPlan + Send + Sync),
    ) -> StoreResult<RotationPlan> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "SELECT u.*,
                    t.id AS token_id, t.expires_at AS token_expires_at, t.rotated_at,
                    t.successor_sealed,
                    (t.rotated_at IS NOT NULL
                     AND (n.id IS NULL OR n.rotated_at IS NOT NULL)) AS successor_used,
                    s.id AS session_id, s.user_id AS session_user_id,
                    s.created_at AS session_created_at,
                    s.last_used_at AS session_last_used_at,
                    s.expires_at AS session_expires_at,
                    s.absolute_expires_at AS session_absolute_expires_at,
                    s.revoked_at AS session_revoked_at, s.user_agent AS session_user_agent,
                    s.ip AS session_ip, s.auth_time AS session_auth_time,
                    s.amr AS session_amr
             FROM refresh_tokens t
             JOIN sessions s ON s.id = t.session_id
             JOIN users u ON u.id = s.user_id
             LEFT JOIN refresh_tokens n ON n.id = t.successor_id
             WHERE t.token_hash = ?1",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let state = row
            .map(|row| -> sqlx::Result<TokenState> {
                Ok(TokenState {
                    token_id: row.try_get("token_id")?,
                    token_expires_at: time_at(&row, "token_expires_at")?,
                    rotated_at: optional_time_at(&row, "rotated_at")?,
                    successor_sealed: row.try_get("successor_sealed")?,
                    // A successor whose row is gone (its link then NULL) was used: rows
                    // are deleted only once two more rotations have happened.
                    successor_used: row.try_get("successor_used")?,
                    session: session_from_columns(&row, &SessionColumns::PREFIXED)?,
                    user: user_from_row(&row)?,
                })
            })
            .transpose()?;
        let presented = state.as_ref().map(|s| (s.token_id, s.session.id));
        let plan = decide(state);
        match (&plan, presented) {
            (
                RotationPlan::Rotate {
                    successor,
                    successor_sealed,
                    session_expires_at,
                    user_agent,
                    ip,
                },
                Some((token_id, session_id)),
            ) => {
                insert_refresh_token(&mut tx, session_id, successor).await?;
                // The session's older rotated rows, except unexpired ones from before
                // generations (see the Postgres flavour): the session keeps two rows.
                sqlx::query(
                    "DELETE FROM refresh_tokens
                     WHERE session_id = ?1 AND rotated_at IS NOT NULL AND id <> ?2
                       AND (generation IS NOT NULL OR expires_at <= ?3)",
                )
                .bind(session_id)
                .bind(token_id)
                .bind(to_micros(successor.created_at))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE refresh_tokens
                     SET rotated_at = ?2, successor_id = ?3, successor_sealed = ?4
                     WHERE id = ?1",
                )
                .bind(token_id)
                .bind(to_micros(successor.created_at))
                .bind(successor.id)
                .bind(successor_sealed)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE sessions SET last_used_at = ?2, expires_at = ?3, user_agent = ?4, ip = ?5
                     WHERE id = ?1",
                )
                .bind(session_id)
                .bind(to_micros(successor.created_at))
                .bind(to_micros(*session_expires_at))
                .bind(user_agent)
                .bind(ip)
                .execute(&mut *tx)
                .await?;
            }
            (RotationPlan::Revoke { event }, Some((_, session_id))) => {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3
                     WHERE id = ?1 AND revoked_at IS NULL",
                )
                .bind(session_id)
                .bind(to_micros(event.occurred_at))
                .bind(&event.kind)
                .execute(&mut *tx)
                .await?;
                insert_event(&mut tx, event).await?;
            }
            _ => {}
        }
        tx.commit().await?;
        if let (RotationPlan::Revoke { .. }, Some((_, session_id))) = (&plan, presented) {
            self.changes
                .announce(crate::store::Change::Session(session_id));
        }
        Ok(plan)
    }

    async fn revoke_earlier_generation(
        &self,
        id: Uuid,
        generation: i64,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let now = to_micros(event.occurred_at);
        let user: Option<Uuid> = sqlx::query_scalar(
            "SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2
               AND (s.absolute_expires_at IS NULL OR s.absolute_expires_at > ?2)
               AND NOT u.disabled
               AND EXISTS (SELECT 1 FROM refresh_tokens
                           WHERE session_id = ?1 AND generation > ?3)",
        )
        .bind(id)
        .bind(now)
        .bind(generation)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = user else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3
             WHERE id = ?1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .bind(&event.kind)
        .execute(&mut *tx)
        .await?;
        let event = SecurityEventRecord {
            user_id: Some(user_id),
            ..event.clone()
        };
        insert_event(&mut tx, &event).await?;
        tx.commit().await?;
        self.changes.announce(crate::store::Change::Session(id));
        Ok(true)
    }

    async fn session_by_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT s.* FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
             WHERE t.token_hash = ?1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    async fn refresh_token_is_current(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let current: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM refresh_tokens t
             JOIN sessions s ON s.id = t.session_id
             JOIN users u ON u.id = s.user_id
             WHERE t.token_hash = ?1 AND t.rotated_at IS NULL AND t.expires_at > ?2
               AND s.revoked_at IS NULL AND s.expires_at > ?2
               AND (s.absolute_expires_at IS NULL OR s.absolute_expires_at > ?2)
               AND NOT u.disabled",
        )
        .bind(token_hash)
        .bind(to_micros(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(current.is_some())
    }

    async fn session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    async fn session_is_live(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<bool> {
        let live: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = ?1 AND s.revoked_at IS NULL AND s.expires_at > ?2 AND NOT u.disabled",
        )
        .bind(id)
        .bind(to_micros(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(live.is_some())
    }

    async fn live_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM sessions
             WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2
             ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .bind(to_micros(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(session_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    async fn authenticate_session(
        &self,
        id: Uuid,
        user_id: Uuid,
        auth_time: OffsetDateTime,
        added: &[String],
    ) -> StoreResult<Option<SessionRecord>> {
        // A write transaction: a step-up at the same time waits, then adds to what this one
        // wrote.
        let mut tx = self.write_tx().await?;
        let live: Option<String> = sqlx::query_scalar(
            "SELECT s.amr FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = ?1 AND s.user_id = ?2
               AND s.revoked_at IS NULL AND s.expires_at > ?3
               AND (s.absolute_expires_at IS NULL OR s.absolute_expires_at > ?3)
               AND NOT u.disabled",
        )
        .bind(id)
        .bind(user_id)
        .bind(to_micros(auth_time))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(amr) = live else {
            return Ok(None);
        };
        let amr = merged_methods(&methods_of(&amr), added);
        let row =
            sqlx::query("UPDATE sessions SET auth_time = ?2, amr = ?3 WHERE id = ?1 RETURNING *")
                .bind(id)
                .bind(to_micros(auth_time))
                .bind(methods_column(&amr))
                .fetch_one(&mut *tx)
                .await?;
        let session = session_from_row(&row)?;
        tx.commit().await?;
        Ok(Some(session))
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        user_id: Uuid,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let revoked = sqlx::query(
            "UPDATE sessions SET revoked_at = ?3, revoked_reason = ?4
             WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .bind(to_micros(event.occurred_at))
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revoked > 0 {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        if revoked > 0 {
            self.changes.announce(crate::store::Change::Session(id));
        }
        Ok(revoked > 0)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let revoked = sqlx::query(
            "UPDATE sessions SET revoked_at = ?3, revoked_reason = ?4
             WHERE user_id = ?1 AND revoked_at IS NULL AND id IS NOT ?2",
        )
        .bind(user_id)
        .bind(keep)
        .bind(to_micros(event.occurred_at))
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if revoked > 0 {
            insert_event(&mut tx, event).await?;
        }
        tx.commit().await?;
        if revoked > 0 {
            self.changes.announce(crate::store::Change::User(user_id));
        }
        Ok(revoked)
    }
}
