//! Logging: human-readable on a terminal, one JSON object per line with
//! `TESSERA_LOG_FORMAT=json`. Request spans never record headers, bodies or query strings.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Crates whose debug and trace output would carry what must not be logged, capped at
/// `info` whatever `TESSERA_LOG` says: webauthn-rs traces a ceremony's whole state (its
/// challenge) and the client's credential.
pub const CAPPED: &str = "webauthn_rs_core=info,webauthn_rs=info";

/// Installs the global subscriber; a second call (in tests) is a no-op.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_new(format!("{level},{CAPPED}"))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{CAPPED}")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
