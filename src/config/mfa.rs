//! The second-factor section: what authenticator apps show for Tessera's TOTP entries.

use super::ConfigError;
use super::source::Source;

/// `TESSERA_MFA_ISSUER`.
#[derive(Debug, Clone)]
pub struct MfaConfig {
    /// The issuer of the otpauth URI (an authenticator app's label for the entry).
    pub issuer: String,
}

impl MfaConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            issuer: env.parsed(
                "TESSERA_MFA_ISSUER",
                "Example",
                "Tessera".to_owned(),
                |raw| {
                    if raw.contains(':') {
                        Err("contains `:`, which an otpauth label cannot hold".into())
                    } else if raw.chars().count() > 64 || raw.chars().any(char::is_control) {
                        Err("is longer than 64 characters or holds control characters".into())
                    } else {
                        Ok(raw.to_owned())
                    }
                },
            )?,
        })
    }
}
