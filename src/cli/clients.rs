//! `tessera clients ...`: the apps that sign their users in through Tessera (the OAuth 2.1 /
//! OpenID provider), through the provider's service: what `/oauth2/clients` does over HTTP,
//! from a shell on the server.

use clap::{Args, Subcommand};

use super::services::{oauth2, operator};
use crate::config::Config;
use crate::domain::oauth2::{ClientSpec, NewClient, OAuthClientRecord};

#[derive(Debug, Subcommand)]
pub(super) enum ClientsCommand {
    /// List the registered apps, oldest first (never their secrets).
    List,
    /// Register an app. Prints its client id and, for a confidential client, its secret:
    /// shown this once (Tessera keeps only its SHA-256).
    Create {
        /// Shown to users on the consent page.
        #[arg(long)]
        name: String,
        /// A redirect URI, compared exactly at authorization (repeat for several): https,
        /// http on localhost, or a private-use scheme such as com.example.app:/callback.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may send the browser (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Scopes the app may ask for, comma-separated (default: openid,profile,email,
        /// offline_access).
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// A public client (a single-page or native app): no secret, PKCE alone. Fixed at
        /// creation.
        #[arg(long)]
        public: bool,
        /// The operator's own app: users are not asked for consent.
        #[arg(long)]
        first_party: bool,
    },
    /// Show one app.
    Show {
        /// The client id.
        client_id: String,
    },
    /// Change an app: the options given replace the current values, the others are kept
    /// (public or confidential is fixed at creation).
    Update {
        /// The client id.
        client_id: String,
        #[command(flatten)]
        changes: ClientChanges,
        /// Replace the secret: the old one stops working at once, the new one is printed
        /// this once.
        #[arg(long)]
        rotate_secret: bool,
    },
    /// Delete an app: every grant it holds ends at once (its refresh tokens stop working),
    /// its consents and pending requests go.
    Delete {
        /// The client id.
        client_id: String,
    },
    /// Withdraw an app's access to one user: its grants of that user end and consent will
    /// be asked again.
    RevokeApp {
        /// The user, by id or email.
        user: String,
        /// The client id.
        client_id: String,
    },
}

/// The options of `tessera clients update`; each replaces the current value when given.
#[derive(Debug, Args)]
pub(super) struct ClientChanges {
    #[arg(long)]
    name: Option<String>,
    /// Replaces every redirect URI (repeat for several).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Replaces every post-logout redirect URI (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Replaces the scopes, comma-separated.
    #[arg(long, value_delimiter = ',')]
    scopes: Vec<String>,
    /// `--first-party` or `--first-party=true`: no consent asked; `--first-party=false`:
    /// asked again.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    first_party: Option<bool>,
}

impl ClientChanges {
    /// The client as it will be: `current` with the options given.
    fn apply(self, record: &OAuthClientRecord) -> ClientSpec {
        let or_current = |given: Vec<String>, current: &[String]| {
            if given.is_empty() {
                current.to_vec()
            } else {
                given
            }
        };
        ClientSpec {
            name: self.name.unwrap_or_else(|| record.name.clone()),
            redirect_uris: or_current(self.redirect_uris, &record.redirect_uris),
            post_logout_redirect_uris: or_current(
                self.post_logout_redirect_uris,
                &record.post_logout_redirect_uris,
            ),
            scopes: or_current(self.scopes, &record.scopes),
            public: !record.confidential(),
            first_party: self.first_party.unwrap_or(record.first_party),
        }
    }
}

pub(super) async fn run(config: Config, command: ClientsCommand) -> anyhow::Result<()> {
    let (provider, admin, store) = oauth2(&config).await?;
    if !provider.enabled() {
        eprintln!(
            "note: TESSERA_OAUTH2_PROVIDER is not true: the clients are kept, but no /oauth2 route is served"
        );
    }
    let who = operator();
    match command {
        ClientsCommand::List => {
            let clients = provider.clients().await?;
            println!(
                "{:<36}  {:<12}  {:<11}  {:<8}  name",
                "client id", "type", "consent", "origin"
            );
            for record in &clients {
                println!(
                    "{:<36}  {:<12}  {:<11}  {:<8}  {}",
                    record.id,
                    kind(record),
                    if record.first_party {
                        "first-party"
                    } else {
                        "asked"
                    },
                    if record.dynamic { "dynamic" } else { "admin" },
                    record.name
                );
            }
        }
        ClientsCommand::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            scopes,
            public,
            first_party,
        } => {
            let spec = ClientSpec {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                scopes,
                public,
                first_party,
            };
            let created = provider.create_client(spec, false).await?;
            print_created(&created);
        }
        ClientsCommand::Show { client_id } => {
            print_client(&provider.client(&client_id).await?);
        }
        ClientsCommand::Update {
            client_id,
            changes,
            rotate_secret,
        } => {
            let current = provider.client(&client_id).await?;
            if rotate_secret && !current.confidential() {
                anyhow::bail!("{client_id} is a public client: it has no secret to rotate");
            }
            let spec = changes.apply(&current);
            let updated = provider
                .update_client(&client_id, spec, rotate_secret)
                .await?;
            print_created(&updated);
        }
        ClientsCommand::Delete { client_id } => {
            provider.delete_client(&client_id, &who).await?;
            println!("deleted client {client_id}; its grants have ended");
        }
        ClientsCommand::RevokeApp { user, client_id } => {
            let user = admin.find_user(&user).await?;
            provider
                .revoke_app(user.id, &client_id, "admin", &who)
                .await?;
            println!(
                "withdrew {client_id} from {}; its grants of that user have ended",
                user.id
            );
        }
    }
    store.close().await;
    Ok(())
}

/// `public` or `confidential`.
fn kind(client: &OAuthClientRecord) -> &'static str {
    if client.confidential() {
        "confidential"
    } else {
        "public"
    }
}

/// A client, one field a line (`client id:`, `name:`, ...).
fn print_client(record: &OAuthClientRecord) {
    let list = |items: &[String], separator: &str| {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(separator)
        }
    };
    println!("client id:      {}", record.id);
    println!("name:           {}", record.name);
    println!(
        "type:           {}",
        if record.confidential() {
            "confidential (client_secret_basic or client_secret_post)"
        } else {
            "public (no secret; PKCE alone)"
        }
    );
    println!(
        "consent:        {}",
        if record.first_party {
            "not asked (first-party)"
        } else {
            "asked"
        }
    );
    println!("redirect uris:  {}", list(&record.redirect_uris, " "));
    println!(
        "post-logout:    {}",
        list(&record.post_logout_redirect_uris, " ")
    );
    println!("scopes:         {}", list(&record.scopes, " "));
    println!(
        "registered by:  {}",
        if record.dynamic {
            "the app (RFC 7591)"
        } else {
            "an administrator"
        }
    );
    println!("created:        {}", rfc3339(record.created_at));
    println!("updated:        {}", rfc3339(record.updated_at));
}

/// A client just created or changed, and its new secret if it has one.
fn print_created(created: &NewClient) {
    print_client(&created.client);
    if let Some(secret) = &created.secret {
        println!("client secret:  {secret}");
        println!(
            "(shown this once: Tessera keeps only its SHA-256; store it in the app's secret store)"
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    #[test]
    fn create_takes_repeated_redirect_uris_and_comma_separated_scopes() {
        let cli = Cli::try_parse_from([
            "tessera",
            "clients",
            "create",
            "--name",
            "Grafana",
            "--redirect-uri",
            "https://a.example.com/cb",
            "--redirect-uri",
            "https://b.example.com/cb",
            "--scopes",
            "openid,email",
            "--first-party",
        ])
        .expect("parsed");
        let debug = format!("{cli:?}");
        for part in [
            "https://a.example.com/cb",
            "https://b.example.com/cb",
            "\"openid\", \"email\"",
            "first_party: true",
            "public: false",
        ] {
            assert!(debug.contains(part), "{part}: {debug}");
        }
        assert!(
            Cli::try_parse_from(["tessera", "clients", "create", "--name", "x"]).is_err(),
            "a redirect URI is required"
        );
    }

    #[test]
    fn update_keeps_what_is_not_given() {
        let cli = Cli::try_parse_from(["tessera", "clients", "update", "abc", "--rotate-secret"])
            .expect("parsed");
        let debug = format!("{cli:?}");
        assert!(
            debug.contains("name: None")
                && debug.contains("first_party: None")
                && debug.contains("rotate_secret: true"),
            "{debug}"
        );
        let cli =
            Cli::try_parse_from(["tessera", "clients", "update", "abc", "--first-party=false"])
                .expect("parsed");
        assert!(format!("{cli:?}").contains("first_party: Some(false)"));
        let cli = Cli::try_parse_from(["tessera", "clients", "update", "abc", "--first-party"])
            .expect("parsed");
        assert!(format!("{cli:?}").contains("first_party: Some(true)"));
    }
}
