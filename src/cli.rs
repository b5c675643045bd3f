//! The `tessera` command line: `serve` (the default) and `migrate`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::app::{self, Application};
use crate::clock::SystemClock;
use crate::config::Config;
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
