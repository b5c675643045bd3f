//! The database section: which store, and how its connections are pooled.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::ConfigError;
use super::source::{Source, error, number, positive_duration};

/// Where the data lives.
#[derive(Debug)]
pub enum Database {
    /// `DATABASE_URL=postgres://...`: the production store.
    Postgres(SecretString),
    /// The embedded default: a SQLite file, created (with its directory) on first start.
    Sqlite(PathBuf),
}

/// `DATABASE_URL`, `TESSERA_DATABASE_MAX_CONNECTIONS`, `TESSERA_DATABASE_TIMEOUT`.
#[derive(Debug)]
pub struct DatabaseConfig {
    pub location: Database,
    pub max_connections: u32,
    /// How long a request waits for a database connection before answering 503.
    pub timeout: Duration,
}

impl DatabaseConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            location: match env.raw("DATABASE_URL") {
                None => Database::Sqlite(PathBuf::from("data/tessera.db")),
                Some(url) => parse_database_url(&url)?,
            },
            max_connections: env.parsed("TESSERA_DATABASE_MAX_CONNECTIONS", "10", 10, number)?,
            timeout: env.parsed(
                "TESSERA_DATABASE_TIMEOUT",
                "3s",
                Duration::from_secs(3),
                positive_duration,
            )?,
        })
    }
}

fn parse_database_url(url: &str) -> Result<Database, ConfigError> {
    const EXAMPLE: &str = "postgres://user:password@localhost:5432/tessera";
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Database::Postgres(SecretString::from(url.to_owned())));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(error("DATABASE_URL", "names no SQLite file", EXAMPLE));
        }
        return Ok(Database::Sqlite(PathBuf::from(path)));
    }
    Err(error(
        "DATABASE_URL",
        "is neither a postgres:// nor a sqlite:// URL",
        EXAMPLE,
    ))
}

impl DatabaseConfig {
    /// A description safe to log (see [`Database::describe`]).
    pub fn describe(&self) -> String {
        self.location.describe()
    }
}

impl Database {
    /// A description safe to log: the backend and, for Postgres, host and database only.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite ({})", path.display()),
            Database::Postgres(url) => match Url::parse(url.expose_secret()) {
                Ok(url) => format!(
                    "postgres ({}{})",
                    url.host_str().unwrap_or("localhost"),
                    url.path()
                ),
                Err(_) => "postgres".into(),
            },
        }
    }
}
