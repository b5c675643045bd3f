//! The `tessera` command line: `serve` (the default), `migrate`, `healthcheck`, and the
//! `keys`, `users`, `sessions` and `clients` administration commands.

mod clients;
mod health;
mod keys;
mod migrate;
mod services;
mod sessions;
mod users;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::{self, Application};
use crate::support::clock::SystemClock;
use crate::support::telemetry;
use clients::ClientsCommand;
use keys::KeysCommand;
use sessions::SessionsCommand;
use users::UsersCommand;

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
    /// Manage the apps that sign users in through Tessera (the OAuth 2.1 / OpenID
    /// provider).
    #[command(subcommand)]
    Clients(ClientsCommand),
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
            Command::Migrate => migrate::migrate(config).await,
            Command::Healthcheck => health::healthcheck(&config).await,
            Command::Keys(command) => keys::run(config, command).await,
            Command::Users(command) => users::run(config, command).await,
            Command::Sessions(command) => sessions::run(config, command).await,
            Command::Clients(command) => clients::run(config, command).await,
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
