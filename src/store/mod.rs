//! Storage: one interface, two implementations (Postgres for production, SQLite embedded).
//!
//! The domain talks to `dyn Store` only. Each implementation keeps its SQL next to the code
//! that runs it; the schema lives in `migrations/<backend>/`. Both pass the same test suite.

mod postgres;
mod records;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use time::OffsetDateTime;
use uuid::Uuid;

pub use records::*;

use crate::config::{Database, DatabaseConfig};

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (answered as 503, retried by clients).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// A unique constraint refused the write; the name says which one.
    #[error("unique constraint {0} violated")]
    Conflict(String),
    /// Anything else: a bug or a broken database, answered as 500.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &err {
            // A protocol error is a broken stream (a connection cut during the handshake
            // reads as "unexpected response from SSLRequest"), not a bad request.
            E::Io(_)
            | E::Tls(_)
            | E::Protocol(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::WorkerCrashed => StoreError::Unavailable(err),
            E::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or("unique").to_owned())
            }
            E::Database(db) if is_transient(db.code().as_deref()) => StoreError::Unavailable(err),
            _ => StoreError::Database(err),
        }
    }
}

/// Database error codes that mean "try again later", not "this request is wrong".
fn is_transient(code: Option<&str>) -> bool {
    match code {
        // Postgres: connection exceptions (08...), admin shutdown / crash (57P0x),
        // serialization failure and deadlock (40001, 40P01), too many connections (53300).
        Some(code) if code.starts_with("08") || code.starts_with("57P") => true,
        Some("40001" | "40P01" | "53300") => true,
        // SQLite: SQLITE_BUSY and SQLITE_LOCKED (and their extended codes).
        Some(code) => matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(5 | 6)),
        None => false,
    }
}

/// Shorthand for storage results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Personal access tokens (`crate::domain::pats`), and the sessions they start. Part of [`Store`];
/// each backend implements it in its own `pats.rs`.
#[async_trait]
pub trait PatStore: Send + Sync + 'static {
    /// Stores a new PAT (only its hash).
    async fn insert_pat(&self, pat: &PatRecord) -> StoreResult<()>;
    /// The PAT with this hash if it is unrevoked and unexpired at `now`, its `last_used_at`
    /// set to `now` in the same statement.
    async fn use_pat(&self, hash: &[u8], now: OffsetDateTime) -> StoreResult<Option<PatRecord>>;
    /// A PAT by id, whatever its state.
    async fn pat(&self, id: Uuid) -> StoreResult<Option<PatRecord>>;
    /// The user's unrevoked, unexpired PATs, newest first.
    async fn live_pats(&self, user_id: Uuid, now: OffsetDateTime) -> StoreResult<Vec<PatRecord>>;
    /// Marks a session as started with this PAT.
    async fn link_pat_session(&self, session_id: Uuid, pat_id: Uuid) -> StoreResult<()>;
    /// Whether a session was started with a PAT.
    async fn session_from_pat(&self, session_id: Uuid) -> StoreResult<bool>;
    /// Revokes one unrevoked PAT of `user_id` and ends the sessions it started, recording
    /// `event`, in one transaction; false when there was no such PAT.
    async fn revoke_pat(
        &self,
        id: Uuid,
        user_id: Uuid,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool>;
    /// Revokes every unrevoked PAT of a user and ends the sessions they started, recording
    /// `event` when there was any, in one transaction; returns how many PATs.
    async fn revoke_user_pats(
        &self,
        user_id: Uuid,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<u64>;
    /// Deletes up to `batch` PATs that expired or were revoked before `ended_before`;
    /// returns how many.
    async fn prune_pats(&self, ended_before: OffsetDateTime, batch: i64) -> StoreResult<u64>;
}

/// Everything Tessera keeps. Times are always passed in from the domain's clock.
#[async_trait]
pub trait Store: PatStore + Send + Sync + 'static {
    /// `"postgres"` or `"sqlite"`.
    fn backend(&self) -> &'static str;
    /// Connections open, idle, and the maximum (for metrics).
    fn pool_stats(&self) -> (u32, usize, u32);
    /// One round trip, for health checks.
    async fn ping(&self) -> StoreResult<()>;
    /// Applies the embedded migrations of this backend.
    async fn migrate(&self) -> StoreResult<()>;
    /// Closes every connection (at shutdown).
    async fn close(&self);

    /// Every signing key, oldest first.
    async fn signing_keys(&self) -> StoreResult<Vec<KeyRecord>>;
    /// Adds a key if the newest unrevoked key is still `expected_newest`; false if another
    /// process changed the key set first (or the kid exists).
    async fn insert_signing_key(&self, insertion: &KeyInsertion) -> StoreResult<bool>;
    /// Replaces a key stored in clear (`encryption = 'none'`) by its sealing; false when
    /// it is not stored in clear (any more).
    async fn seal_signing_key(
        &self,
        kid: &str,
        sealed: &[u8],
        encryption: &str,
    ) -> StoreResult<bool>;
    /// Revokes a key as [`KeyRevocation`] says, in one transaction.
    async fn revoke_signing_key(
        &self,
        revocation: &KeyRevocation,
    ) -> StoreResult<RevocationOutcome>;
    /// The kids of the revoked keys: a small query replicas poll between reloads, so that a
    /// revocation elsewhere is applied within seconds.
    async fn revoked_signing_keys(&self) -> StoreResult<Vec<String>>;
    /// Removes unrevoked keys whose `expires_at` is at or before `now` (revoked keys stay
    /// as tombstones); returns how many.
    async fn delete_expired_signing_keys(&self, now: OffsetDateTime) -> StoreResult<u64>;

    /// Inserts a user; `Conflict("users_email_key")` when the email is taken.
    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    /// Looks a user up by normalised email.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// Replaces a password hash that is still `old` (a rehash on sign-in after a parameter
    /// change must not undo a password changed meanwhile); false when it was not.
    async fn set_password_hash(
        &self,
        user_id: Uuid,
        old: &str,
        hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Writes the columns `update` names, and `updated_at`, of an existing user, leaving
    /// every other column as it is; `Conflict("users_email_key")` when the email is taken.
    async fn update_user(
        &self,
        id: Uuid,
        update: &UserUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Sets the disabled flag; returns false for an unknown user.
    async fn set_user_disabled(
        &self,
        user_id: Uuid,
        disabled: bool,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// Creates a session with its first refresh token, in one transaction.
    async fn create_session(
        &self,
        session: &SessionRecord,
        token: &NewRefreshToken,
    ) -> StoreResult<()>;
    /// The refresh-token exchange: locks the presented token's session, lets `decide` choose
    /// from what it sees (`None`: unknown token), carries the plan out in the same
    /// transaction and returns it.
    async fn rotate_refresh_token(
        &self,
        token_hash: &[u8],
        decide: &(dyn Fn(Option<TokenState>) -> RotationPlan + Send + Sync),
    ) -> StoreResult<RotationPlan>;
    /// The common case of the exchange in one round trip: if the presented token is current,
    /// unexpired, and its session live and user enabled, rotates it as `rotation` says and
    /// returns the session as updated; otherwise changes nothing and returns `None`, and the
    /// caller goes through `rotate_refresh_token`. The conditions are exactly those under
    /// which `sessions::decide` chooses `Rotate`. The default always answers `None`.
    async fn rotate_current_refresh_token(
        &self,
        _token_hash: &[u8],
        _rotation: &CurrentRotation,
    ) -> StoreResult<Option<RotatedSession>> {
        Ok(None)
    }
    /// The session a refresh token (current or rotated) belongs to.
    async fn session_by_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<SessionRecord>>;
    /// Whether a refresh token is its session's current one (unrotated, unexpired at `now`)
    /// and that session is live (unrevoked, unexpired, under its cap, its user enabled).
    async fn refresh_token_is_current(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    async fn session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>>;
    /// Whether the session is unrevoked, unexpired at `now`, and its user enabled.
    async fn session_is_live(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<bool>;
    /// The user's live sessions, newest first.
    async fn live_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Revokes one session (if `user_id` matches) and records `event` with it; false when
    /// there was no such live session.
    async fn revoke_session(
        &self,
        id: Uuid,
        user_id: Uuid,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool>;
    /// Revokes every live session of a user except `keep`; returns how many.
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<u64>;

    /// Stores a ticket (only its hash).
    async fn insert_ticket(&self, ticket: &TicketRecord) -> StoreResult<()>;
    /// A ticket by hash, used or not.
    async fn ticket(&self, hash: &[u8]) -> StoreResult<Option<TicketRecord>>;
    /// Marks a ticket used if it has this purpose, is unused and unexpired at `now`, in
    /// one statement (two concurrent redemptions cannot both succeed); returns it then.
    async fn consume_ticket(
        &self,
        hash: &[u8],
        purpose: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>>;
    /// Stores a ticket and spends (marks used) every unused ticket of the same user and
    /// purpose, in one transaction: at most one is live per user and purpose (email
    /// codes). Returns how many were spent.
    async fn replace_ticket(&self, ticket: &TicketRecord) -> StoreResult<u64>;
    /// Counts one try against the user's newest unused, unexpired ticket of this purpose,
    /// in one statement, unless it has had `max_attempts` already (then nothing changes).
    /// Returns the ticket and its tries including this one.
    async fn attempt_ticket(
        &self,
        user_id: Uuid,
        purpose: &str,
        now: OffsetDateTime,
        max_attempts: i64,
    ) -> StoreResult<Option<(TicketRecord, i64)>>;

    /// The server secret named `name`, shared by every replica: `candidate` is stored if
    /// there is none yet, and whichever row exists afterwards is returned (concurrent first
    /// starts agree on one).
    async fn server_secret(
        &self,
        name: &str,
        candidate: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<u8>>;

    /// The hits of a rate-limit counter in its current window (started after `window_start`).
    async fn rate_limit_hits(
        &self,
        key: &str,
        window_start: OffsetDateTime,
    ) -> StoreResult<Option<(i64, OffsetDateTime)>>;
    /// Counts one hit: a window older than `window_start` starts over at `now`. Returns the
    /// hits and the start of the window they belong to. One statement, so concurrent hits
    /// from several replicas all count.
    async fn hit_rate_limit(
        &self,
        key: &str,
        now: OffsetDateTime,
        window_start: OffsetDateTime,
    ) -> StoreResult<(i64, OffsetDateTime)>;

    /// Appends to the security event log.
    async fn record_event(&self, event: &SecurityEventRecord) -> StoreResult<()>;
    /// Events matching `filter`, newest first, with their ids (for cursors).
    async fn search_events(
        &self,
        filter: &EventFilter,
    ) -> StoreResult<Vec<(i64, SecurityEventRecord)>>;
    /// Deletes up to `batch` sessions that ended (revoked or expired) before `ended_before`,
    /// with their refresh tokens; returns how many sessions.
    async fn prune_sessions(&self, ended_before: OffsetDateTime, batch: i64) -> StoreResult<u64>;
    /// Forgets the sealed successors of up to `batch` tokens rotated before
    /// `rotated_before` (the grace window that needed them is over); returns how many.
    async fn forget_sealed_successors(
        &self,
        rotated_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64>;
    /// Deletes up to `batch` tickets that expired before `expired_before`; returns how many.
    async fn prune_tickets(&self, expired_before: OffsetDateTime, batch: i64) -> StoreResult<u64>;
    /// Deletes up to `batch` events older than `before`; returns how many.
    async fn prune_events(&self, before: OffsetDateTime, batch: i64) -> StoreResult<u64>;
    /// Deletes up to `batch` rate-limit counters whose window started before
    /// `window_started_before` (spent: the next hit starts a new window); returns how many.
    async fn prune_rate_limits(
        &self,
        window_started_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64>;
    /// Deletes up to `batch` anonymous users created before `ended_before` that have no
    /// session ending (revoked or expiring) at or after it, with what names them; returns
    /// how many.
    async fn prune_anonymous_users(
        &self,
        ended_before: OffsetDateTime,
        batch: i64,
    ) -> StoreResult<u64>;
    /// A page of users ordered by creation, after `after`, optionally matching `search`
    /// in the email or display name (case-insensitive).
    async fn list_users(
        &self,
        after: Option<UserCursor>,
        search: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UserRecord>>;
    /// Deletes a user with everything that names it: sessions, refresh tokens, tickets and
    /// its security events. False for an unknown user.
    async fn delete_user(&self, id: Uuid) -> StoreResult<bool>;
    /// The most recent events of a user (or of everyone), newest first.
    async fn events(
        &self,
        user_id: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<SecurityEventRecord>> {
        let filter = EventFilter {
            user_id,
            limit,
            ..EventFilter::default()
        };
        Ok(self
            .search_events(&filter)
            .await?
            .into_iter()
            .map(|(_, event)| event)
            .collect())
    }
}

/// Connects to the configured database (creating the SQLite file and its directory).
pub async fn connect(config: &DatabaseConfig) -> StoreResult<Arc<dyn Store>> {
    Ok(match &config.location {
        Database::Postgres(url) => Arc::new(
            postgres::PgStore::connect(url.expose_secret(), config.max_connections, config.timeout)
                .await?,
        ),
        Database::Sqlite(path) => Arc::new(
            sqlite::SqliteStore::connect(path, config.max_connections, config.timeout).await?,
        ),
    })
}

/// Microseconds since the epoch: how SQLite stores time, and the precision everywhere.
pub(crate) fn to_micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000) as i64
}

/// The inverse of [`to_micros`].
pub(crate) fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `%term%` for LIKE, with the term's own wildcards escaped.
pub(crate) fn like_pattern(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}
