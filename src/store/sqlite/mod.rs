//! The SQLite store: the embedded default, so that `cargo run` needs nothing installed.
//!
//! SQLite has one writer at a time. Every transaction that writes starts with
//! `BEGIN IMMEDIATE`, taking the write lock before it reads, so that two refreshes of one
//! token are serialised exactly as the row locks serialise them on Postgres.
//! Timestamps are INTEGER microseconds (see the migration).

mod events;
mod keys;
mod limits;
mod liveness;
mod mfa;
mod oauth2;
mod oauth2_clients;
mod passkeys;
mod pats;
mod providers;
mod sessions;
mod tickets;
mod upkeep;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{Row, Sqlite, Transaction};
use time::OffsetDateTime;

use crate::store::{Changes, DatabaseStore, StoreError, StoreResult, from_micros};
use crate::support::owner_only;

/// A pool of connections to one SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// Where each method that ends a session or changes a user announces it, right after
    /// its commit (see `store::liveness`).
    changes: Changes,
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
        Ok(Self {
            pool,
            changes: Changes::default(),
        })
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

pub(super) fn time_at(row: &SqliteRow, column: &str) -> sqlx::Result<OffsetDateTime> {
    row.try_get::<i64, _>(column).map(from_micros)
}

pub(super) fn optional_time_at(
    row: &SqliteRow,
    column: &str,
) -> sqlx::Result<Option<OffsetDateTime>> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(from_micros))
}

#[async_trait]
impl DatabaseStore for SqliteStore {
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
}
