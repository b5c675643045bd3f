//! The database's health, as the operations routes report it: which backend answers,
//! whether it answers now, how busy its pool is, and whether the session liveness view
//! answers from memory. The HTTP layer reaches the store only through domain services;
//! this is the one for liveness and metrics.

use std::sync::Arc;

use crate::domain::liveness::{Liveness, ViewState};
use crate::store::{Store, StoreResult};

/// Liveness and pool figures of the store.
pub struct Health {
    store: Arc<dyn Store>,
    view: Arc<Liveness>,
}

impl Health {
    /// Reports on `store` and on the session liveness `view` over it.
    pub fn new(store: Arc<dyn Store>, view: Arc<Liveness>) -> Self {
        Self { store, view }
    }

    /// Whether sessions are answered from memory (`trusted`) or from the database.
    pub fn session_view(&self) -> ViewState {
        self.view.state()
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
