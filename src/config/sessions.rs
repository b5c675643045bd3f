//! The sessions section: how long refresh tokens and sessions live, the reuse grace
//! window, and what counts as a recent sign-in.

use std::time::Duration;

use super::ConfigError;
use super::source::{Source, positive_duration};
use super::values::duration;

/// `TESSERA_REFRESH_TOKEN_TTL`, `TESSERA_SESSION_MAX_AGE`, `TESSERA_REFRESH_REUSE_GRACE`,
/// `TESSERA_RECENT_AUTH_WINDOW`.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub refresh_token_ttl: Duration,
    pub session_max_age: Option<Duration>,
    pub refresh_reuse_grace: Duration,
    /// How old a session's sign-in may be for a password change without the current
    /// password.
    pub recent_auth_window: Duration,
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
        })
    }
}
