//! The email section: how messages leave (SMTP, or an outbox directory in development)
//! and which templates they use.

use std::path::PathBuf;

use secrecy::SecretString;
use url::Url;

use super::ConfigError;
use super::source::Source;

/// `TESSERA_SMTP_URL`, `TESSERA_EMAIL_FROM`, `TESSERA_OUTBOX_DIR`,
/// `TESSERA_EMAIL_TEMPLATES_DIR`.
#[derive(Debug)]
pub struct EmailConfig {
    pub smtp_url: Option<SecretString>,
    pub from: String,
    /// Where messages go without SMTP (development).
    pub outbox_dir: PathBuf,
    /// Operator templates overriding the built-in ones.
    pub templates_dir: Option<PathBuf>,
}

impl EmailConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            smtp_url: env.optional(
                "TESSERA_SMTP_URL",
                "smtp://user:pass@smtp.example.com:587",
                parse_smtp_url,
            )?,
            from: env.parsed(
                "TESSERA_EMAIL_FROM",
                "\"Example <no-reply@example.com>\"",
                "Tessera <no-reply@localhost>".to_owned(),
                |raw| {
                    if raw.contains('@') {
                        Ok(raw.to_owned())
                    } else {
                        Err("is not an email address".into())
                    }
                },
            )?,
            outbox_dir: env
                .raw("TESSERA_OUTBOX_DIR")
                .map_or_else(|| PathBuf::from("data/outbox"), PathBuf::from),
            templates_dir: env.optional(
                "TESSERA_EMAIL_TEMPLATES_DIR",
                "/etc/tessera/templates",
                |raw| {
                    let dir = PathBuf::from(raw);
                    if dir.is_dir() {
                        Ok(dir)
                    } else {
                        Err("is not a directory".into())
                    }
                },
            )?,
        })
    }
}

fn parse_smtp_url(raw: &str) -> Result<SecretString, String> {
    let url = Url::parse(raw).map_err(|_| "is not a URL".to_string())?;
    if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
        return Err("is not an smtp:// or smtps:// URL with a host".into());
    }
    if url
        .query_pairs()
        .any(|(k, v)| k != "starttls" || !matches!(v.as_ref(), "required" | "opportunistic"))
    {
        return Err("has a query other than ?starttls=required|opportunistic".into());
    }
    Ok(SecretString::from(raw.to_owned()))
}
