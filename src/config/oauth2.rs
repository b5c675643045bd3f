//! The OAuth 2.1 / OpenID provider section: Tessera signing other apps in.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::ConfigError;
use super::server::ServerConfig;
use super::source::{Source, error, long_secret, positive_duration};
use super::values;

/// The scopes every provider has; operator-defined ones come on top.
pub const STANDARD_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// `TESSERA_OAUTH2_PROVIDER`, `TESSERA_OAUTH2_LOGIN_URL`, `TESSERA_OAUTH2_SCOPES`,
/// `TESSERA_OAUTH2_CODE_TTL`, `TESSERA_OAUTH2_REQUEST_TTL`,
/// `TESSERA_OAUTH2_REGISTRATION_TOKEN`.
#[derive(Debug, Clone)]
pub struct OAuthProviderConfig {
    /// Whether the `/oauth2/*` routes are served (off by default).
    pub enabled: bool,
    /// Where `/oauth2/authorize` sends a browser to sign in and consent, with
    /// `?request_id=`: the operator's own page, or by default the one Tessera ships.
    pub login_url: Url,
    /// Scopes beyond the standard ones that clients may be allowed.
    pub extra_scopes: Vec<String>,
    /// How long an authorization code can be exchanged.
    pub code_ttl: Duration,
    /// How long a browser has between `/oauth2/authorize` and approving the request.
    pub request_ttl: Duration,
    /// The initial access token of dynamic registration (RFC 7591); `None`: registration
    /// is off.
    pub registration_token: Option<SecretString>,
}

impl OAuthProviderConfig {
    pub(super) fn parse(env: &Source<'_>, server: &ServerConfig) -> Result<Self, ConfigError> {
        let default_login = server
            .public_url
            .join(&format!("{}/oauth2/ui", server.base_path()))
            .map_err(|_| {
                error(
                    "TESSERA_PUBLIC_URL",
                    "cannot be joined with /oauth2/ui",
                    "https://auth.example.com",
                )
            })?;
        let login_url = env.parsed(
            "TESSERA_OAUTH2_LOGIN_URL",
            "https://app.example.com/oauth2/consent",
            default_login,
            |raw| {
                let url = Url::parse(raw).map_err(|_| "is not an absolute URL".to_owned())?;
                let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
                match url.scheme() {
                    "https" => Ok(url),
                    "http" if loopback => Ok(url),
                    _ => Err("must be https (http only on localhost)".into()),
                }
            },
        )?;
        let extra_scopes = env.parsed(
            "TESSERA_OAUTH2_SCOPES",
            "read:reports,write:reports",
            Vec::new(),
            |raw| {
                let scopes = values::list(raw);
                for scope in &scopes {
                    if !valid_scope(scope) {
                        return Err(format!(
                            "has {scope:?}: a scope is 1-64 characters of letters, digits and :._-"
                        ));
                    }
                    if STANDARD_SCOPES.contains(&scope.as_str()) {
                        return Err(format!("lists {scope:?}, which is always there"));
                    }
                }
                Ok(scopes)
            },
        )?;
        Ok(Self {
            enabled: env.parsed("TESSERA_OAUTH2_PROVIDER", "true", false, values::boolean)?,
            login_url,
            extra_scopes,
            code_ttl: env.parsed(
                "TESSERA_OAUTH2_CODE_TTL",
                "60s",
                Duration::from_secs(60),
                |raw| {
                    let ttl = positive_duration(raw)?;
                    if ttl > Duration::from_secs(600) {
                        return Err("is longer than 10 minutes, the most OAuth allows".into());
                    }
                    Ok(ttl)
                },
            )?,
            request_ttl: env.parsed(
                "TESSERA_OAUTH2_REQUEST_TTL",
                "10m",
                Duration::from_secs(600),
                positive_duration,
            )?,
            registration_token: env.optional(
                "TESSERA_OAUTH2_REGISTRATION_TOKEN",
                "a random string of at least 32 characters",
                long_secret,
            )?,
        })
    }

    /// Every scope a client may be allowed: the standard ones, then the operator's.
    pub fn scopes(&self) -> Vec<String> {
        STANDARD_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .chain(self.extra_scopes.iter().cloned())
            .collect()
    }
}

/// A scope name Tessera accepts: letters, digits and `:._-`, 1 to 64 of them.
pub fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= 64
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-'))
}
