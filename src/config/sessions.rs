//! The sessions section: how long refresh tokens and sessions live, the reuse grace
//! window, what counts as a recent sign-in, and how many live sessions each replica keeps
//! in memory.

use std::time::Duration;

use super::ConfigError;
use super::source::{Source, positive_duration};
use super::values::duration;

/// Entries of the liveness view by default: at most about 1 KB each (a user row with its
/// metadata, the session's few bytes), so some 50 MB when full; enough for the sessions
/// active within an access token's lifetime on a busy replica.
const DEFAULT_SESSION_CACHE_SIZE: usize = 50_000;

/// `TESSERA_REFRESH_TOKEN_TTL`, `TESSERA_SESSION_MAX_AGE`, `TESSERA_REFRESH_REUSE_GRACE`,
/// `TESSERA_RECENT_AUTH_WINDOW`, `TESSERA_SESSION_CACHE_SIZE`.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub refresh_token_ttl: Duration,
    pub session_max_age: Option<Duration>,
    pub refresh_reuse_grace: Duration,
    /// How old a session's sign-in may be for a password change without the current
    /// password.
    pub recent_auth_window: Duration,
    /// Live sessions (and as many users) the liveness view keeps in memory; 0 turns the
    /// cache off, and every check asks the database.
    pub session_cache_size: usize,
}

impl SessionConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            refresh_token_ttl: env.parsed(
                "TESSERA_REFRESH_TOKEN_TTL",
                "30d",
                Duration::from_secs(30 * 86_400),
                positive_duration,
            )?,
            session_max_age: env.optional("TESSERA_SESSION_MAX_AGE", "90d", positive_duration)?,
            refresh_reuse_grace: env.parsed(
                "TESSERA_REFRESH_REUSE_GRACE",
                "30s",
                Duration::from_secs(30),
                duration,
            )?,
            recent_auth_window: env.parsed(
                "TESSERA_RECENT_AUTH_WINDOW",
                "10m",
                Duration::from_secs(600),
                duration,
            )?,
            session_cache_size: env.parsed(
                "TESSERA_SESSION_CACHE_SIZE",
                "50000",
                DEFAULT_SESSION_CACHE_SIZE,
                |raw| {
                    raw.parse::<usize>()
                        .map_err(|_| "is not a whole number (0 turns the cache off)".to_owned())
                },
            )?,
        })
    }
}
