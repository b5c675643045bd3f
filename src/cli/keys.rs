//! `tessera keys ...`: list, rotate, import and revoke signing keys, through the key
//! service.

use clap::Subcommand;

use super::services::{Services, operator};
use crate::config::Config;
use crate::domain::admin::key_revoked_event;
use crate::domain::keys::KeyService;
use crate::support::clock::Clock;

#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
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
        /// The key's kid (see `tessera keys list`). A kid is base64url and may start
        /// with `-`; it is still the kid, not a flag.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

pub(super) async fn run(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let Services { store, clock, keys } = Services::open(&config).await?;
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
            let event = key_revoked_event(clock.now(), &operator());
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

fn print_keys(keys: &KeyService, clock: &dyn Clock) {
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    /// A kid is base64url, so one in 64 starts with `-`: it must still be taken as the kid,
    /// not as a flag (CI once drew `-d...` and could not revoke it).
    #[test]
    fn a_kid_starting_with_a_dash_can_be_revoked() {
        let cli = Cli::try_parse_from(["tessera", "keys", "revoke", "-dQw4w9WgXcQ"]);
        let debug = format!("{:?}", cli.expect("a kid starting with `-` is parsed"));
        assert!(debug.contains("-dQw4w9WgXcQ"), "{debug}");
    }
}
