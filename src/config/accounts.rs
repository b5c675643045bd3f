//! The accounts section: who may sign up, with which roles, whether the address must be
//! verified first, and where emailed links may lead.

use url::Url;

use super::roles::RoleConfig;
use super::source::Source;
use super::{ConfigError, values};

/// `TESSERA_DISABLE_SIGNUP`, `TESSERA_REQUIRE_EMAIL_VERIFICATION`, the email domain lists,
/// the roles and `TESSERA_ALLOWED_REDIRECT_URLS`.
#[derive(Debug, Clone)]
pub struct AccountConfig {
    /// When not empty, only these email domains may sign up.
    pub allowed_email_domains: Vec<String>,
    /// These email domains may never sign up.
    pub blocked_email_domains: Vec<String>,
    pub require_email_verification: bool,
    pub disable_signup: bool,
    /// The roles of self-registered accounts.
    pub roles: RoleConfig,
    pub allowed_redirect_urls: Vec<String>,
}

impl AccountConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            allowed_email_domains: email_domains(env, "TESSERA_ALLOWED_EMAIL_DOMAINS")?,
            blocked_email_domains: email_domains(env, "TESSERA_BLOCKED_EMAIL_DOMAINS")?,
            require_email_verification: env.parsed(
                "TESSERA_REQUIRE_EMAIL_VERIFICATION",
                "false",
                false,
                values::boolean,
            )?,
            disable_signup: env.parsed(
                "TESSERA_DISABLE_SIGNUP",
                "false",
                false,
                values::boolean,
            )?,
            roles: RoleConfig::parse(env)?,
            allowed_redirect_urls: env
                .optional(
                    "TESSERA_ALLOWED_REDIRECT_URLS",
                    "https://app.example.com/auth/callback",
                    |raw| {
                        let urls = values::list(raw);
                        match urls.iter().find(|u| Url::parse(u).is_err()) {
                            Some(bad) => Err(format!("has `{bad}`, which is not an absolute URL")),
                            None => Ok(urls),
                        }
                    },
                )?
                .unwrap_or_default(),
        })
    }
}

fn email_domains(env: &Source<'_>, var: &'static str) -> Result<Vec<String>, ConfigError> {
    Ok(env
        .optional(var, "example.com,example.org", |raw| {
            let domains: Vec<String> = values::list(raw)
                .into_iter()
                .map(|d| d.trim_start_matches('@').to_lowercase())
                .collect();
            match domains.iter().find(|d| !d.contains('.') || d.contains('@')) {
                Some(bad) => Err(format!("has `{bad}`, which is not a domain")),
                None => Ok(domains),
            }
        })?
        .unwrap_or_default())
}
