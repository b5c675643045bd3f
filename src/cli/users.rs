//! `tessera users ...`: create, list, disable, enable, delete users, set their roles,
//! reset their second factor and show their identities at providers, through the
//! administration service.

use clap::Subcommand;
use secrecy::SecretString;

use super::services::{admin, operator};
use crate::config::Config;
use crate::domain::UserRecord;
use crate::domain::admin::{NewUser, UserPatch};
use crate::support::clock::SystemClock;

#[derive(Debug, Subcommand)]
pub(super) enum UsersCommand {
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
    /// Remove a user's second factor (TOTP secret and recovery codes): sign-ins stop
    /// asking for a code.
    ResetMfa { user: String },
    /// List a user's identities at sign-in providers (OpenID Connect, GitHub).
    Providers { user: String },
    /// Set a user's roles and default role.
    SetRoles {
        user: String,
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        #[arg(long)]
        default_role: Option<String>,
    },
}

fn print_user(user: &UserRecord) {
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

pub(super) async fn run(config: Config, command: UsersCommand) -> anyhow::Result<()> {
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
        UsersCommand::ResetMfa { user } => {
            let found = admin.find_user(&user).await?;
            crate::domain::mfa::reset(store.as_ref(), &SystemClock, found.id, &who).await?;
            println!("second factor reset for {}", found.id);
        }
        UsersCommand::Providers { user } => {
            let found = admin.find_user(&user).await?;
            let identities = store.identities_of(found.id).await?;
            if identities.is_empty() {
                println!("{} has no linked providers", found.id);
            }
            for identity in identities {
                println!(
                    "{}  {:<12}  email={}  linked={}  last-used={}",
                    found.id,
                    identity.provider,
                    identity.email.as_deref().unwrap_or("-"),
                    identity.created_at,
                    identity
                        .last_used_at
                        .map_or_else(|| "-".to_owned(), |at| at.to_string())
                );
            }
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
