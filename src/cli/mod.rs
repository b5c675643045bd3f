//! The `tessera` command line: `serve` (the default), `migrate`, `healthcheck`, and the
//! `keys`, `users` and `sessions` administration commands.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::domain::admin::{Admin, NewUser, UserPatch};
use crate::domain::keys::KeyService;
use crate::domain::passwords::Passwords;
use crate::domain::sessions::ClientInfo;
use crate::startup::{self, Application};
use crate::store;
use crate::support::clock::{Clock, SystemClock};
use crate::support::telemetry;
use secrecy::SecretString;

/// Tessera: a self-hosted auth server. Configuration comes from TESSERA_* variables and
/// DATABASE_URL (a .env file is read if present); see the README.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Ask the server listening on TESSERA_LISTEN for <base>/healthz: exit 0 when it answers
    /// 200, 1 otherwise (the container image's health check).
    Healthcheck,
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create a user (the password is read from TESSERA_NEW_USER_PASSWORD, never from
    /// the command line, where it would land in the shell history).
    Create {
        email: String,
        /// Mark the email as verified.
        #[arg(long)]
        verified: bool,
        /// Roles, comma-separated (default: user).
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
        #[arg(long)]
        default_role: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List users, oldest first.
    List {
        /// Only users whose email or display name contains this.
        #[arg(long)]
        search: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// The cursor printed by the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Disable a user (by id or email): every session ends at once.
    Disable { user: String },
    /// Enable a disabled user.
    Enable { user: String },
    /// Delete a user with its sessions, tokens, tickets and events.
    Delete { user: String },
    /// Set a user's roles and default role.
    SetRoles {
        user: String,
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        #[arg(long)]
        default_role: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SessionsCommand {
    /// Revoke one session by id, or every session of a user with --user.
    Revoke {
        session: Option<uuid::Uuid>,
        #[arg(long)]
        user: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List the key set: kid, state, origin, and when each key was created, starts
    /// signing, retires and leaves the JWKS.
    List,
    /// Publish a new key now; it starts signing after TESSERA_KEY_PUBLISH_LEAD.
    Rotate,
    /// Import a PKCS#8 PEM P-256 private key as the next signing key.
    Import {
        /// The PEM file.
        file: std::path::PathBuf,
    },
    /// Revoke a key at once (a leaked key): it leaves the JWKS and verification, its
    /// private key is erased, and if it was signing a new key signs at once. Running
    /// servers apply it within seconds.
    Revoke {
        /// The key's kid (see `tessera keys list`).
        kid: String,
    },
}

/// Parses the command line, runs the command, and turns any failure into one line on
/// stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("tessera: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.logging.format, &config.logging.level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("tessera: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                Application::build(config, Arc::new(SystemClock))
                    .await?
                    .run_until(startup::shutdown_signal())
                    .await
            }
            Command::Migrate => migrate(config).await,
            Command::Healthcheck => healthcheck(&config).await,
            Command::Keys(command) => keys(config, command).await,
            Command::Users(command) => users(config, command).await,
            Command::Sessions(command) => sessions(config, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tessera: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// How long the health check waits for the server.
const HEALTHCHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `GET <base>/healthz` on the listen address (loopback when it is a wildcard address);
/// `Ok` only for a 200. A few lines of HTTP/1.0 rather than an HTTP client: the status line
/// is all it reads.
async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut address = config.server.listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let path = format!("{}/healthz", config.server.base_path());
    let status = tokio::time::timeout(HEALTHCHECK_TIMEOUT, async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
            .await?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while head.len() < 64 && !head.ends_with(b"\r\n") && stream.read(&mut byte).await? == 1 {
            head.push(byte[0]);
        }
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head).into_owned())
    })
    .await;
    let answer = match status {
        Ok(Ok(line)) => line,
        Ok(Err(err)) => anyhow::bail!("GET {path} on {address} failed: {err}"),
        Err(_) => anyhow::bail!("GET {path} on {address}: no answer within 5 s"),
    };
    match answer.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => anyhow::bail!("GET {path} on {address} answered {:?}", answer.trim()),
    }
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let described = config.database.describe();
    let store = store::connect(&config.database).await?;
    store.migrate().await?;
    store.close().await;
    println!("migrations applied to {described}");
    Ok(())
}

async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let store = store::connect(&config.database).await?;
    store.migrate().await?;
    let clock = Arc::new(SystemClock);
    let keys = KeyService::start(
        store.clone(),
        clock.clone(),
        &config.keys,
        &config.database.location,
        config.tokens.access_token_ttl,
    )
    .await?;
    match command {
        KeysCommand::List => {}
        KeysCommand::Rotate => {
            let rotation = keys.rotate().await?;
            println!(
                "published key {}; it starts signing at {}",
                rotation.kid,
                rfc3339(rotation.activates_at)
            );
        }
        KeysCommand::Import { file } => {
            let pem = std::fs::read_to_string(&file)
                .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", file.display()))?;
            match keys.import_pem(&pem).await? {
                Some(rotation) => println!(
                    "imported key {}; it starts signing at {}",
                    rotation.kid,
                    rfc3339(rotation.activates_at)
                ),
                None => println!("that key is already in the key set"),
            }
        }
        KeysCommand::Revoke { kid } => {
            let event = crate::domain::admin::key_revoked_event(clock.now(), &operator());
            let revocation = keys.revoke(&kid, event).await?;
            let signing = revocation.signing_kid.as_deref().unwrap_or("no key");
            if revocation.already_revoked {
                println!(
                    "key {kid} was already revoked at {}; key {signing} signs now",
                    rfc3339(revocation.revoked_at)
                );
            } else {
                println!("revoked key {kid}; key {signing} signs now");
            }
        }
    }
    print_keys(&keys, clock.as_ref());
    store.close().await;
    Ok(())
}

fn print_keys(keys: &KeyService, clock: &dyn crate::support::clock::Clock) {
    let now = clock.now();
    let set = keys.snapshot();
    let active = set.signing_key(now).map(|k| k.kid.clone());
    let at = |t: Option<time::OffsetDateTime>| t.map_or_else(|| "-".to_owned(), rfc3339);
    println!(
        "{:<43}  {:<9}  {:<9}  {:<11}  {:<20}  {:<20}  {:<20}  expires",
        "kid", "state", "origin", "encryption", "created", "activates", "retires"
    );
    for key in &set.keys {
        let r = &key.record;
        println!(
            "{:<43}  {:<9}  {:<9}  {:<11}  {:<20}  {:<20}  {:<20}  {}",
            key.kid,
            key.state(now, active.as_deref() == Some(key.kid.as_str())),
            r.origin,
            r.encryption,
            rfc3339(r.created_at),
            rfc3339(r.activates_at),
            at(r.retires_at),
            at(r.expires_at),
        );
    }
    for r in &set.revoked {
        println!(
            "{:<43}  {:<9}  {:<9}  {:<11}  {:<20}  {:<20}  {:<20}  revoked {}",
            r.kid,
            "revoked",
            r.origin,
            r.encryption,
            rfc3339(r.created_at),
            rfc3339(r.activates_at),
            at(r.retires_at),
            at(r.revoked_at),
        );
    }
}

/// `2026-01-02T03:04:05Z`: whole seconds, UTC.
fn rfc3339(at: time::OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// The administration service, as the CLI uses it.
async fn admin(config: &Config) -> anyhow::Result<(Admin, Arc<dyn store::Store>)> {
    let store = store::connect(&config.database).await?;
    store.migrate().await?;
    let clock: Arc<dyn crate::support::clock::Clock> = Arc::new(SystemClock);
    let keys = KeyService::start(
        store.clone(),
        clock.clone(),
        &config.keys,
        &config.database.location,
        config.tokens.access_token_ttl,
    )
    .await?;
    let passwords = Arc::new(Passwords::new(&config.passwords)?);
    Ok((
        Admin::new(
            store.clone(),
            clock,
            passwords,
            keys,
            config.accounts.roles.clone(),
            None,
        ),
        store,
    ))
}

/// The operator at the shell, as recorded in security events.
fn operator() -> ClientInfo {
    ClientInfo::new("cli".into(), "tessera-cli")
}

fn print_user(user: &crate::domain::UserRecord) {
    println!(
        "{}  {:<40}  roles={} default={}  verified={}  disabled={}",
        user.id,
        user.email.as_deref().unwrap_or("(anonymous)"),
        user.roles.join(","),
        user.default_role,
        user.email_verified,
        user.disabled
    );
}

async fn users(config: Config, command: UsersCommand) -> anyhow::Result<()> {
    let (admin, store) = admin(&config).await?;
    let who = operator();
    match command {
        UsersCommand::Create {
            email,
            verified,
            roles,
            default_role,
            display_name,
        } => {
            let password = std::env::var("TESSERA_NEW_USER_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .map(SecretString::from);
            let user = admin
                .create_user(
                    NewUser {
                        email,
                        password,
                        email_verified: verified,
                        display_name,
                        roles,
                        default_role,
                        ..NewUser::default()
                    },
                    &who,
                )
                .await?;
            print_user(&user);
        }
        UsersCommand::List {
            search,
            limit,
            cursor,
        } => {
            let (users, next) = admin
                .list_users(cursor.as_deref(), search.as_deref(), limit)
                .await?;
            for user in &users {
                print_user(user);
            }
            if let Some(next) = next {
                println!("next page: --cursor {next}");
            }
        }
        UsersCommand::Disable { user } => {
            let id = admin.find_user(&user).await?.id;
            print_user(&admin.set_disabled(id, true, &who).await?);
        }
        UsersCommand::Enable { user } => {
            let id = admin.find_user(&user).await?.id;
            print_user(&admin.set_disabled(id, false, &who).await?);
        }
        UsersCommand::Delete { user } => {
            let found = admin.find_user(&user).await?;
            admin.delete_user(found.id, &who).await?;
            println!("deleted {}", found.id);
        }
        UsersCommand::SetRoles {
            user,
            roles,
            default_role,
        } => {
            let id = admin.find_user(&user).await?.id;
            let default_role = default_role.or_else(|| roles.first().cloned());
            let patch = UserPatch {
                roles: Some(roles),
                default_role,
                ..UserPatch::default()
            };
            print_user(&admin.update_user(id, patch, &who).await?);
        }
    }
    store.close().await;
    Ok(())
}

async fn sessions(config: Config, command: SessionsCommand) -> anyhow::Result<()> {
    let (admin, store) = admin(&config).await?;
    let who = operator();
    match command {
        SessionsCommand::Revoke {
            session: Some(session),
            user: None,
        } => {
            admin.revoke_session_by_id(session, &who).await?;
            println!("revoked session {session}");
        }
        SessionsCommand::Revoke {
            session: None,
            user: Some(user),
        } => {
            let id = admin.find_user(&user).await?.id;
            let revoked = admin.revoke_sessions(id, None, &who).await?;
            println!("revoked {revoked} sessions of {id}");
        }
        SessionsCommand::Revoke { .. } => {
            anyhow::bail!("name a session id, or --user ID|EMAIL (not both)")
        }
    }
    store.close().await;
    Ok(())
}
