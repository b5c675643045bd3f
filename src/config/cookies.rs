//! The cookies section: how browsers receive tokens, and the device cookie.

use std::time::Duration;

use url::Url;

use super::source::{Source, error, positive_duration};
use super::{ConfigError, values};

/// How a request that does not say otherwise receives its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Tokens in the JSON body, sent back as `Authorization: Bearer`.
    Bearer,
    /// Tokens in HttpOnly cookies (the README's browser section).
    Cookie,
}

/// The SameSite attribute of every cookie Tessera sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

/// Cookie transport (the README's browser section).
#[derive(Debug, Clone)]
pub struct CookieConfig {
    pub default_auth_mode: AuthMode,
    pub same_site: SameSite,
    pub domain: Option<String>,
    pub secure: bool,
    pub expose_access_token: bool,
    /// How long a device cookie lets its client past an account's failed-sign-in lock
    /// (`TESSERA_DEVICE_COOKIE_TTL`).
    pub device_ttl: Duration,
}

impl CookieConfig {
    /// Cookies on an https public URL are always Secure; SameSite=None needs Secure.
    pub(super) fn parse(env: &Source<'_>, public_url: &Url) -> Result<Self, ConfigError> {
        let public_is_https = public_url.scheme() == "https";
        let secure = env.parsed("TESSERA_COOKIE_SECURE", "true", true, values::boolean)?;
        if public_is_https && !secure {
            return Err(error(
                "TESSERA_COOKIE_SECURE",
                "= \"false\" contradicts an https TESSERA_PUBLIC_URL (cookies are always Secure there)",
                "true",
            ));
        }
        let same_site =
            env.parsed(
                "TESSERA_COOKIE_SAMESITE",
                "lax",
                SameSite::Strict,
                |raw| match raw.to_ascii_lowercase().as_str() {
                    "strict" => Ok(SameSite::Strict),
                    "lax" => Ok(SameSite::Lax),
                    "none" => Ok(SameSite::None),
                    _ => Err("is not `strict`, `lax` or `none`".into()),
                },
            )?;
        if same_site == SameSite::None && !(secure || public_is_https) {
            return Err(error(
                "TESSERA_COOKIE_SAMESITE",
                "= \"none\" needs Secure cookies (browsers drop SameSite=None without Secure); unset TESSERA_COOKIE_SECURE=false",
                "lax",
            ));
        }
        Ok(Self {
            default_auth_mode: env.parsed(
                "TESSERA_DEFAULT_AUTH_MODE",
                "cookie",
                AuthMode::Bearer,
                |raw| match raw {
                    "bearer" => Ok(AuthMode::Bearer),
                    "cookie" => Ok(AuthMode::Cookie),
                    _ => Err("is not `bearer` or `cookie`".into()),
                },
            )?,
            same_site,
            domain: env.optional("TESSERA_COOKIE_DOMAIN", "example.com", |raw| {
                cookie_domain(raw, public_url)
            })?,
            secure: secure || public_is_https,
            expose_access_token: env.parsed(
                "TESSERA_EXPOSE_ACCESS_TOKEN",
                "false",
                false,
                values::boolean,
            )?,
            device_ttl: env.parsed(
                "TESSERA_DEVICE_COOKIE_TTL",
                "365d",
                Duration::from_secs(365 * 86_400),
                positive_duration,
            )?,
        })
    }
}

fn cookie_domain(raw: &str, public_url: &Url) -> Result<String, String> {
    let domain = raw.trim_start_matches('.').to_ascii_lowercase();
    let host = public_url
        .host_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if host == domain || host.ends_with(&format!(".{domain}")) {
        Ok(domain)
    } else {
        Err(format!(
            "does not cover the public URL's host `{host}`, so browsers would refuse the cookies"
        ))
    }
}
