//! Typed configuration, read once at start-up from the environment (and `.env`).
//!
//! One file per section, each parsing its own variables; a service receives the sections
//! it needs, never the whole [`Config`]. Every variable is listed with its default in
//! `.env.example` and the README. Any invalid value stops start-up with one line naming
//! the variable, the problem and a valid example; secrets are never echoed back.

mod accounts;
mod claims;
mod cookies;
mod database;
mod email;
mod keys;
mod logging;
mod mfa;
mod oauth2;
mod passwords;
mod providers;
mod rate_limits;
mod retention;
mod roles;
mod server;
mod sessions;
mod source;
mod tokens;
mod values;
mod webauthn;

pub use accounts::AccountConfig;
pub use claims::{ClaimSource, CustomClaims, HASURA_NAMESPACE};
pub use cookies::{AuthMode, CookieConfig, SameSite};
pub use database::{Database, DatabaseConfig};
pub use email::EmailConfig;
pub use keys::{KeyConfig, parse_encryption_key};
pub use logging::{LogConfig, LogFormat};
pub use mfa::MfaConfig;
pub use oauth2::{OAuthProviderConfig, STANDARD_SCOPES as STANDARD_OAUTH2_SCOPES, valid_scope};
pub use passwords::PasswordConfig;
pub use providers::{
    GITHUB as GITHUB_PROVIDER, GithubConfig, OidcProviderConfig, ProvidersConfig, ResponseMode,
};
pub use rate_limits::{Rate, RateLimits};
pub use retention::RetentionConfig;
pub use roles::{RoleConfig, valid_role_name};
pub use server::{ClientIpHeader, ConnectionConfig, ServerConfig};
pub use sessions::SessionConfig;
pub use tokens::TokenConfig;
pub use webauthn::WebauthnConfig;

use source::{Source, error};

/// A configuration value that cannot be used; its `Display` is the one line users see.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var} {problem}; for example {var}={example}")]
pub struct ConfigError {
    /// The variable; a provider's variables have names made from the provider's.
    pub var: std::borrow::Cow<'static, str>,
    pub problem: String,
    pub example: &'static str,
}

/// Everything Tessera reads from its environment, by section.
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub server: ServerConfig,
    pub tokens: TokenConfig,
    pub sessions: SessionConfig,
    pub keys: KeyConfig,
    pub cookies: CookieConfig,
    pub email: EmailConfig,
    pub accounts: AccountConfig,
    pub passwords: PasswordConfig,
    pub rate_limits: RateLimits,
    pub retention: RetentionConfig,
    pub logging: LogConfig,
    pub mfa: MfaConfig,
    pub webauthn: WebauthnConfig,
    pub providers: ProvidersConfig,
    pub oauth2: OAuthProviderConfig,
}

impl Config {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is reported by name.
        if let Err(err) = dotenvy::dotenv()
            && !err.not_found()
        {
            return Err(error(".env", format!("cannot be read: {err}"), "KEY=value"));
        }
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect();
        Self::from_lookup_and_names(&|var| std::env::var(var).ok(), &names)
    }

    /// [`from_lookup_and_names`](Self::from_lookup_and_names) with no names: no provider
    /// is configured (their variables are found by name).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_lookup_and_names(lookup, &[])
    }

    /// Builds the configuration from any source of variables (tests pass a map). Each
    /// section parses its own variables; the checks that span sections are here.
    /// `names` are the variables set, so that sections whose variables are named by the
    /// operator (an OpenID Connect provider's) can find them.
    pub fn from_lookup_and_names(
        lookup: &dyn Fn(&str) -> Option<String>,
        names: &[String],
    ) -> Result<Self, ConfigError> {
        let env = Source { lookup, names };
        let server = ServerConfig::parse(&env)?;
        let database = DatabaseConfig::parse(&env)?;
        if database.timeout >= server.request_timeout {
            return Err(error(
                "TESSERA_DATABASE_TIMEOUT",
                "must be shorter than TESSERA_REQUEST_TIMEOUT, so that a lost database is answered with 503 before the request times out",
                "3s",
            ));
        }
        Ok(Config {
            tokens: TokenConfig::parse(&env, &server.public_url)?,
            sessions: SessionConfig::parse(&env)?,
            cookies: CookieConfig::parse(&env, &server.public_url)?,
            keys: KeyConfig::parse(&env, &database.location)?,
            email: EmailConfig::parse(&env)?,
            accounts: AccountConfig::parse(&env)?,
            passwords: PasswordConfig::parse(&env)?,
            rate_limits: RateLimits::parse(&env)?,
            retention: RetentionConfig::parse(&env)?,
            logging: LogConfig::parse(&env)?,
            mfa: MfaConfig::parse(&env)?,
            webauthn: WebauthnConfig::parse(&env, &server)?,
            providers: ProvidersConfig::parse(&env)?,
            oauth2: OAuthProviderConfig::parse(&env, &server)?,
            database,
            server,
        })
    }
}

#[cfg(test)]
mod tests;
