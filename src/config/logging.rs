//! The logging section: format and level.

use super::ConfigError;
use super::source::Source;

/// Log output: human-readable for a terminal, or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `TESSERA_LOG_FORMAT`, `TESSERA_LOG_LEVEL`.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

impl LogConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            format: env.parsed(
                "TESSERA_LOG_FORMAT",
                "json",
                LogFormat::Pretty,
                |raw| match raw {
                    "pretty" => Ok(LogFormat::Pretty),
                    "json" => Ok(LogFormat::Json),
                    _ => Err("is not `pretty` or `json`".into()),
                },
            )?,
            level: env.parsed("TESSERA_LOG_LEVEL", "info", "info".to_owned(), |raw| {
                tracing_subscriber::EnvFilter::try_new(raw)
                    .map(|_| raw.to_owned())
                    .map_err(|_| "is not a log level or filter".to_string())
            })?,
        })
    }
}
