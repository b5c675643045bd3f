//! The server section: where Tessera listens and is reached, which proxies and browser
//! origins it trusts, request and connection limits, and the secrets of `/metrics` and
//! the admin API.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

use super::ConfigError;
use super::source::{Source, long_secret, number, positive_duration};
use super::values;

/// The header a trusted proxy names the client in (`TESSERA_CLIENT_IP_HEADER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIpHeader {
    /// RFC 7239 `Forwarded: for=...`, the standard (the default).
    Forwarded,
    /// `X-Forwarded-For`, when the proxy sets that one.
    XForwardedFor,
}

/// How the listener treats connections (`TESSERA_IDLE_TIMEOUT`, `TESSERA_MAX_CONNECTIONS`).
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// A connection with nothing in flight and no bytes moving for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; over it, new ones wait to be accepted.
    pub max_connections: usize,
}

/// The listener, the public URL and what requests may be.
#[derive(Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: Url,
    pub allowed_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// The one header those proxies set; any other is the client's own and ignored.
    pub client_ip_header: ClientIpHeader,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Idle connections and the cap on open ones.
    pub connections: ConnectionConfig,
    /// A bearer secret `/metrics` requires (`TESSERA_METRICS_TOKEN`); open when unset.
    pub metrics_token: Option<SecretString>,
    /// A listener of its own for `/metrics` (`TESSERA_METRICS_LISTEN`); then the public
    /// listener has no `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
    /// `TESSERA_ADMIN_SECRET`: the admin API exists only when it is set.
    pub admin_secret: Option<SecretString>,
}

impl ServerConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            listen: env.parsed(
                "TESSERA_LISTEN",
                "127.0.0.1:4000",
                SocketAddr::from(([127, 0, 0, 1], 4000)),
                |raw| {
                    raw.parse()
                        .map_err(|_| "is not an address and port".to_string())
                },
            )?,
            public_url: env.parsed(
                "TESSERA_PUBLIC_URL",
                "https://auth.example.com",
                Url::parse("http://localhost:4000").expect("default URL is valid"),
                parse_public_url,
            )?,
            allowed_origins: env
                .optional(
                    "TESSERA_ALLOWED_ORIGINS",
                    "https://app.example.com",
                    |raw| values::list(raw).iter().map(|o| parse_origin(o)).collect(),
                )?
                .unwrap_or_default(),
            trusted_proxies: env
                .optional("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1", |raw| {
                    values::list(raw)
                        .iter()
                        .map(|item| values::ip_network(item))
                        .collect()
                })?
                .unwrap_or_default(),
            client_ip_header: env.parsed(
                "TESSERA_CLIENT_IP_HEADER",
                "forwarded",
                ClientIpHeader::Forwarded,
                |raw| match raw.to_ascii_lowercase().as_str() {
                    "forwarded" => Ok(ClientIpHeader::Forwarded),
                    "x-forwarded-for" => Ok(ClientIpHeader::XForwardedFor),
                    _ => Err("must be forwarded or x-forwarded-for".into()),
                },
            )?,
            max_body_bytes: env.parsed("TESSERA_MAX_BODY_BYTES", "65536", 65_536, number)?,
            request_timeout: env.parsed(
                "TESSERA_REQUEST_TIMEOUT",
                "15s",
                Duration::from_secs(15),
                positive_duration,
            )?,
            connections: ConnectionConfig {
                idle_timeout: env.parsed(
                    "TESSERA_IDLE_TIMEOUT",
                    "75s",
                    Duration::from_secs(75),
                    positive_duration,
                )?,
                max_connections: env.parsed(
                    "TESSERA_MAX_CONNECTIONS",
                    "1000",
                    default_max_connections(),
                    |raw| {
                        number(raw).and_then(|n: usize| match n {
                            0 => Err("must be at least 1".into()),
                            n => Ok(n),
                        })
                    },
                )?,
            },
            metrics_token: env.optional(
                "TESSERA_METRICS_TOKEN",
                "<a long random string>",
                long_secret,
            )?,
            metrics_listen: env.optional("TESSERA_METRICS_LISTEN", "127.0.0.1:9090", |raw| {
                raw.parse()
                    .map_err(|_| "is not an address and port".to_string())
            })?,
            admin_secret: env.optional(
                "TESSERA_ADMIN_SECRET",
                "<a long random string>",
                long_secret,
            )?,
        })
    }

    /// The path every route and cookie path starts with: `""` or `/auth`, never a trailing `/`.
    pub fn base_path(&self) -> &str {
        self.public_url.path().trim_end_matches('/')
    }

    /// The origin of the public URL, always an allowed origin.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

/// The default cap on open connections: half the process's open-file limit (the rest is
/// for the database pool, files and the listener), between 64 and 10,000.
fn default_max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and reads nothing else.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let files = if known { limit.rlim_cur } else { 1024 };
    usize::try_from(files / 2)
        .unwrap_or(10_000)
        .clamp(64, 10_000)
}

fn parse_public_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|err| format!("is not a URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("is not an http(s) URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("must not carry a query, fragment or credentials".into());
    }
    Ok(url)
}

fn parse_origin(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|_| format!("has `{raw}`, which is not an origin"))?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || origin != raw.trim_end_matches('/') {
        return Err(format!(
            "has `{raw}`, which is not an origin (scheme://host[:port], no path)"
        ));
    }
    Ok(origin)
}
