//! Session liveness for the domain's in-memory view (`domain::liveness`): the live session
//! with its user in one read, and the changes that can end a session or change a user,
//! reported to the view as they happen.
//!
//! Changes reach the view two ways, and it needs both:
//! - **announced**: each store method that revokes or deletes a session, or updates or
//!   deletes a users row, reports it through [`Changes`] right after its commit, before it
//!   returns. A client of this process therefore reads its own writes at once (sign out,
//!   then `/token/verify` on the same replica: refused).
//! - **followed**: [`LivenessStore::follow_changes`] reports what every other process
//!   commits (the other replicas, the CLI). On Postgres, triggers `pg_notify` each change
//!   and a listener applies them, with a heartbeat that proves it is in sync; on SQLite,
//!   triggers write them to `liveness_changes`, which the feed polls. See the migrations
//!   `0011_liveness_changes.sql`.

use std::sync::{Arc, RwLock, Weak};
use std::time::Instant;

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{StoreResult, UserRecord};

/// A session found live, as the view caches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSession {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The earlier of the session's `expires_at` and `absolute_expires_at` when it was read.
    /// Sliding expiry only moves `expires_at` forward, so this bound is conservative: past
    /// it, the session must be looked up again, never assumed dead or alive.
    pub live_until: OffsetDateTime,
}

/// A row that changed in a way that matters to liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// A session was revoked or deleted.
    Session(Uuid),
    /// A users row was updated (any column: disabled, email, roles, metadata, password...)
    /// or deleted. For the view this also stands for "some of this user's sessions were
    /// revoked": without its user's entry, no session of the user is answered from memory.
    User(Uuid),
}

/// What hears about changes: the domain's liveness view. Every method must be cheap and
/// must not block: it is called on the path of a store call, right after its commit.
pub trait ChangeSink: Send + Sync {
    /// A row changed: forget what is known about it.
    fn changed(&self, change: Change);
    /// Every change committed before `started` has been passed to [`changed`](Self::changed).
    fn synced(&self, started: Instant);
    /// The feed listens again after a gap in which changes may have been missed: forget
    /// everything. Called before the first [`synced`](Self::synced) of the new connection.
    fn reset(&self);
    /// The feed lost its connection: changes may be missed from now on, so nothing known
    /// may be trusted until the next [`synced`](Self::synced).
    fn lost(&self);
}

/// The announcer a store reports changes through, to every sink subscribed. The sinks are
/// held weakly: the view holds the store, and the store must not keep the view alive.
#[derive(Default)]
pub struct Changes {
    sinks: RwLock<Vec<Weak<dyn ChangeSink>>>,
}

impl Changes {
    /// Adds a sink (and drops those that are gone).
    pub fn subscribe(&self, sink: Weak<dyn ChangeSink>) {
        let mut sinks = self.sinks.write().unwrap_or_else(|e| e.into_inner());
        sinks.retain(|sink| sink.strong_count() > 0);
        sinks.push(sink);
    }

    /// Reports a committed change to every sink.
    pub fn announce(&self, change: Change) {
        self.each(|sink| sink.changed(change));
    }

    /// Reports that every change committed before `started` has been announced.
    pub fn synced(&self, started: Instant) {
        self.each(|sink| sink.synced(started));
    }

    /// Reports a fresh start after a gap (see [`ChangeSink::reset`]).
    pub fn reset(&self) {
        self.each(|sink| sink.reset());
    }

    /// Reports a lost feed (see [`ChangeSink::lost`]).
    pub fn lost(&self) {
        self.each(|sink| sink.lost());
    }

    fn each(&self, call: impl Fn(&Arc<dyn ChangeSink>)) {
        let sinks = self.sinks.read().unwrap_or_else(|e| e.into_inner());
        for sink in sinks.iter().filter_map(Weak::upgrade) {
            call(&sink);
        }
    }
}

/// Liveness reads and the change feed. Part of [`Store`](super::Store).
#[async_trait]
pub trait LivenessStore: Send + Sync + 'static {
    /// The session with its user if the session is live at `now`: exactly the rule of
    /// [`session_is_live`](super::SessionStore::session_is_live) (unrevoked, unexpired, its
    /// user enabled), in one round trip.
    async fn live_session(
        &self,
        id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Option<(LiveSession, UserRecord)>>;
    /// The announcer of this store: subscribe a sink to hear of its changes.
    fn changes(&self) -> &Changes;
    /// Follows the changes committed by every process and reports them, with the syncs and
    /// losses of the feed, through [`changes`](Self::changes). Runs until its task is
    /// aborted; reconnects by itself and never returns.
    async fn follow_changes(&self);
}
