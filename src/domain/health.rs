//! The database's health, as the operations routes report it: which backend answers,
//! whether it answers now, and how busy its pool is. The HTTP layer reaches the store only
//! through domain services; this is the one for liveness and metrics.

use std::sync::Arc;

use crate::store::{Store, StoreResult};

/// Liveness and pool figures of the store.
pub struct Health {
    store: Arc<dyn Store>,
}

impl Health {
    /// Reports on `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Connections open, idle, and the maximum (for metrics).
    pub fn pool_stats(&self) -> (u32, usize, u32) {
        self.store.pool_stats()
    }

    /// One round trip to the database. No timeout of its own: the caller bounds it.
    pub async fn ping(&self) -> StoreResult<()> {
        self.store.ping().await
    }
}
