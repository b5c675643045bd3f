//! Sessions and the refresh-token exchange, Postgres flavour.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::events::insert_event;
use super::users::user_from_row;
use super::{PgStore, rotation};
use crate::store::{
    CurrentRotation, NewRefreshToken, RotatedSession, RotationPlan, SecurityEventRecord,
    SessionColumns, SessionRecord, SessionStore, StoreResult, TokenState, merged_methods,
    methods_column, methods_of,
};

fn session_from_row(row: &PgRow) -> sqlx::Result<SessionRecord> {
    session_from_columns(row, &SessionColumns::STORED)
}

pub(super) fn session_from_columns(row: &PgRow, c: &SessionColumns) -> sqlx::Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.try_get(c.id)?,
        user_id: row.try_get(c.user_id)?,
        created_at: row.try_get(c.created_at)?,
        last_used_at: row.try_get(c.last_used_at)?,
        expires_at: row.try_get(c.expires_at)?,
        absolute_expires_at: row.try_get(c.absolute_expires_at)?,
        revoked_at: row.try_get(c.revoked_at)?,
        user_agent: row.try_get(c.user_agent)?,
        ip: row.try_get(c.ip)?,
        auth_time: row.try_get(c.auth_time)?,
        amr: methods_of(row.try_get(c.amr)?),
    })
}

/// Inserts a session with its first refresh token, in one statement (one round trip, an
/// implicit transaction when `executor` is the pool): the token's foreign key is checked
/// at the end of the statement, when the session exists. Every session starts here, a
/// Tessera sign-in's and an app's grant alike.
pub(super) async fn insert_session<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    session: &SessionRecord,
    token: &NewRefreshToken,
) -> sqlx::Result<()> {
    sqlx::query(
        "WITH session AS (
             INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at,
                 absolute_expires_at, user_agent, ip, auth_time, amr)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         )
         INSERT INTO refresh_tokens
             (id, session_id, token_hash, created_at, expires_at, generation)
         VALUES ($11, $1, $12, $13, $14, $15)",
    )
    .bind(session.id)
    .bind(session.user_id)
    .bind(session.created_at)
    .bind(session.last_used_at)
    .bind(session.expires_at)
    .bind(session.absolute_expires_at)
    .bind(&session.user_agent)
    .bind(&session.ip)
    .bind(session.auth_time)
    .bind(methods_column(&session.amr))
    .bind(token.id)
    .bind(&token.hash)
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.generation)
    .execute(executor)
    .await?;
    Ok(())
}

#[async_trait]
impl SessionStore for PgStore {
    async fn create_session(
        &self,
        session: &SessionRecord,
        token: &NewRefreshToken,
    ) -> StoreResult<()> {
        insert_session(&self.pool, session, token).await?;
        Ok(())
    }

    async fn rotate_current_refresh_token(
        &self,
        token_hash: &[u8],
        rotation: &CurrentRotation,
    ) -> StoreResult<Option<RotatedSession>> {
        rotation::rotate_current(&self.pool, token_hash, rotation).await
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &[u8],
        decide: &(dyn Fn(Option<TokenState>) -> RotationPlan + Send + Sync),
    ) -> StoreResult<RotationPlan> {
        let mut tx = self.pool.begin().await?;
        // Four round trips for a current token (BEGIN, this SELECT, one write statement,
        // COMMIT), like the bare rotation transaction this path is benchmarked against.
        // Locking the token and its session makes a waiting caller re-read both once the
        // lock is granted, so it sees the rotation the caller ahead of it committed. The
        // user comes along for the response.
        let row = sqlx::query(
            "SELECT u.*,
                    t.id AS token_id, t.expires_at AS token_expires_at, t.rotated_at,
                    t.successor_id, t.successor_sealed,
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
             WHERE t.token_hash = $1
             FOR UPDATE OF t, s",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let state = row
            .map(|row| -> sqlx::Result<(TokenState, Option<Uuid>)> {
                let state = TokenState {
                    token_id: row.try_get("token_id")?,
                    token_expires_at: row.try_get("token_expires_at")?,
                    rotated_at: row.try_get("rotated_at")?,
                    successor_sealed: row.try_get("successor_sealed")?,
                    successor_used: false,
                    session: session_from_columns(&row, &SessionColumns::PREFIXED)?,
                    user: user_from_row(&row)?,
                };
                Ok((state, row.try_get("successor_id")?))
            })
            .transpose()?;
        // Whether a rotated token's successor was used already (reuse detection) needs a
        // statement of its own, after the locks are granted. After a wait, READ COMMITTED
        // re-reads only the locked rows; anything else in the statement above, a subquery
        // on the successor included, is as its snapshot saw it, from before the wait. So
        // a stolen token presented while the owner was rotating its successor saw that
        // successor unused, and was handed it (then the owner's newest token) instead of
        // revoking the session. This statement's snapshot is taken now, under the session
        // lock, which every exchange of the session takes: the answer cannot change before
        // the commit.
        // A successor whose row is gone was used: rows are deleted only once two more
        // rotations have happened.
        let state = match state {
            Some((mut state, Some(successor_id))) if state.rotated_at.is_some() => {
                state.successor_used = sqlx::query_scalar(
                    "SELECT NOT EXISTS (SELECT 1 FROM refresh_tokens
                                        WHERE id = $1 AND rotated_at IS NULL)",
                )
                .bind(successor_id)
                .fetch_one(&mut *tx)
                .await?;
                Some(state)
            }
            Some((mut state, None)) => {
                state.successor_used = state.rotated_at.is_some();
                Some(state)
            }
            other => other.map(|(state, _)| state),
        };
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
                // One statement: the successor, the session's older rotated rows pruned (as
                // in `rotate_current_refresh_token`, skipping rows another exchange holds),
                // the presented token marked rotated,
                // and the session's sliding expiry.
                sqlx::query(
                    "WITH successor AS (
                         INSERT INTO refresh_tokens
                             (id, session_id, token_hash, created_at, expires_at, generation)
                         VALUES ($3, $2, $4, $5, $6, $11)
                     ), pruned AS (
                         DELETE FROM refresh_tokens WHERE id IN (
                             SELECT id FROM refresh_tokens
                             WHERE session_id = $2 AND generation = $11 - 2
                               AND rotated_at IS NOT NULL
                             FOR UPDATE SKIP LOCKED)
                     ), pruned_legacy AS (
                         DELETE FROM refresh_tokens WHERE id IN (
                             SELECT id FROM refresh_tokens
                             WHERE session_id = $2 AND generation IS NULL
                               AND rotated_at IS NOT NULL AND expires_at <= $5
                             FOR UPDATE SKIP LOCKED)
                     ), presented AS (
                         UPDATE refresh_tokens
                         SET rotated_at = $5, successor_id = $3, successor_sealed = $7
                         WHERE id = $1
                     )
                     UPDATE sessions
                     SET last_used_at = $5, expires_at = $8, user_agent = $9, ip = $10
                     WHERE id = $2",
                )
                .bind(token_id)
                .bind(session_id)
                .bind(successor.id)
                .bind(&successor.hash)
                .bind(successor.created_at)
                .bind(successor.expires_at)
                .bind(successor_sealed)
                .bind(session_expires_at)
                .bind(user_agent)
                .bind(ip)
                .bind(successor.generation)
                .execute(&mut *tx)
                .await?;
            }
            (RotationPlan::Revoke { event }, Some((_, session_id))) => {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
                     WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(session_id)
                .bind(event.occurred_at)
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
        let revoked =
            rotation::revoke_earlier_generation(&self.pool, id, generation, event).await?;
        if revoked {
            self.changes.announce(crate::store::Change::Session(id));
        }
        Ok(revoked)
    }

    async fn session_by_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT s.* FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id
             WHERE t.token_hash = $1",
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
             WHERE t.token_hash = $1 AND t.rotated_at IS NULL AND t.expires_at > $2
               AND s.revoked_at IS NULL AND s.expires_at > $2
               AND (s.absolute_expires_at IS NULL OR s.absolute_expires_at > $2)
               AND NOT u.disabled",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(current.is_some())
    }

    async fn session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    async fn session_is_live(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<bool> {
        let live: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND NOT u.disabled",
        )
        .bind(id)
        .bind(now)
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
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
             ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .bind(now)
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
        let mut tx = self.pool.begin().await?;
        // Locked, so that a step-up at the same time waits and then adds to what this one
        // wrote (the union is taken here, not in SQL, on the row as locked).
        let live: Option<String> = sqlx::query_scalar(
            "SELECT s.amr FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = $1 AND s.user_id = $2
               AND s.revoked_at IS NULL AND s.expires_at > $3
               AND (s.absolute_expires_at IS NULL OR s.absolute_expires_at > $3)
               AND NOT u.disabled
             FOR UPDATE OF s",
        )
        .bind(id)
        .bind(user_id)
        .bind(auth_time)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(amr) = live else {
            return Ok(None);
        };
        let amr = merged_methods(&methods_of(&amr), added);
        let row =
            sqlx::query("UPDATE sessions SET auth_time = $2, amr = $3 WHERE id = $1 RETURNING *")
                .bind(id)
                .bind(auth_time)
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
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(user_id)
        .bind(event.occurred_at)
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
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4
             WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2",
        )
        .bind(user_id)
        .bind(keep)
        .bind(event.occurred_at)
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
