//! The two rotation statements that do not fit beside the rest of `sessions.rs`: the
//! one-statement exchange and the revocation for reuse of an earlier generation.

use sqlx::PgPool;
use uuid::Uuid;

use super::events::insert_event;
use super::sessions::session_from_columns;
use super::users::user_from_row;
use crate::store::{
    CurrentRotation, RotatedSession, SecurityEventRecord, SessionColumns, StoreResult,
};

/// `SessionStore::rotate_current_refresh_token`.
pub(super) async fn rotate_current(
    pool: &PgPool,
    token_hash: &[u8],
    rotation: &CurrentRotation,
) -> StoreResult<Option<RotatedSession>> {
    // One statement, so one round trip and an implicit transaction. `locked` takes the
    // same locks as `rotate_refresh_token` (token, then session) and keeps the row only
    // if `TokenState::may_rotate` holds (the domain's rule, under which `decide`
    // rotates): token current and unexpired, session unrevoked, unexpired and under its
    // cap, user enabled. A caller that waited for the locks re-checks these on
    // the rows as committed, so the second of two simultaneous exchanges finds the token
    // rotated, writes nothing, and goes on to the full path (which replays). LEAST
    // ignores a NULL absolute expiry. `pruned` keeps the session at two rows: it deletes
    // the row the presented token replaced (generation $9 - 2), found by its exact key in
    // the (session_id, generation) index. Not every rotated row of the session: each
    // refresh leaves a dead row version, and until vacuum a scan of the session's rows
    // steps over all of them (a session refreshed 190 times a second made Postgres spend
    // 80% more per refresh). `pruned_legacy` deletes rows from before generations once
    // their tokens have expired; while unexpired only their rows can detect their reuse.
    // SKIP LOCKED: an exchange of an old token holds that token's row while it waits for
    // the session, which this statement holds; waiting for the row would deadlock. A row
    // skipped then (two exchanges of one session at once) stays until the session ends.
    let row = sqlx::query(
        "WITH locked AS (
             SELECT t.id AS token_id, t.session_id, s.absolute_expires_at
             FROM refresh_tokens t
             JOIN sessions s ON s.id = t.session_id
             JOIN users u ON u.id = s.user_id
             WHERE t.token_hash = $1
               AND t.rotated_at IS NULL AND t.expires_at > $2
               AND s.revoked_at IS NULL AND s.expires_at > $2
               AND (s.absolute_expires_at IS NULL OR s.absolute_expires_at > $2)
               AND NOT u.disabled
             FOR UPDATE OF t, s
         ), successor AS (
             INSERT INTO refresh_tokens
                 (id, session_id, token_hash, created_at, expires_at, generation)
             SELECT $3, session_id, $4, $2, LEAST($5, absolute_expires_at), $9 FROM locked
         ), pruned AS (
             DELETE FROM refresh_tokens WHERE id IN (
                 SELECT o.id FROM refresh_tokens o JOIN locked
                     ON o.session_id = locked.session_id
                 WHERE o.generation = $9 - 2 AND o.rotated_at IS NOT NULL
                 FOR UPDATE OF o SKIP LOCKED)
         ), pruned_legacy AS (
             DELETE FROM refresh_tokens WHERE id IN (
                 SELECT o.id FROM refresh_tokens o JOIN locked
                     ON o.session_id = locked.session_id
                 WHERE o.generation IS NULL AND o.rotated_at IS NOT NULL
                   AND o.expires_at <= $2
                 FOR UPDATE OF o SKIP LOCKED)
         ), presented AS (
             UPDATE refresh_tokens t
             SET rotated_at = $2, successor_id = $3, successor_sealed = $6
             FROM locked WHERE t.id = locked.token_id
         ), session AS (
             UPDATE sessions s
             SET last_used_at = $2, expires_at = LEAST($5, locked.absolute_expires_at),
                 user_agent = $7, ip = $8
             FROM locked WHERE s.id = locked.session_id
             RETURNING s.*
         )
         SELECT u.*,
                session.id AS session_id, session.user_id AS session_user_id,
                session.created_at AS session_created_at,
                session.last_used_at AS session_last_used_at,
                session.expires_at AS session_expires_at,
                session.absolute_expires_at AS session_absolute_expires_at,
                session.revoked_at AS session_revoked_at,
                session.user_agent AS session_user_agent, session.ip AS session_ip,
                session.auth_time AS session_auth_time, session.amr AS session_amr
         FROM session JOIN users u ON u.id = session.user_id",
    )
    .bind(token_hash)
    .bind(rotation.now)
    .bind(rotation.successor.id)
    .bind(&rotation.successor.hash)
    .bind(rotation.successor.expires_at)
    .bind(&rotation.successor_sealed)
    .bind(&rotation.user_agent)
    .bind(&rotation.ip)
    .bind(rotation.successor.generation)
    .fetch_optional(pool)
    .await?;
    row.map(|row| -> sqlx::Result<RotatedSession> {
        Ok(RotatedSession {
            session: session_from_columns(&row, &SessionColumns::PREFIXED)?,
            user: user_from_row(&row)?,
        })
    })
    .transpose()
    .map_err(Into::into)
}

/// `SessionStore::revoke_earlier_generation`.
pub(super) async fn revoke_earlier_generation(
    pool: &PgPool,
    id: Uuid,
    generation: i64,
    event: &SecurityEventRecord,
) -> StoreResult<bool> {
    let mut tx = pool.begin().await?;
    let now = event.occurred_at;
    // The session's lock orders this after any rotation of it in flight; the later
    // generation is read after the lock is granted (a subquery in the same statement
    // would see the snapshot from before the wait, see `rotate_refresh_token`).
    let user: Option<Uuid> = sqlx::query_scalar(
        "SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
           AND (s.absolute_expires_at IS NULL OR s.absolute_expires_at > $2)
           AND NOT u.disabled
         FOR UPDATE OF s",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user else {
        return Ok(false);
    };
    let later: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM refresh_tokens
                        WHERE session_id = $1 AND generation > $2)",
    )
    .bind(id)
    .bind(generation)
    .fetch_one(&mut *tx)
    .await?;
    if !later {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
         WHERE id = $1 AND revoked_at IS NULL",
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
    Ok(true)
}
