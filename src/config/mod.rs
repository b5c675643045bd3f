//! Typed configuration, read once at start-up from the environment (and `.env`).
//!
//! Every variable is listed with its default in `.env.example` and the README. Any invalid
//! value stops start-up with one line naming the variable, the problem and a valid example;
//! secrets are never echoed back.

mod claims;
mod roles;
mod values;

pub use claims::{ClaimSource, CustomClaims, HASURA_NAMESPACE};
pub use roles::{RoleConfig, valid_role_name};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use url::Url;

/// A configuration value that cannot be used; its `Display` is the one line users see.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var} {problem}; for example {var}={example}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
    pub example: &'static str,
}

/// Where the data lives.
#[derive(Debug)]
pub enum Database {
    /// `DATABASE_URL=postgres://...`: the production store.
    Postgres(SecretString),
    /// The embedded default: a SQLite file, created (with its directory) on first start.
    Sqlite(PathBuf),
}

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

/// Log output: human-readable for a terminal, or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Argon2id cost and the bound on concurrent hashes.
#[derive(Debug, Clone)]
pub struct PasswordConfig {
    pub min_length: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Hashes running at once; more wait their turn, so a burst cannot exhaust memory.
    pub hash_concurrency: usize,
}

/// Signing keys: where they come from and how they rotate.
#[derive(Debug)]
pub struct KeyConfig {
    /// AES-256-GCM key that encrypts private keys at rest. Unset on SQLite, the embedded
    /// default makes its own, in a file next to the database (see `keys::custody`).
    pub encryption_key: Option<SecretBox<[u8; 32]>>,
    /// `TESSERA_ALLOW_PLAINTEXT_KEYS`: the operator accepts private keys in clear in a
    /// Postgres database that has no `TESSERA_KEY_ENCRYPTION_KEY` (refused otherwise).
    pub allow_plaintext: bool,
    /// A PKCS#8 PEM imported at start-up if its key is not in the key set yet.
    pub signing_key_file: Option<PathBuf>,
    /// Scheduled rotation; zero turns it off.
    pub rotation_interval: Duration,
    /// `Cache-Control: max-age` of the JWKS.
    pub jwks_max_age: Duration,
    /// How long a new key is published before it signs; longer than `jwks_max_age`.
    pub publish_lead: Duration,
}

/// A rate: so many per period.
pub type Rate = Option<(u32, Duration)>;

/// Rate limits: per client IP for each endpoint family (kept in each replica's memory),
/// and per account for failed sign-ins (kept in the database, so global).
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub signin: Rate,
    pub signup: Rate,
    pub refresh: Rate,
    pub email: Rate,
    pub verify: Rate,
    pub failed_signins_per_account: Rate,
    /// IPv6 clients share a per-IP bucket per prefix of this length
    /// (`TESSERA_RATE_LIMIT_IPV6_PREFIX`, 64: one customer's network).
    pub ipv6_prefix: u8,
}

/// The header a trusted proxy names the client in (`TESSERA_CLIENT_IP_HEADER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIpHeader {
    /// RFC 7239 `Forwarded: for=...`, the standard (the default).
    Forwarded,
    /// `X-Forwarded-For`, when the proxy sets that one.
    XForwardedFor,
}

/// Cookie transport (the README's browser section).
#[derive(Debug, Clone)]
pub struct CookieConfig {
    pub default_auth_mode: AuthMode,
    pub same_site: SameSite,
    pub domain: Option<String>,
    pub secure: bool,
    pub expose_access_token: bool,
}

/// Everything Tessera reads from its environment.
#[derive(Debug)]
pub struct Config {
    pub database: Database,
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before answering 503.
    pub database_timeout: Duration,
    pub listen: SocketAddr,
    pub public_url: Url,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub session_max_age: Option<Duration>,
    pub refresh_reuse_grace: Duration,
    /// How old a session's sign-in may be for a password change without the current
    /// password (`TESSERA_RECENT_AUTH_WINDOW`).
    pub recent_auth_window: Duration,
    pub hasura_claims: bool,
    /// `TESSERA_CUSTOM_CLAIMS` and `TESSERA_CUSTOM_TOP_LEVEL_CLAIMS`.
    pub custom_claims: CustomClaims,
    pub keys: KeyConfig,
    pub cookies: CookieConfig,
    pub allowed_origins: Vec<String>,
    pub allowed_redirect_urls: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// The one header those proxies set; any other is the client's own and ignored.
    pub client_ip_header: ClientIpHeader,
    pub smtp_url: Option<SecretString>,
    pub email_from: String,
    /// Where messages go without SMTP (development).
    pub outbox_dir: PathBuf,
    /// Operator templates overriding the built-in ones.
    pub email_templates_dir: Option<PathBuf>,
    /// When not empty, only these email domains may sign up.
    pub allowed_email_domains: Vec<String>,
    /// These email domains may never sign up.
    pub blocked_email_domains: Vec<String>,
    pub require_email_verification: bool,
    pub disable_signup: bool,
    /// The roles of self-registered accounts.
    pub roles: RoleConfig,
    pub admin_secret: Option<SecretString>,
    /// A bearer secret `/metrics` requires (`TESSERA_METRICS_TOKEN`); open when unset.
    pub metrics_token: Option<SecretString>,
    /// A listener of its own for `/metrics` (`TESSERA_METRICS_LISTEN`); then the public
    /// listener has no `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
    /// How long security events are kept; zero keeps them forever.
    pub event_retention: Duration,
    /// Anonymous users whose last session ended this long ago are deleted
    /// (`TESSERA_ANONYMOUS_USER_RETENTION`; zero keeps them).
    pub anonymous_user_retention: Duration,
    pub passwords: PasswordConfig,
    pub rate_limits: RateLimits,
    /// How long a device cookie lets its client past an account's failed-sign-in lock.
    pub device_cookie_ttl: Duration,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Idle connections and the cap on open ones.
    pub connections: ConnectionConfig,
    pub log_format: LogFormat,
    pub log_level: String,
}

const MINUTE: Duration = Duration::from_secs(60);

/// How to make a key-encryption key, in every message that asks for one.
const KEY_ENCRYPTION_KEY_EXAMPLE: &str =
    "<32 random bytes in base64, from `openssl rand -base64 32`>";

/// How the listener treats connections (`TESSERA_IDLE_TIMEOUT`, `TESSERA_MAX_CONNECTIONS`).
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// A connection with nothing in flight and no bytes moving for this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; over it, new ones wait to be accepted.
    pub max_connections: usize,
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

/// Reads variables by name; `None` and an empty value both mean "not set".
struct Source<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Source<'_> {
    fn raw(&self, var: &str) -> Option<String> {
        (self.lookup)(var).filter(|value| !value.trim().is_empty())
    }

    fn parsed<T>(
        &self,
        var: &'static str,
        example: &'static str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        self.optional(var, example, parse)
            .map(|value| value.unwrap_or(default))
    }

    fn optional<T>(
        &self,
        var: &'static str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.raw(var)
            .map(|raw| {
                parse(raw.trim()).map_err(|problem| ConfigError {
                    var,
                    problem: if is_secret(var) {
                        problem
                    } else {
                        format!("= {raw:?} {problem}")
                    },
                    example,
                })
            })
            .transpose()
    }
}

/// A shared secret a client presents (admin API, metrics): at least 32 characters, so
/// that it cannot be guessed.
fn long_secret(raw: &str) -> Result<SecretString, String> {
    if raw.len() >= 32 {
        Ok(SecretString::from(raw.to_owned()))
    } else {
        Err("is shorter than 32 characters".into())
    }
}

/// Values of these variables never appear in an error message.
fn is_secret(var: &str) -> bool {
    matches!(
        var,
        "DATABASE_URL"
            | "TESSERA_KEY_ENCRYPTION_KEY"
            | "TESSERA_SMTP_URL"
            | "TESSERA_ADMIN_SECRET"
            | "TESSERA_METRICS_TOKEN"
    )
}

fn error(var: &'static str, problem: impl Into<String>, example: &'static str) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
        example,
    }
}

fn positive<T: PartialOrd + Default>(value: T) -> Result<T, String> {
    if value > T::default() {
        Ok(value)
    } else {
        Err("must be greater than zero".into())
    }
}

fn number<T: std::str::FromStr + PartialOrd + Default>(raw: &str) -> Result<T, String> {
    raw.parse::<T>()
        .map_err(|_| "is not a whole number".to_string())
        .and_then(positive)
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
        Self::from_lookup(&|var| std::env::var(var).ok())
    }

    /// Builds the configuration from any source of variables (tests pass a map).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Source { lookup };
        let duration = values::duration;

        let database = match env.raw("DATABASE_URL") {
            None => Database::Sqlite(PathBuf::from("data/tessera.db")),
            Some(url) => parse_database_url(&url)?,
        };
        let public_url = env.parsed(
            "TESSERA_PUBLIC_URL",
            "https://auth.example.com",
            Url::parse("http://localhost:4000").expect("default URL is valid"),
            parse_public_url,
        )?;
        let issuer = env
            .raw("TESSERA_ISSUER")
            .unwrap_or_else(|| public_url.as_str().trim_end_matches('/').to_owned());
        let access_token_ttl = env.parsed(
            "TESSERA_ACCESS_TOKEN_TTL",
            "1h",
            Duration::from_secs(3600),
            |raw| duration(raw).and_then(positive),
        )?;
        let refresh_token_ttl = env.parsed(
            "TESSERA_REFRESH_TOKEN_TTL",
            "30d",
            Duration::from_secs(30 * 86_400),
            |raw| duration(raw).and_then(positive),
        )?;
        let request_timeout = env.parsed(
            "TESSERA_REQUEST_TIMEOUT",
            "15s",
            Duration::from_secs(15),
            |raw| duration(raw).and_then(positive),
        )?;
        let database_timeout = env.parsed(
            "TESSERA_DATABASE_TIMEOUT",
            "3s",
            Duration::from_secs(3),
            |raw| duration(raw).and_then(positive),
        )?;
        if database_timeout >= request_timeout {
            return Err(error(
                "TESSERA_DATABASE_TIMEOUT",
                "must be shorter than TESSERA_REQUEST_TIMEOUT, so that a lost database is answered with 503 before the request times out",
                "3s",
            ));
        }

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
        let domain = env.optional("TESSERA_COOKIE_DOMAIN", "example.com", |raw| {
            cookie_domain(raw, &public_url)
        })?;

        let keys = KeyConfig {
            encryption_key: env
                .optional(
                    "TESSERA_KEY_ENCRYPTION_KEY",
                    KEY_ENCRYPTION_KEY_EXAMPLE,
                    parse_encryption_key,
                )?
                .map(|key| SecretBox::new(Box::new(key))),
            allow_plaintext: env.parsed(
                "TESSERA_ALLOW_PLAINTEXT_KEYS",
                "false",
                false,
                values::boolean,
            )?,
            signing_key_file: env.raw("TESSERA_SIGNING_KEY_FILE").map(PathBuf::from),
            rotation_interval: env.parsed(
                "TESSERA_KEY_ROTATION_INTERVAL",
                "30d",
                Duration::from_secs(30 * 86_400),
                duration,
            )?,
            jwks_max_age: env.parsed(
                "TESSERA_JWKS_MAX_AGE",
                "10m",
                Duration::from_secs(600),
                |raw| duration(raw).and_then(positive),
            )?,
            publish_lead: env.parsed(
                "TESSERA_KEY_PUBLISH_LEAD",
                "1h",
                Duration::from_secs(3600),
                |raw| duration(raw).and_then(positive),
            )?,
        };
        // Private keys are never stored in clear unless the operator says so. SQLite always
        // has a key (its own key file, at worst); Postgres needs one from the operator.
        if matches!(database, Database::Postgres(_))
            && keys.encryption_key.is_none()
            && !keys.allow_plaintext
        {
            return Err(error(
                "TESSERA_KEY_ENCRYPTION_KEY",
                "is required with a Postgres DATABASE_URL, so that private signing keys are encrypted at rest (set TESSERA_ALLOW_PLAINTEXT_KEYS=true to store them in clear instead)",
                KEY_ENCRYPTION_KEY_EXAMPLE,
            ));
        }
        if keys.jwks_max_age >= keys.publish_lead {
            return Err(error(
                "TESSERA_JWKS_MAX_AGE",
                "must be shorter than TESSERA_KEY_PUBLISH_LEAD, so verifiers see a new key before it signs",
                "10m",
            ));
        }

        let hasura_claims = env.parsed("TESSERA_HASURA_CLAIMS", "true", true, values::boolean)?;
        let custom_claims = custom_claims(&env, hasura_claims)?;

        Ok(Config {
            database,
            database_max_connections: env.parsed(
                "TESSERA_DATABASE_MAX_CONNECTIONS",
                "10",
                10,
                number,
            )?,
            database_timeout,
            listen: env.parsed(
                "TESSERA_LISTEN",
                "127.0.0.1:4000",
                SocketAddr::from(([127, 0, 0, 1], 4000)),
                |raw| {
                    raw.parse()
                        .map_err(|_| "is not an address and port".to_string())
                },
            )?,
            issuer,
            audience: env
                .raw("TESSERA_AUDIENCE")
                .unwrap_or_else(|| "tessera".into()),
            access_token_ttl,
            refresh_token_ttl,
            session_max_age: env.optional("TESSERA_SESSION_MAX_AGE", "90d", |raw| {
                duration(raw).and_then(positive)
            })?,
            refresh_reuse_grace: env.parsed(
                "TESSERA_REFRESH_REUSE_GRACE",
                "30s",
                Duration::from_secs(30),
                duration,
            )?,
            recent_auth_window: env.parsed(
                "TESSERA_RECENT_AUTH_WINDOW",
                "10m",
                Duration::from_secs(600),
                duration,
            )?,
            hasura_claims,
            custom_claims,
            keys,
            cookies: CookieConfig {
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
                domain,
                secure: secure || public_is_https,
                expose_access_token: env.parsed(
                    "TESSERA_EXPOSE_ACCESS_TOKEN",
                    "false",
                    false,
                    values::boolean,
                )?,
            },
            allowed_origins: env
                .optional(
                    "TESSERA_ALLOWED_ORIGINS",
                    "https://app.example.com",
                    |raw| values::list(raw).iter().map(|o| parse_origin(o)).collect(),
                )?
                .unwrap_or_default(),
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
            smtp_url: env.optional(
                "TESSERA_SMTP_URL",
                "smtp://user:pass@smtp.example.com:587",
                parse_smtp_url,
            )?,
            email_from: env.parsed(
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
            email_templates_dir: env.optional(
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
            allowed_email_domains: email_domains(&env, "TESSERA_ALLOWED_EMAIL_DOMAINS")?,
            blocked_email_domains: email_domains(&env, "TESSERA_BLOCKED_EMAIL_DOMAINS")?,
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
            roles: RoleConfig::parse(&env)?,
            admin_secret: env.optional(
                "TESSERA_ADMIN_SECRET",
                "<a long random string>",
                long_secret,
            )?,
            metrics_token: env.optional(
                "TESSERA_METRICS_TOKEN",
                "<a long random string>",
                long_secret,
            )?,
            metrics_listen: env.optional("TESSERA_METRICS_LISTEN", "127.0.0.1:9090", |raw| {
                raw.parse()
                    .map_err(|_| "is not an address and port".to_string())
            })?,
            anonymous_user_retention: env.parsed(
                "TESSERA_ANONYMOUS_USER_RETENTION",
                "30d",
                Duration::from_secs(30 * 86_400),
                duration,
            )?,
            event_retention: env.parsed(
                "TESSERA_EVENT_RETENTION",
                "90d",
                Duration::from_secs(90 * 86_400),
                duration,
            )?,
            passwords: PasswordConfig {
                min_length: env.parsed("TESSERA_PASSWORD_MIN_LENGTH", "8", 8, number)?,
                argon2_memory_kib: env.parsed(
                    "TESSERA_ARGON2_MEMORY_KIB",
                    "19456",
                    19_456,
                    number,
                )?,
                argon2_iterations: env.parsed("TESSERA_ARGON2_ITERATIONS", "2", 2, number)?,
                argon2_parallelism: env.parsed("TESSERA_ARGON2_PARALLELISM", "1", 1, number)?,
                hash_concurrency: env.parsed(
                    "TESSERA_PASSWORD_HASH_CONCURRENCY",
                    "2",
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                    number,
                )?,
            },
            rate_limits: RateLimits {
                signin: env.parsed(
                    "TESSERA_RATE_LIMIT_SIGNIN",
                    "20/1m",
                    Some((20, MINUTE)),
                    values::rate,
                )?,
                signup: env.parsed(
                    "TESSERA_RATE_LIMIT_SIGNUP",
                    "10/1m",
                    Some((10, MINUTE)),
                    values::rate,
                )?,
                refresh: env.parsed(
                    "TESSERA_RATE_LIMIT_REFRESH",
                    "120/1m",
                    Some((120, MINUTE)),
                    values::rate,
                )?,
                email: env.parsed(
                    "TESSERA_RATE_LIMIT_EMAIL",
                    "5/1m",
                    Some((5, MINUTE)),
                    values::rate,
                )?,
                verify: env.parsed(
                    "TESSERA_RATE_LIMIT_VERIFY",
                    "30/1m",
                    Some((30, MINUTE)),
                    values::rate,
                )?,
                failed_signins_per_account: env.parsed(
                    "TESSERA_RATE_LIMIT_FAILED_SIGNINS",
                    "100/1h",
                    Some((100, Duration::from_secs(3600))),
                    values::rate,
                )?,
                ipv6_prefix: env.parsed("TESSERA_RATE_LIMIT_IPV6_PREFIX", "64", 64, |raw| {
                    number(raw).and_then(|n: u8| match n {
                        1..=128 => Ok(n),
                        _ => Err("must be from 1 to 128".into()),
                    })
                })?,
            },
            device_cookie_ttl: env.parsed(
                "TESSERA_DEVICE_COOKIE_TTL",
                "365d",
                Duration::from_secs(365 * 86_400),
                |raw| duration(raw).and_then(positive),
            )?,
            max_body_bytes: env.parsed("TESSERA_MAX_BODY_BYTES", "65536", 65_536, number)?,
            request_timeout,
            connections: ConnectionConfig {
                idle_timeout: env.parsed(
                    "TESSERA_IDLE_TIMEOUT",
                    "75s",
                    Duration::from_secs(75),
                    |raw| duration(raw).and_then(positive),
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
            log_format: env.parsed(
                "TESSERA_LOG_FORMAT",
                "json",
                LogFormat::Pretty,
                |raw| match raw {
                    "pretty" => Ok(LogFormat::Pretty),
                    "json" => Ok(LogFormat::Json),
                    _ => Err("is not `pretty` or `json`".into()),
                },
            )?,
            log_level: env.parsed("TESSERA_LOG_LEVEL", "info", "info".to_owned(), |raw| {
                tracing_subscriber::EnvFilter::try_new(raw)
                    .map(|_| raw.to_owned())
                    .map_err(|_| "is not a log level or filter".to_string())
            })?,
            public_url,
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

fn parse_database_url(url: &str) -> Result<Database, ConfigError> {
    const EXAMPLE: &str = "postgres://user:password@localhost:5432/tessera";
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Database::Postgres(SecretString::from(url.to_owned())));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(error("DATABASE_URL", "names no SQLite file", EXAMPLE));
        }
        return Ok(Database::Sqlite(PathBuf::from(path)));
    }
    Err(error(
        "DATABASE_URL",
        "is neither a postgres:// nor a sqlite:// URL",
        EXAMPLE,
    ))
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

/// A key-encryption key: 32 bytes in base64 (any alphabet, padded or not) or hex, as
/// `TESSERA_KEY_ENCRYPTION_KEY` and the embedded default's key file hold it.
pub fn parse_encryption_key(raw: &str) -> Result<[u8; 32], String> {
    let engines = [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    // 64 hex digits are also valid base64 (of 48 bytes), so hex is tried first.
    let bytes = hex_decode(raw)
        .or_else(|| engines.iter().find_map(|engine| engine.decode(raw).ok()))
        .ok_or("is neither base64 nor hex")?;
    bytes
        .try_into()
        .map_err(|_| "is not exactly 32 bytes".to_string())
}

fn hex_decode(raw: &str) -> Option<Vec<u8>> {
    if !raw.len().is_multiple_of(2) {
        return None;
    }
    (0..raw.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(raw.get(i..i + 2)?, 16).ok())
        .collect()
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

/// Example values of the custom-claims variables, in every message about them.
const CUSTOM_CLAIMS_EXAMPLE: &str = r#"'{"org":"metadata.org.id","plan":"metadata.plan"}'"#;

fn custom_claims(env: &Source<'_>, hasura_claims: bool) -> Result<CustomClaims, ConfigError> {
    let hasura = env
        .optional("TESSERA_CUSTOM_CLAIMS", CUSTOM_CLAIMS_EXAMPLE, |raw| {
            claims::parse(raw, claims::Placement::Hasura)
        })?
        .unwrap_or_default();
    // Without the namespace there is nowhere to put them; dropping them silently would
    // leave an operator believing Hasura sees them.
    if !hasura.is_empty() && !hasura_claims {
        return Err(error(
            "TESSERA_CUSTOM_CLAIMS",
            "is set but TESSERA_HASURA_CLAIMS=false leaves no Hasura namespace to add it to (use TESSERA_CUSTOM_TOP_LEVEL_CLAIMS, or unset TESSERA_HASURA_CLAIMS)",
            CUSTOM_CLAIMS_EXAMPLE,
        ));
    }
    let top_level = env
        .optional(
            "TESSERA_CUSTOM_TOP_LEVEL_CLAIMS",
            CUSTOM_CLAIMS_EXAMPLE,
            |raw| claims::parse(raw, claims::Placement::TopLevel),
        )?
        .unwrap_or_default();
    Ok(CustomClaims { hasura, top_level })
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

impl Database {
    /// A description safe to log: the backend and, for Postgres, host and database only.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite ({})", path.display()),
            Database::Postgres(url) => match Url::parse(url.expose_secret()) {
                Ok(url) => format!(
                    "postgres ({}{})",
                    url.host_str().unwrap_or("localhost"),
                    url.path()
                ),
                Err(_) => "postgres".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests;
