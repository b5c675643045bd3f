//! The SQLite store: the embedded default, so that `cargo run` needs nothing installed.
//!
//! SQLite has one writer at a time. Every transaction that writes starts with
//! `BEGIN IMMEDIATE`, taking the write lock before it reads, so that two refreshes of one
//! token are serialised exactly as the row locks serialise them on Postgres.
//! Timestamps are INTEGER microseconds (see the migration).

mod keys;
mod pats;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::types::Json;
use sqlx::{Row, Sqlite, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::owner_only;

use super::{
    EventFilter, KeyInsertion, KeyRecord, KeyRevocation, NewRefreshToken, RevocationOutcome,
    RotationPlan, SecurityEventRecord, SessionColumns, SessionRecord, Store, StoreError,
    StoreResult, TicketRecord, TokenState, UserCursor, UserRecord, UserUpdate, from_micros,
    like_pattern, to_micros,
};

/// A pool of connections to one SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its directory, owner-only.
    pub async fn connect(
        path: &Path,
        max_connections: u32,
        timeout: Duration,
    ) -> StoreResult<Self> {
        owner_only_files(path).map_err(|err| StoreError::Unavailable(sqlx::Error::Io(err)))?;
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(timeout)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    async fn write_tx(&self) -> sqlx::Result<Transaction<'static, Sqlite>> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

/// Makes the database owner-only: its directory, when Tessera creates it, is 0700; the file
/// is created empty at 0600 before SQLite opens it (SQLite gives its `-wal` and `-shm` files
/// the mode of the database file), and a file an earlier release left readable by others is
/// restricted, with its `-wal` and `-shm`.
fn owner_only_files(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        owner_only::create_dir(dir)?;
    }
    match owner_only::create_file(path, b"") {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = Path::new(&file);
        if file.exists()
            && let Some(mode) = owner_only::shared_mode(file)?
        {
            owner_only::restrict(file)?;
            tracing::warn!(file = %file.display(), mode = format!("{mode:o}"), "the database file was readable by others; it is owner-only (0600) now");
        }
    }
    Ok(())
}

fn time_at(row: &SqliteRow, column: &str) -> sqlx::Result<OffsetDateTime> {
    row.try_get::<i64, _>(column).map(from_micros)
}

fn optional_time_at(row: &SqliteRow, column: &str) -> sqlx::Result<Option<OffsetDateTime>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(from_micros))
}

fn session_from_row(row: &SqliteRow) -> sqlx::Result<SessionRecord> {
    session_from_columns(row, &SessionColumns::STORED)
}

fn session_from_columns(row: &SqliteRow, c: &SessionColumns) -> sqlx::Result<SessionRecord> {
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
    })
}

fn user_from_row(row: &SqliteRow) -> sqlx::Result<UserRecord> {
    Ok(UserRecord {
        id: row.try_get("id")?,
        created_at: time_at(row, "created_at")?,
        updated_at: time_at(row, "updated_at")?,
        email: row.try_get("email")?,
        email_verified: row.try_get("email_verified")?,
        phone_number: row.try_get("phone_number")?,
        phone_number_verified: row.try_get("phone_number_verified")?,
        password_hash: row.try_get("password_hash")?,
        password_changed_at: optional_time_at(row, "password_changed_at")?,
        display_name: row.try_get("display_name")?,
        avatar_url: row.try_get("avatar_url")?,
        locale: row.try_get("locale")?,
        default_role: row.try_get("default_role")?,
        roles: row.try_get::<Json<Vec<String>>, _>("roles")?.0,
        is_anonymous: row.try_get("is_anonymous")?,
        metadata: row.try_get::<Json<serde_json::Value>, _>("metadata")?.0,
        disabled: row.try_get("disabled")?,
    })
}

fn key_from_row(row: &SqliteRow) -> sqlx::Result<KeyRecord> {
    Ok(KeyRecord {
        kid: row.try_get("kid")?,
        public_jwk: row.try_get::<Json<serde_json::Value>, _>("public_jwk")?.0,
        private_key: row.try_get("private_key")?,
        encryption: row.try_get("encryption")?,
        origin: row.try_get("origin")?,
        created_at: time_at(row, "created_at")?,
        published_at: time_at(row, "published_at")?,
        activates_at: time_at(row, "activates_at")?,
        retires_at: optional_time_at(row, "retires_at")?,
        expires_at: optional_time_at(row, "expires_at")?,
        revoked_at: optional_time_at(row, "revoked_at")?,
    })
}

fn ticket_from_row(row: &SqliteRow) -> sqlx::Result<TicketRecord> {
    Ok(TicketRecord {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        purpose: row.try_get("purpose")?,
        hash: row.try_get("ticket_hash")?,
        created_at: time_at(row, "created_at")?,
        expires_at: time_at(row, "expires_at")?,
        used_at: optional_time_at(row, "used_at")?,
        redirect_to: row.try_get("redirect_to")?,
        code_challenge: row.try_get("code_challenge")?,
        payload: row.try_get::<Json<serde_json::Value>, _>("payload")?.0,
    })
}

/// SQLite names the column, not the index, in a unique violation: report the index as
/// Postgres does, so the domain sees one name.
fn email_conflict(err: sqlx::Error) -> StoreError {
    match StoreError::from(err) {
        StoreError::Conflict(_) => StoreError::Conflict("users_email_key".into()),
        other => other,
    }
}

fn event_from_row(row: &SqliteRow) -> sqlx::Result<SecurityEventRecord> {
    Ok(SecurityEventRecord {
        occurred_at: time_at(row, "occurred_at")?,
        kind: row.try_get("kind")?,
        user_id: row.try_get("user_id")?,
        session_id: row.try_get("session_id")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        detail: row.try_get::<Json<serde_json::Value>, _>("detail")?.0,
    })
}

async fn insert_event(
    tx: &mut Transaction<'_, Sqlite>,
    event: &SecurityEventRecord,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO security_events (occurred_at, kind, user_id, session_id, ip, user_agent, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(to_micros(event.occurred_at))
    .bind(&event.kind)
    .bind(event.user_id)
    .bind(event.session_id)
    .bind(&event.ip)
    .bind(&event.user_agent)
    .bind(Json(&event.detail))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_refresh_token(
    tx: &mut Transaction<'_, Sqlite>,
    session_id: Uuid,
    token: &NewRefreshToken,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(token.id)
    .bind(session_id)
    .bind(&token.hash)
    .bind(to_micros(token.created_at))
    .bind(to_micros(token.expires_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The INSERT of one ticket, bound (a lone insert and the email-code replacement share it).
fn insert_ticket_query(
    ticket: &TicketRecord,
) -> sqlx::query::Query<'_, Sqlite, sqlx::sqlite::SqliteArguments> {
    sqlx::query(
        "INSERT INTO tickets (id, user_id, purpose, ticket_hash, created_at, expires_at,
             redirect_to, code_challenge, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(ticket.id)
    .bind(ticket.user_id)
    .bind(&ticket.purpose)
    .bind(&ticket.hash)
    .bind(to_micros(ticket.created_at))
    .bind(to_micros(ticket.expires_at))
    .bind(&ticket.redirect_to)
    .bind(&ticket.code_challenge)
    .bind(Json(&ticket.payload))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn pool_stats(&self) -> (u32, usize, u32) {
        (
            self.pool.size(),
            self.pool.num_idle(),
            self.pool.options().get_max_connections(),
        )
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn signing_keys(&self) -> StoreResult<Vec<KeyRecord>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY activates_at, created_at")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(key_from_row).collect::<sqlx::Result<_>>()?)
    }

    async fn insert_signing_key(&self, insertion: &KeyInsertion) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (kid) DO NOTHING",
        )
        .bind(&key.kid)
        .bind(Json(&key.public_jwk))
        .bind(&key.private_key)
        .bind(&key.encryption)
        .bind(&key.origin)
        .bind(to_micros(key.created_at))
        .bind(to_micros(key.published_at))
        .bind(to_micros(key.activates_at))
        .bind(key.retires_at.map(to_micros))
        .bind(key.expires_at.map(to_micros))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        if let (Some(previous), Some((retires_at, expires_at))) =
            (&newest, insertion.retire_previous)
        {
            sqlx::query("UPDATE signing_keys SET retires_at = ?2, expires_at = ?3 WHERE kid = ?1")
                .bind(previous)
                .bind(to_micros(retires_at))
                .bind(to_micros(expires_at))
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
        self.seal_key(kid, sealed, encryption).await
    }

    async fn revoke_signing_key(
        &self,
        revocation: &KeyRevocation,
    ) -> StoreResult<RevocationOutcome> {
        self.revoke_key(revocation).await
    }

    async fn revoked_signing_keys(&self) -> StoreResult<Vec<String>> {
        self.revoked_kids().await
    }

    async fn delete_expired_signing_keys(&self, now: OffsetDateTime) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM signing_keys WHERE expires_at <= ?1 AND revoked_at IS NULL")
                .bind(to_micros(now))
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, created_at, updated_at, email, email_verified, phone_number,
                 phone_number_verified, password_hash, password_changed_at, display_name,
                 avatar_url, locale, default_role, roles, is_anonymous, metadata, disabled)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )
        .bind(user.id)
        .bind(to_micros(user.created_at))
        .bind(to_micros(user.updated_at))
        .bind(&user.email)
        .bind(user.email_verified)
        .bind(&user.phone_number)
        .bind(user.phone_number_verified)
        .bind(&user.password_hash)
        .bind(user.password_changed_at.map(to_micros))
        .bind(&user.display_name)
        .bind(&user.avatar_url)
        .bind(&user.locale)
        .bind(&user.default_role)
        .bind(Json(&user.roles))
        .bind(user.is_anonymous)
        .bind(Json(&user.metadata))
        .bind(user.disabled)
        .execute(&self.pool)
        .await
        .map_err(email_conflict)?;
        Ok(())
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        // The column is COLLATE NOCASE, so this comparison ignores ASCII case.
        let row = sqlx::query("SELECT * FROM users WHERE email = ?1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(user_from_row).transpose()?)
    }

    async fn set_password_hash(
        &self,
        user_id: Uuid,
        old: &str,
        hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = ?3, updated_at = ?4
             WHERE id = ?1 AND password_hash = ?2",
        )
        .bind(user_id)
        .bind(old)
        .bind(hash)
        .bind(to_micros(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn update_user(
        &self,
        id: Uuid,
        update: &UserUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        // COALESCE keeps every column the update does not name; the password has its own
        // flag because removing it writes NULL.
        sqlx::query(
            "UPDATE users SET updated_at = ?2,
                 email = COALESCE(?3, email),
                 email_verified = COALESCE(?4, email_verified),
                 password_hash = CASE WHEN ?5 THEN ?6 ELSE password_hash END,
                 password_changed_at = COALESCE(?7, password_changed_at),
                 display_name = COALESCE(?8, display_name),
                 avatar_url = COALESCE(?9, avatar_url),
                 locale = COALESCE(?10, locale),
                 default_role = COALESCE(?11, default_role),
                 roles = COALESCE(?12, roles),
                 is_anonymous = COALESCE(?13, is_anonymous),
                 metadata = COALESCE(?14, metadata)
             WHERE id = ?1",
        )
        .bind(id)
        .bind(to_micros(now))
        .bind(&update.email)
        .bind(update.email_verified)
        .bind(update.password_hash.is_some())
        .bind(update.password_hash.clone().flatten())
        .bind(update.password_changed_at.map(to_micros))
        .bind(&update.display_name)
        .bind(&update.avatar_url)
        .bind(&update.locale)
        .bind(&update.default_role)
        .bind(update.roles.as_ref().map(Json))
        .bind(update.is_anonymous)
        .bind(update.metadata.as_ref().map(Json))
        .execute(&self.pool)
        .await
        .map_err(email_conflict)?;
        Ok(())
    }

    async fn set_user_disabled(
        &self,
        user_id: Uuid,
        disabled: bool,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET disabled = ?2, updated_at = ?3 WHERE id = ?1")
            .bind(user_id)
            .bind(disabled)
            .bind(to_micros(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_session(
        &self,
        session: &SessionRecord,
        token: &NewRefreshToken,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at,
                 absolute_expires_at, user_agent, ip)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(session.id)
        .bind(session.user_id)
        .bind(to_micros(session.created_at))
        .bind(to_micros(session.last_used_at))
        .bind(to_micros(session.expires_at))
        .bind(session.absolute_expires_at.map(to_micros))
        .bind(&session.user_agent)
        .bind(&session.ip)
        .execute(&mut *tx)
        .await?;
        insert_refresh_token(&mut tx, session.id, token).await?;
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
                    t.successor_sealed, n.rotated_at AS successor_rotated_at,
                    s.id AS session_id, s.user_id AS session_user_id,
                    s.created_at AS session_created_at,
                    s.last_used_at AS session_last_used_at,
                    s.expires_at AS session_expires_at,
                    s.absolute_expires_at AS session_absolute_expires_at,
                    s.revoked_at AS session_revoked_at, s.user_agent AS session_user_agent,
                    s.ip AS session_ip
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
                    successor_used: optional_time_at(&row, "successor_rotated_at")?.is_some(),
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
        Ok(plan)
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
        Ok(revoked)
    }

    async fn insert_ticket(&self, ticket: &TicketRecord) -> StoreResult<()> {
        insert_ticket_query(ticket).execute(&self.pool).await?;
        Ok(())
    }

    async fn ticket(&self, hash: &[u8]) -> StoreResult<Option<TicketRecord>> {
        let row = sqlx::query("SELECT * FROM tickets WHERE ticket_hash = ?1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(ticket_from_row).transpose()?)
    }

    async fn consume_ticket(
        &self,
        hash: &[u8],
        purpose: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>> {
        let row = sqlx::query(
            "UPDATE tickets SET used_at = ?3
             WHERE ticket_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
             RETURNING *",
        )
        .bind(hash)
        .bind(purpose)
        .bind(to_micros(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(ticket_from_row).transpose()?)
    }

    async fn replace_ticket(&self, ticket: &TicketRecord) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let spent = sqlx::query(
            "UPDATE tickets SET used_at = ?3
             WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL",
        )
        .bind(ticket.user_id)
        .bind(&ticket.purpose)
        .bind(to_micros(ticket.created_at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        insert_ticket_query(ticket).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(spent)
    }

    async fn attempt_ticket(
        &self,
        user_id: Uuid,
        purpose: &str,
        now: OffsetDateTime,
        max_attempts: i64,
    ) -> StoreResult<Option<(TicketRecord, i64)>> {
        // The conditions are repeated outside the subquery: a concurrent try that took the
        // last attempt (or a redemption) makes this one match nothing.
        let row = sqlx::query(
            "UPDATE tickets SET attempts = attempts + 1
             WHERE id = (SELECT id FROM tickets
                         WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL
                             AND expires_at > ?3
                         ORDER BY created_at DESC, id DESC LIMIT 1)
                 AND used_at IS NULL AND expires_at > ?3 AND attempts < ?4
             RETURNING *",
        )
        .bind(user_id)
        .bind(purpose)
        .bind(to_micros(now))
        .bind(max_attempts)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempts: i64 = row.try_get("attempts")?;
        Ok(Some((ticket_from_row(&row)?, attempts)))
    }

    async fn server_secret(
        &self,
        name: &str,
        candidate: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<u8>> {
        sqlx::query(
            "INSERT INTO server_secrets (name, secret, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(to_micros(now))
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query_scalar("SELECT secret FROM server_secrets WHERE name = ?1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn rate_limit_hits(
        &self,
        key: &str,
        window_start: OffsetDateTime,
    ) -> StoreResult<Option<(i64, OffsetDateTime)>> {
        let row = sqlx::query(
            "SELECT hits, window_started_at FROM rate_limits WHERE key = ?1 AND window_started_at > ?2",
        )
        .bind(key)
        .bind(to_micros(window_start))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> sqlx::Result<_> {
                Ok((r.try_get("hits")?, time_at(&r, "window_started_at")?))
            })
            .transpose()?)
    }

    async fn hit_rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        window_start: OffsetDateTime,
    ) -> StoreResult<(i64, OffsetDateTime)> {
        let row = sqlx::query(
            "INSERT INTO rate_limits (key, window_started_at, hits) VALUES (?1, ?2, 1)
             ON CONFLICT (key) DO UPDATE SET
                 hits = CASE WHEN rate_limits.window_started_at <= ?3 THEN 1
                             ELSE rate_limits.hits + 1 END,
                 window_started_at = CASE WHEN rate_limits.window_started_at <= ?3 THEN ?2
                                          ELSE rate_limits.window_started_at END
             RETURNING hits, window_started_at",
        )
        .bind(key)
        .bind(to_micros(now))
        .bind(to_micros(window_start))
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("hits")?, time_at(&row, "window_started_at")?))
    }

    async fn record_event(&self, event: &SecurityEventRecord) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn search_events(
        &self,
        filter: &EventFilter,
    ) -> StoreResult<Vec<(i64, SecurityEventRecord)>> {
        let rows = sqlx::query(
            "SELECT * FROM security_events
             WHERE (?1 IS NULL OR user_id = ?1)
               AND (?2 IS NULL OR kind = ?2)
               AND (?3 IS NULL OR occurred_at >= ?3)
               AND (?4 IS NULL OR occurred_at < ?4)
               AND (?5 IS NULL OR id < ?5)
             ORDER BY id DESC LIMIT ?6",
        )
        .bind(filter.user_id)
        .bind(&filter.kind)
        .bind(filter.since.map(to_micros))
        .bind(filter.until.map(to_micros))
        .bind(filter.before_id)
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| Ok((row.try_get("id")?, event_from_row(row)?)))
            .collect::<sqlx::Result<_>>()?)
    }

    async fn prune_sessions(&self, ended_before: OffsetDateTime, batch: i64) -> StoreResult<u64> {
        // One writer at a time in SQLite: small batches keep each write short.
        Ok(sqlx::query(
            "DELETE FROM sessions WHERE id IN (
                 SELECT id FROM sessions WHERE revoked_at < ?1 OR expires_at < ?1 LIMIT ?2)",
        )
        .bind(to_micros(ended_before))
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn forget_sealed_successors(
        &self,
        rotated_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE refresh_tokens SET successor_sealed = NULL WHERE id IN (
                 SELECT id FROM refresh_tokens
                 WHERE successor_sealed IS NOT NULL AND rotated_at < ?1 LIMIT ?2)",
        )
        .bind(to_micros(rotated_before))
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn prune_tickets(&self, expired_before: OffsetDateTime, batch: i64) -> StoreResult<u64> {
        Ok(sqlx::query(
            "DELETE FROM tickets WHERE id IN (SELECT id FROM tickets WHERE expires_at < ?1 LIMIT ?2)",
        )
        .bind(to_micros(expired_before))
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn prune_rate_limits(
        &self,
        window_started_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64> {
        Ok(sqlx::query(
            "DELETE FROM rate_limits WHERE key IN (
                 SELECT key FROM rate_limits WHERE window_started_at < ?1 LIMIT ?2)",
        )
        .bind(to_micros(window_started_before))
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn prune_anonymous_users(
        &self,
        ended_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64> {
        // Sessions and tickets go with the user (ON DELETE CASCADE); its events age out
        // with TESSERA_EVENT_RETENTION like everyone's.
        Ok(sqlx::query(
            "DELETE FROM users WHERE id IN (
                 SELECT u.id FROM users u
                 WHERE u.is_anonymous AND u.created_at < ?1
                   AND NOT EXISTS (
                       SELECT 1 FROM sessions s
                       WHERE s.user_id = u.id AND COALESCE(s.revoked_at, s.expires_at) >= ?1)
                 LIMIT ?2)",
        )
        .bind(to_micros(ended_before))
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn prune_events(&self, before: OffsetDateTime, batch: i64) -> StoreResult<u64> {
        Ok(sqlx::query(
            "DELETE FROM security_events WHERE id IN (
                 SELECT id FROM security_events WHERE occurred_at < ?1 ORDER BY id LIMIT ?2)",
        )
        .bind(to_micros(before))
        .bind(batch)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn list_users(
        &self,
        after: Option<UserCursor>,
        search: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UserRecord>> {
        // LIKE is case-insensitive for ASCII in SQLite.
        let rows = sqlx::query(
            "SELECT * FROM users
             WHERE (?1 IS NULL OR (created_at, id) > (?1, ?2))
               AND (?3 IS NULL OR email LIKE ?3 ESCAPE '\\' OR display_name LIKE ?3 ESCAPE '\\')
             ORDER BY created_at, id LIMIT ?4",
        )
        .bind(after.map(|a| to_micros(a.0)))
        .bind(after.map(|a| a.1))
        .bind(search.map(like_pattern))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(user_from_row)
            .collect::<sqlx::Result<_>>()?)
    }

    async fn delete_user(&self, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM security_events WHERE user_id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted == 1)
    }
}
