//! The Postgres store: the production backend.
//!
//! Concurrency rests on row locks: the refresh-token exchange locks the token and its
//! session (`FOR UPDATE OF t, s`), so concurrent callers with one token are serialised and
//! the second one sees the first one's successor. Key-set changes take a table lock.

mod events;
mod keys;
mod limits;
mod liveness;
mod mfa;
mod oauth2;
mod oauth2_clients;
mod passkeys;
mod pats;
mod providers;
mod rotation;
mod sessions;
mod tickets;
mod upkeep;
mod users;

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::store::{Changes, DatabaseStore, StoreResult};

/// A pool of Postgres connections.
pub struct PgStore {
    pool: PgPool,
    /// Where each method that ends a session or changes a user announces it, right after
    /// its commit (see `store::liveness`).
    changes: Changes,
}

impl PgStore {
    /// Connects, failing fast if the server cannot be reached.
    pub async fn connect(url: &str, max_connections: u32, timeout: Duration) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(timeout)
            .connect(url)
            .await?;
        Ok(Self {
            pool,
            changes: Changes::default(),
        })
    }
}

#[async_trait]
impl DatabaseStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn pool_stats(&self) -> (u32, usize, u32) {
        (
            self.pool.size(),
            self.pool.num_idle(),
            self.pool.options().get_max_connections(),
        )
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
