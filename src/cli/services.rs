//! What the administration commands start from: the migrated store, the key service over
//! it, and the administration service; and who acts, as security events record it.

use std::sync::Arc;

use crate::config::Config;
use crate::domain::admin::Admin;
use crate::domain::keys::KeyService;
use crate::domain::passwords::Passwords;
use crate::domain::sessions::ClientInfo;
use crate::store::{self, Store};
use crate::support::clock::{Clock, SystemClock};

/// The migrated store, the system clock and the key service: the CLI is a composition
/// root, and builds here the services its commands go through.
pub(super) struct Services {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<KeyService>,
}

impl Services {
    /// Connects, applies the migrations and loads the key set.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        let store = store::connect(&config.database).await?;
        store.migrate().await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let keys = KeyService::start(
            store.clone(),
            clock.clone(),
            &config.keys,
            &config.database.location,
            config.tokens.access_token_ttl,
        )
        .await?;
        Ok(Self { store, clock, keys })
    }
}

/// The administration service, as the CLI uses it, and the store to close when done.
pub(super) async fn admin(config: &Config) -> anyhow::Result<(Admin, Arc<dyn Store>)> {
    let Services { store, clock, keys } = Services::open(config).await?;
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
pub(super) fn operator() -> ClientInfo {
    ClientInfo::new("cli".into(), "tessera-cli")
}
