//! `tessera sessions revoke`: end one session, or every session of a user, through the
//! administration service.

use clap::Subcommand;

use super::services::{admin, operator};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub(super) enum SessionsCommand {
    /// Revoke one session by id, or every session of a user with --user.
    Revoke {
        session: Option<uuid::Uuid>,
        #[arg(long)]
        user: Option<String>,
    },
}

pub(super) async fn run(config: Config, command: SessionsCommand) -> anyhow::Result<()> {
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
