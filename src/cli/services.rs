//! What the administration commands start from: the migrated store, the key service over
//! it, and the administration service; and who acts, as security events record it.

use std::sync::Arc;

use crate::config::Config;
use crate::domain::admin::Admin;
use crate::domain::keys::KeyService;
use crate::domain::oauth2::OAuthProvider;
use crate::domain::passwords::Passwords;
use crate::domain::sessions::{ClientInfo, RefreshTokens, Sessions};
use crate::domain::tokens::TokenIssuer;
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

/// The OAuth provider as the server builds it (`tessera clients`), with the administration
/// service (to find a user by id or email) and the store to close when done. Its sessions
/// sign with the key set and tag refresh tokens with the servers' key, so that ending a
/// grant here is the same act as on any replica; no liveness feed is started.
pub(super) async fn oauth2(
    config: &Config,
) -> anyhow::Result<(OAuthProvider, Admin, Arc<dyn Store>)> {
    let Services { store, clock, keys } = Services::open(config).await?;
    let tokens = Arc::new(TokenIssuer::new(keys.clone(), &config.tokens));
    let refresh_tokens = RefreshTokens::load(
        &store,
        &clock,
        keys.derived_secret(RefreshTokens::DERIVED_PURPOSE),
    )
    .await?;
    let sessions = Arc::new(Sessions::new(
        store.clone(),
        clock.clone(),
        tokens.clone(),
        refresh_tokens,
        &config.sessions,
    ));
    let provider = OAuthProvider::new(
        store.clone(),
        clock.clone(),
        sessions,
        tokens,
        &config.oauth2,
        &config.tokens,
    );
    let passwords = Arc::new(Passwords::new(&config.passwords)?);
    let admin = Admin::new(
        store.clone(),
        clock,
        passwords,
        keys,
        config.accounts.roles.clone(),
        None,
    );
    Ok((provider, admin, store))
}

/// The operator at the shell, as recorded in security events.
pub(super) fn operator() -> ClientInfo {
    ClientInfo::new("cli".into(), "tessera-cli")
}
