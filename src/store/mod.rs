//! Storage: one interface, two implementations (Postgres for production, SQLite embedded).
//!
//! The domain talks to `dyn Store` only. [`Store`] is the sum of one trait per concept
//! ([`UserStore`], [`SessionStore`], [`KeyStore`], [`TicketStore`], [`LimitStore`],
//! [`EventStore`], [`UpkeepStore`], [`PatStore`], [`MfaStore`], [`PasskeyStore`], [`ProviderStore`],
//! [`OAuthClientStore`], [`AuthorizationStore`], [`LivenessStore`] and [`DatabaseStore`]), each in its own
//! file here; each implementation has one file per concept too, and keeps its SQL next to
//! the code that runs it. The schema lives in `migrations/<backend>/`. Both pass the same
//! contract suite (`tests/store`).

mod database;
mod error;
mod events;
mod keys;
mod limits;
mod liveness;
mod mfa;
mod oauth2;
mod passkeys;
mod pats;
mod postgres;
mod providers;
mod records;
mod sessions;
mod shared;
mod sqlite;
mod tickets;
mod upkeep;
mod users;

use std::sync::Arc;

use secrecy::ExposeSecret;

pub use database::DatabaseStore;
pub use error::{StoreError, StoreResult};
pub use events::EventStore;
pub use keys::KeyStore;
pub use limits::LimitStore;
pub use liveness::{Change, ChangeSink, Changes, LiveSession, LivenessStore};
pub use mfa::MfaStore;
pub use oauth2::{
    AuthorizationRequestRecord, AuthorizationStore, CodeTake, ConsentRecord, OAuthClientRecord,
    OAuthClientStore, OAuthGrantRecord,
};
pub use passkeys::PasskeyStore;
pub use pats::PatStore;
pub use providers::ProviderStore;
pub use records::*;
pub use sessions::SessionStore;
pub(crate) use shared::{
    from_micros, like_pattern, merged_methods, methods_column, methods_of, to_micros,
};
pub use tickets::TicketStore;
pub use upkeep::UpkeepStore;
pub use users::UserStore;

use crate::config::{Database, DatabaseConfig};

/// Everything Tessera keeps. Times are always passed in from the domain's clock.
///
/// Nothing of its own: every store that implements each concept's trait is a `Store`.
pub trait Store:
    DatabaseStore
    + UserStore
    + SessionStore
    + KeyStore
    + TicketStore
    + LimitStore
    + EventStore
    + UpkeepStore
    + PatStore
    + MfaStore
    + PasskeyStore
    + ProviderStore
    + OAuthClientStore
    + AuthorizationStore
    + LivenessStore
{
}

impl<T> Store for T where
    T: DatabaseStore
        + UserStore
        + SessionStore
        + KeyStore
        + TicketStore
        + LimitStore
        + EventStore
        + UpkeepStore
        + PatStore
        + MfaStore
        + PasskeyStore
        + ProviderStore
        + OAuthClientStore
        + AuthorizationStore
        + LivenessStore
{
}

/// Connects to the configured database (creating the SQLite file and its directory).
pub async fn connect(config: &DatabaseConfig) -> StoreResult<Arc<dyn Store>> {
    Ok(match &config.location {
        Database::Postgres(url) => Arc::new(
            postgres::PgStore::connect(url.expose_secret(), config.max_connections, config.timeout)
                .await?,
        ),
        Database::Sqlite(path) => Arc::new(
            sqlite::SqliteStore::connect(path, config.max_connections, config.timeout).await?,
        ),
    })
}
