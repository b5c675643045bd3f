//! The retention section: how long the upkeep keeps security events and anonymous users.

use std::time::Duration;

use super::ConfigError;
use super::source::Source;
use super::values::duration;

/// `TESSERA_EVENT_RETENTION`, `TESSERA_ANONYMOUS_USER_RETENTION`; zero keeps forever.
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// How long security events are kept.
    pub events: Duration,
    /// Anonymous users whose last session ended this long ago are deleted.
    pub anonymous_users: Duration,
}

impl RetentionConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            events: env.parsed(
                "TESSERA_EVENT_RETENTION",
                "90d",
                Duration::from_secs(90 * 86_400),
                duration,
            )?,
            anonymous_users: env.parsed(
                "TESSERA_ANONYMOUS_USER_RETENTION",
                "30d",
                Duration::from_secs(30 * 86_400),
                duration,
            )?,
        })
    }
}
