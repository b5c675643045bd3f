//! What the liveness view remembers, and the rules under which it may be believed.
//!
//! The cache is `quick_cache`'s sync cache: bounded by a number of entries (memory does not
//! grow with sessions), sharded so that concurrent requests do not queue on one lock, and
//! evicting by a CLOCK-like policy that keeps the sessions verified again and again over
//! one-off lookups, with no background thread. Entries need no time-to-live of their own
//! (their expiry is checked at every read against `live_until`), so `moka`'s timers and
//! listeners would be weight for nothing; a hand-made capped map would have to reinvent
//! the eviction.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use quick_cache::sync::Cache;
use time::OffsetDateTime;
use uuid::Uuid;

use super::TRUST_WINDOW;
use crate::store::{Change, ChangeSink, LiveSession, UserRecord};

/// A session found live: whose it is, and until when that finding holds at most.
#[derive(Debug, Clone, Copy)]
struct Cached {
    user_id: Uuid,
    live_until: OffsetDateTime,
}

/// The cached sessions and users, the epoch of changes, and the last proven sync.
pub(super) struct Memory {
    sessions: Cache<Uuid, Cached>,
    users: Cache<Uuid, Arc<UserRecord>>,
    /// Bumped by every change applied, before the change removes anything: a lookup that
    /// read the store while the epoch moved cannot tell whether it read before or after the
    /// change, and takes back what it inserted.
    epoch: AtomicU64,
    /// What `synced` counts from.
    origin: Instant,
    /// When the last proven sync began, in nanoseconds after `origin`, plus one; 0 for none
    /// since the feed was (re)started or lost.
    synced: AtomicU64,
}

impl Memory {
    /// Room for `capacity` sessions and as many users.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            sessions: Cache::new(capacity),
            users: Cache::new(capacity),
            epoch: AtomicU64::new(0),
            origin: Instant::now(),
            synced: AtomicU64::new(0),
        }
    }

    /// Whether the feed proved, less than [`TRUST_WINDOW`] ago, that every change committed
    /// before then has been applied.
    pub(super) fn trusted(&self) -> bool {
        self.trusted_at(Instant::now())
    }

    fn trusted_at(&self, now: Instant) -> bool {
        let synced = self.synced.load(Ordering::SeqCst);
        synced != 0 && nanos_since(self.origin, now).saturating_sub(synced - 1) < window_nanos()
    }

    /// The user of a session remembered live at `now` whose user is remembered, enabled.
    /// Says nothing of trust: the caller checks [`trusted`](Self::trusted) first.
    pub(super) fn live(&self, id: Uuid, now: OffsetDateTime) -> Option<Arc<UserRecord>> {
        let session = self.sessions.get(&id).filter(|s| now < s.live_until)?;
        self.users
            .get(&session.user_id)
            .filter(|user| !user.disabled)
    }

    /// A remembered user.
    pub(super) fn user(&self, id: Uuid) -> Option<Arc<UserRecord>> {
        self.users.get(&id)
    }

    /// The epoch a lookup reads before it asks the store.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Remembers what a lookup that began at `epoch` read from the store, unless a change
    /// was applied meanwhile: then what it read may be older than that change, and it is
    /// taken back (the re-check comes after the insert, and a change bumps the epoch before
    /// it removes, so either the change removes the insert or the re-check sees the bump).
    pub(super) fn remember(&self, epoch: u64, session: LiveSession, user: Arc<UserRecord>) {
        let user_id = user.id;
        self.users.insert(user_id, user);
        self.sessions.insert(
            session.id,
            Cached {
                user_id: session.user_id,
                live_until: session.live_until,
            },
        );
        if self.epoch.load(Ordering::SeqCst) != epoch {
            self.sessions.remove(&session.id);
            self.users.remove(&user_id);
        }
    }

    fn forget_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.sessions.clear();
        self.users.clear();
    }
}

impl ChangeSink for Memory {
    fn changed(&self, change: Change) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        match change {
            Change::Session(id) => {
                self.sessions.remove(&id);
            }
            Change::User(id) => {
                self.users.remove(&id);
            }
        }
    }

    fn synced(&self, started: Instant) {
        self.synced
            .fetch_max(nanos_since(self.origin, started) + 1, Ordering::SeqCst);
    }

    fn reset(&self) {
        self.synced.store(0, Ordering::SeqCst);
        self.forget_all();
    }

    fn lost(&self) {
        self.synced.store(0, Ordering::SeqCst);
        self.forget_all();
    }
}

fn nanos_since(origin: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(origin).as_nanos()).unwrap_or(u64::MAX)
}

fn window_nanos() -> u64 {
    u64::try_from(TRUST_WINDOW.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2030-01-01 12:00 UTC)
    }

    fn found(user: &UserRecord) -> (LiveSession, Arc<UserRecord>) {
        let session = LiveSession {
            id: Uuid::new_v4(),
            user_id: user.id,
            live_until: now() + time::Duration::hours(1),
        };
        (session, Arc::new(user.clone()))
    }

    fn synced_memory() -> Memory {
        let memory = Memory::new(100);
        memory.synced(Instant::now());
        memory
    }

    #[test]
    fn a_lookup_remembers_what_it_read_when_nothing_changed() {
        let memory = synced_memory();
        let user = UserRecord::placeholder(Uuid::new_v4(), now());
        let (session, read) = found(&user);
        let epoch = memory.epoch();
        memory.remember(epoch, session, read);
        assert!(memory.trusted());
        assert_eq!(memory.live(session.id, now()).map(|u| u.id), Some(user.id));
        assert!(
            memory.live(session.id, session.live_until).is_none(),
            "past live_until"
        );
    }

    /// The race of the module documentation: the store answered "live" just before a
    /// revocation was applied, and the lookup inserts afterwards. It must not leave the
    /// revoked session behind.
    #[test]
    fn a_lookup_that_read_before_a_change_does_not_bring_it_back() {
        let memory = synced_memory();
        let user = UserRecord::placeholder(Uuid::new_v4(), now());
        let (session, read) = found(&user);
        let epoch = memory.epoch(); // the lookup begins and asks the store
        memory.changed(Change::Session(session.id)); // the revocation is applied
        memory.remember(epoch, session, read); // the lookup inserts what it read
        assert!(memory.live(session.id, now()).is_none());

        // The same with a user change (disabled) applied while the store was read.
        let (session, read) = found(&user);
        let epoch = memory.epoch();
        memory.changed(Change::User(user.id));
        memory.remember(epoch, session, read);
        assert!(memory.live(session.id, now()).is_none());
        assert!(
            memory.user(user.id).is_none(),
            "a stale user is not served to /user"
        );
    }

    /// Lookups and changes on many threads at once, against a model of the database: a
    /// revocation commits (the flag) before it is applied (`changed`), and a lookup that
    /// reads the flag unset inserts what it read. Once every revocation has been applied,
    /// no revoked session is answered from memory, whatever the interleaving.
    #[test]
    fn concurrent_lookups_never_keep_a_revoked_session() {
        use std::sync::atomic::AtomicBool;
        let memory = synced_memory();
        let user = Arc::new(UserRecord::placeholder(Uuid::new_v4(), now()));
        let sessions: Vec<_> = (0..300).map(|_| found(&user).0).collect();
        let revoked: Vec<AtomicBool> = sessions.iter().map(|_| AtomicBool::new(false)).collect();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for (session, revoked) in sessions.iter().zip(&revoked) {
                        let epoch = memory.epoch();
                        if !revoked.load(Ordering::SeqCst) {
                            std::thread::yield_now();
                            memory.remember(epoch, *session, user.clone());
                        }
                    }
                });
            }
            scope.spawn(|| {
                for (session, revoked) in sessions.iter().zip(&revoked) {
                    revoked.store(true, Ordering::SeqCst);
                    std::thread::yield_now();
                    memory.changed(Change::Session(session.id));
                }
            });
        });
        for session in &sessions {
            assert!(memory.live(session.id, now()).is_none());
        }
    }

    #[test]
    fn a_disabled_user_is_never_answered_from_memory() {
        let memory = synced_memory();
        let mut user = UserRecord::placeholder(Uuid::new_v4(), now());
        user.disabled = true;
        let (session, read) = found(&user);
        memory.remember(memory.epoch(), session, read);
        assert!(memory.live(session.id, now()).is_none());
    }

    #[test]
    fn trust_needs_a_recent_sync_and_ends_with_a_loss_or_a_reset() {
        let memory = Memory::new(10);
        assert!(!memory.trusted(), "no sync yet");
        let start = Instant::now();
        memory.synced(start);
        assert!(memory.trusted_at(start + TRUST_WINDOW / 2));
        assert!(
            !memory.trusted_at(start + TRUST_WINDOW + Duration::from_millis(1)),
            "a sync older than the window proves nothing now"
        );
        memory.lost();
        assert!(!memory.trusted());
        memory.synced(Instant::now());
        memory.reset();
        assert!(!memory.trusted());
    }

    #[test]
    fn a_reset_forgets_everything() {
        let memory = synced_memory();
        let user = UserRecord::placeholder(Uuid::new_v4(), now());
        let (session, read) = found(&user);
        memory.remember(memory.epoch(), session, read);
        memory.reset();
        memory.synced(Instant::now());
        assert!(memory.live(session.id, now()).is_none());
        assert!(memory.user(user.id).is_none());
    }

    #[test]
    fn memory_is_bounded() {
        let memory = Memory::new(50);
        let user = UserRecord::placeholder(Uuid::new_v4(), now());
        for _ in 0..1000 {
            let (session, read) = found(&user);
            memory.remember(memory.epoch(), session, read);
        }
        assert!(memory.sessions.len() <= 50, "{}", memory.sessions.len());
    }
}
