//! The `tessera` command line: `serve` (the default) and `migrate`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::app::{self, Application};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::keys::KeyService;
use crate::{store, telemetry};

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
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
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
    telemetry::init(config.log_format, &config.log_level);
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
                    .run_until(app::shutdown_signal())
                    .await
            }
            Command::Migrate => migrate(config).await,
            Command::Keys(command) => keys(config, command).await,
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

async fn migrate(config: Config) -> anyhow::Result<()> {
    let described = config.database.describe();
    let store = store::connect(&config).await?;
    store.migrate().await?;
    store.close().await;
    println!("migrations applied to {described}");
    Ok(())
}

async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let store = store::connect(&config).await?;
    store.migrate().await?;
    let clock = Arc::new(SystemClock);
    let keys = KeyService::start(store.clone(), clock.clone(), &config).await?;
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
    }
    print_keys(&keys, clock.as_ref());
    store.close().await;
    Ok(())
}

fn print_keys(keys: &KeyService, clock: &dyn crate::clock::Clock) {
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
}

/// `2026-01-02T03:04:05Z`: whole seconds, UTC.
fn rfc3339(at: time::OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}
