//! The in-memory session liveness view: verifying an access token (`/token/verify`,
//! `/user`, every authenticated route) without a database round trip, exact across
//! replicas within a stated bound.
//!
//! An access token verifies offline, but its session may have been revoked, or its user
//! disabled, since it was issued: each check used to ask the database. The view remembers,
//! for sessions found live, `session -> (user, live_until)` and `user -> UserRecord`, and
//! answers from memory when all of these hold:
//! - the session is remembered and `now < live_until` (the earlier of the session's
//!   expiry and absolute cap when it was read; a refresh only moves expiry forward, so past
//!   this bound the session is looked up again);
//! - its user is remembered and not disabled;
//! - the view is *trusted*: the change feed proved less than [`TRUST_WINDOW`] ago that
//!   every change committed before then had been applied (`store::liveness`).
//!
//! Anything else asks the store (one query: the live session with its user) and remembers
//! the answer. Changes remove entries: a revoked or deleted session, any change to a users
//! row or a deleted user. They arrive announced by this process's own store right after
//! each commit (so a client reads its own writes on this replica), and followed from the
//! database for every other process (Postgres notifications with a heartbeat, or SQLite's
//! polled table). Hence the bound: a session revoked anywhere is refused by every replica
//! at most [`TRUST_WINDOW`] after the revocation committed, within milliseconds on a
//! healthy database; a replica whose feed is lost, failing or silent answers from the
//! database until it listens again, has forgotten everything, and proved a fresh sync.
//!
//! A lookup that read the store just before a change was applied must not put stale state
//! back: see `Memory::remember` (memory.rs) and its epoch.

mod memory;

use std::sync::{Arc, Weak};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::store::{ChangeSink, Store, StoreResult, UserRecord};

use self::memory::Memory;

/// How recent the last proven sync must be for the view to answer from memory, and so the
/// longest a revocation committed elsewhere can go unseen here. Four Postgres heartbeats
/// (250 ms each) or twenty SQLite polls (50 ms): one late heartbeat does not cost the
/// cache, a stopped feed costs it within a second.
pub const TRUST_WINDOW: Duration = Duration::from_secs(1);

/// How the view answers now, for health reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewState {
    /// In sync: live sessions are answered from memory.
    Trusted,
    /// The feed is starting, lost or behind: every check asks the database.
    Fallback,
    /// No cache (`TESSERA_SESSION_CACHE_SIZE=0`): every check asks the database.
    Off,
}

impl ViewState {
    /// `trusted`, `fallback` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewState::Trusted => "trusted",
            ViewState::Fallback => "fallback",
            ViewState::Off => "off",
        }
    }
}

/// The view over one store.
pub struct Liveness {
    store: Arc<dyn Store>,
    /// `None` when the cache is off.
    memory: Option<Arc<Memory>>,
}

impl Liveness {
    /// A view remembering up to `capacity` sessions and as many users (0: no cache),
    /// hearing the changes `store` announces. It stays in fallback until
    /// [`spawn_feed`](Self::spawn_feed) has proved a sync: a one-shot command that never
    /// starts the feed always asks the database.
    pub fn new(store: Arc<dyn Store>, capacity: usize) -> Self {
        let memory = (capacity > 0).then(|| Arc::new(Memory::new(capacity)));
        if let Some(memory) = &memory {
            let sink: Weak<dyn ChangeSink> = Arc::downgrade(memory) as Weak<dyn ChangeSink>;
            store.changes().subscribe(sink);
        }
        Self { store, memory }
    }

    /// Starts following the changes other processes commit (none when the cache is off);
    /// abort the task to stop it.
    pub fn spawn_feed(&self) -> Option<JoinHandle<()>> {
        self.memory.as_ref()?;
        let store = self.store.clone();
        Some(tokio::spawn(async move { store.follow_changes().await }))
    }

    /// Whether the session is live at `now` (unrevoked, unexpired, its user enabled).
    pub async fn is_live(&self, session_id: Uuid, now: OffsetDateTime) -> StoreResult<bool> {
        Ok(self.live_user(session_id, now).await?.is_some())
    }

    /// The user of a session live at `now`; `None` when the session is not live.
    pub async fn live_user(
        &self,
        session_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Arc<UserRecord>>> {
        let Some(memory) = &self.memory else {
            let found = self.store.live_session(session_id, now).await?;
            return Ok(found.map(|(_, user)| Arc::new(user)));
        };
        if memory.trusted()
            && let Some(user) = memory.live(session_id, now)
        {
            return Ok(Some(user));
        }
        let epoch = memory.epoch();
        let Some((session, user)) = self.store.live_session(session_id, now).await? else {
            return Ok(None);
        };
        let user = Arc::new(user);
        memory.remember(epoch, session, user.clone());
        Ok(Some(user))
    }

    /// A user by id: from memory while trusted (remembered by the authentication of the
    /// same request, and removed by any change to the row), else from the store.
    pub async fn user(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        if let Some(memory) = &self.memory
            && memory.trusted()
            && let Some(user) = memory.user(id)
        {
            return Ok(Some(UserRecord::clone(&user)));
        }
        self.store.user_by_id(id).await
    }

    /// Whether the view answers from memory now.
    pub fn state(&self) -> ViewState {
        match &self.memory {
            None => ViewState::Off,
            Some(memory) if memory.trusted() => ViewState::Trusted,
            Some(_) => ViewState::Fallback,
        }
    }
}
