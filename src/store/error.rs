//! What a storage call can fail with, and how sqlx errors map onto it.

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
            E::Database(db) if is_transient(db.as_ref()) => StoreError::Unavailable(err),
            _ => StoreError::Database(err),
        }
    }
}

/// Database errors that mean "try again later", not "this request is wrong". Each backend's
/// codes are read as that backend's: a Postgres SQLSTATE such as `22021` (a NUL in a text
/// value, the client's fault) must never pass for a SQLite code that happens to share its
/// low byte with SQLITE_BUSY.
fn is_transient(db: &(dyn sqlx::error::DatabaseError + 'static)) -> bool {
    let Some(code) = db.code() else {
        return false;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // SQLite: SQLITE_BUSY and SQLITE_LOCKED (and their extended codes).
        return matches!(code.parse::<i32>().map(|c| c & 0xff), Ok(5 | 6));
    }
    // Postgres: connection exceptions (08...), admin shutdown / crash (57P0x),
    // serialization failure and deadlock (40001, 40P01), too many connections (53300).
    code.starts_with("08")
        || code.starts_with("57P")
        || matches!(&*code, "40001" | "40P01" | "53300")
}

/// Shorthand for storage results.
pub type StoreResult<T> = Result<T, StoreError>;
