//! Liveness: the live session with its user in one read, and the announcement of every
//! change that ends a session or changes a user (what keeps the in-memory view exact on
//! the replica that made the change).

use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use serde_json::json;
use tessera::store::{
    Change, ChangeSink, NewRefreshToken, PatRecord, RotationPlan, Store, UserUpdate,
};
use time::Duration;
use uuid::Uuid;

use crate::{NOW, event, insert_session, insert_user, random_hash, session, user};

/// A sink that records the changes announced to it.
#[derive(Default)]
struct Recorder(Mutex<Vec<Change>>);

impl ChangeSink for Recorder {
    fn changed(&self, change: Change) {
        self.0.lock().unwrap().push(change);
    }
    fn synced(&self, _: Instant) {}
    fn reset(&self) {}
    fn lost(&self) {}
}

impl Recorder {
    /// Subscribes a recorder to `store`'s announcements.
    fn on(store: &dyn Store) -> Arc<Recorder> {
        let recorder = Arc::new(Recorder::default());
        let sink: Weak<dyn ChangeSink> = Arc::downgrade(&recorder) as Weak<dyn ChangeSink>;
        store.changes().subscribe(sink);
        recorder
    }

    /// What was announced since the last call.
    fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

pub async fn live_session_is_session_is_live_with_the_user(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let owner = insert_user(store, "live-view@example.com").await;
    let (capped, _) = insert_session(store, owner.id).await;
    let (mut uncapped, token) = session(owner.id);
    uncapped.absolute_expires_at = None;
    store.create_session(&uncapped, &token).await.unwrap();
    let (mut cap_first, token) = session(owner.id);
    cap_first.absolute_expires_at = Some(NOW + Duration::hours(2));
    cap_first.expires_at = NOW + Duration::hours(3);
    store.create_session(&cap_first, &token).await.unwrap();

    for (session, until) in [
        (&capped, capped.expires_at),
        (&uncapped, uncapped.expires_at),
        (&cap_first, NOW + Duration::hours(2)),
    ] {
        let (live, found) = store
            .live_session(session.id, NOW)
            .await
            .unwrap()
            .expect("live");
        assert_eq!((live.id, live.user_id), (session.id, owner.id));
        assert_eq!(live.live_until, until, "the earlier of expiry and cap");
        assert_eq!(found, owner);
    }

    // Wherever `session_is_live` says no, so does `live_session`.
    let (mut expiring, token) = session(owner.id);
    expiring.expires_at = NOW;
    store.create_session(&expiring, &token).await.unwrap();
    let (revoked, _) = insert_session(store, owner.id).await;
    let ended = event(NOW, "session-revoked", Some(owner.id), Some(revoked.id));
    store
        .revoke_session(revoked.id, owner.id, "user", &ended)
        .await
        .unwrap();
    for id in [expiring.id, revoked.id, Uuid::new_v4(), capped.id] {
        for at in [NOW - Duration::seconds(1), NOW] {
            assert_eq!(
                store.live_session(id, at).await.unwrap().is_some(),
                store.session_is_live(id, at).await.unwrap(),
                "{id} at {at}"
            );
        }
    }
    assert!(store.set_user_disabled(owner.id, true, NOW).await.unwrap());
    assert!(store.live_session(capped.id, NOW).await.unwrap().is_none());
}

pub async fn session_revocations_are_announced_and_refreshes_are_not(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let owner = insert_user(store, "announce-sessions@example.com").await;
    let recorder = Recorder::on(store);
    let (one, _) = insert_session(store, owner.id).await;
    let (kept, _) = insert_session(store, owner.id).await;
    let (reused, first) = session(owner.id);
    store.create_session(&reused, &first).await.unwrap();
    assert_eq!(recorder.take(), [], "a new session changes nothing known");

    let ended = event(NOW, "session-revoked", Some(owner.id), Some(one.id));
    assert!(
        store
            .revoke_session(one.id, owner.id, "user", &ended)
            .await
            .unwrap()
    );
    assert_eq!(recorder.take(), [Change::Session(one.id)]);

    // A refresh (the locked path) only slides expiry: nothing to announce.
    let successor = NewRefreshToken {
        id: Uuid::new_v4(),
        hash: random_hash(),
        created_at: NOW,
        expires_at: NOW + Duration::days(1),
        generation: 2,
    };
    let plan = store
        .rotate_refresh_token(&first.hash, &|_| RotationPlan::Rotate {
            successor: successor.clone(),
            successor_sealed: vec![1, 2, 3],
            session_expires_at: NOW + Duration::days(1),
            user_agent: "agent/2".to_owned(),
            ip: "192.0.2.2".to_owned(),
        })
        .await
        .unwrap();
    assert!(matches!(plan, RotationPlan::Rotate { .. }));
    assert_eq!(recorder.take(), [], "a refresh announces nothing");

    // A detected reuse revokes the session: announced.
    let reuse = event(NOW, "refresh-token-reused", Some(owner.id), Some(reused.id));
    let plan = store
        .rotate_refresh_token(&first.hash, &|_| RotationPlan::Revoke {
            event: reuse.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(plan, RotationPlan::Revoke { .. }));
    assert_eq!(recorder.take(), [Change::Session(reused.id)]);

    // Reuse of an earlier generation (a token whose row is gone): announced too.
    let (earlier, earlier_token) = session(owner.id);
    store
        .create_session(&earlier, &earlier_token)
        .await
        .unwrap();
    let next = NewRefreshToken {
        id: Uuid::new_v4(),
        hash: random_hash(),
        ..successor.clone()
    };
    store
        .rotate_refresh_token(&earlier_token.hash, &|_| RotationPlan::Rotate {
            successor: next.clone(),
            successor_sealed: vec![1],
            session_expires_at: NOW + Duration::days(1),
            user_agent: String::new(),
            ip: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(recorder.take(), [], "a refresh announces nothing");
    let reuse = event(NOW, "refresh-token-reused", None, Some(earlier.id));
    assert!(
        store
            .revoke_earlier_generation(earlier.id, 1, &reuse)
            .await
            .unwrap()
    );
    assert_eq!(recorder.take(), [Change::Session(earlier.id)]);

    let all = event(NOW, "session-revoked", Some(owner.id), None);
    assert_eq!(
        store
            .revoke_user_sessions(owner.id, None, "signout-all", &all)
            .await
            .unwrap(),
        1
    );
    assert_eq!(recorder.take(), [Change::User(owner.id)]);
    assert!(!store.session_is_live(kept.id, NOW).await.unwrap());
}

pub async fn user_changes_are_announced(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let owner = insert_user(store, "announce-users@example.com").await;
    let recorder = Recorder::on(store);
    let changed = [Change::User(owner.id)];

    let hash = owner.password_hash.clone().unwrap();
    assert!(
        store
            .set_password_hash(owner.id, &hash, "$argon2id$new", NOW)
            .await
            .unwrap()
    );
    assert_eq!(recorder.take(), changed, "set_password_hash");
    let update = UserUpdate {
        metadata: Some(json!({ "plan": "pro" })),
        ..UserUpdate::default()
    };
    store.update_user(owner.id, &update, NOW).await.unwrap();
    assert_eq!(recorder.take(), changed, "update_user");
    assert!(store.set_user_disabled(owner.id, true, NOW).await.unwrap());
    assert_eq!(recorder.take(), changed, "set_user_disabled");
    assert!(store.set_user_disabled(owner.id, false, NOW).await.unwrap());
    assert_eq!(recorder.take(), changed, "set_user_disabled (enable)");

    store
        .put_pending_totp(owner.id, b"sealed", &[vec![1u8; 32]], NOW)
        .await
        .unwrap();
    let enabled = event(NOW, "mfa-enabled", Some(owner.id), None);
    assert!(
        store
            .enable_totp(owner.id, b"sealed", NOW, &enabled)
            .await
            .unwrap()
    );
    assert_eq!(recorder.take(), changed, "enable_totp");
    let reset = event(NOW, "mfa-reset", Some(owner.id), None);
    assert!(store.remove_mfa(owner.id, &reset).await.unwrap());
    assert_eq!(recorder.take(), changed, "remove_mfa");

    let token = PatRecord {
        id: Uuid::new_v4(),
        user_id: owner.id,
        hash: random_hash(),
        created_at: NOW,
        expires_at: NOW + Duration::days(1),
        last_used_at: None,
        revoked_at: None,
        metadata: json!({}),
    };
    store.insert_pat(&token).await.unwrap();
    let (from_pat, _) = insert_session(store, owner.id).await;
    store.link_pat_session(from_pat.id, token.id).await.unwrap();
    let revoked = event(NOW, "pat-revoked", Some(owner.id), None);
    assert!(
        store
            .revoke_pat(token.id, owner.id, "user", &revoked)
            .await
            .unwrap()
    );
    assert_eq!(
        recorder.take(),
        changed,
        "revoke_pat ends the PAT's sessions"
    );
    let other = PatRecord {
        id: Uuid::new_v4(),
        hash: random_hash(),
        ..token.clone()
    };
    store.insert_pat(&other).await.unwrap();
    let (from_other, _) = insert_session(store, owner.id).await;
    store
        .link_pat_session(from_other.id, other.id)
        .await
        .unwrap();
    assert_eq!(
        store
            .revoke_user_pats(owner.id, "user-disabled", &revoked)
            .await
            .unwrap(),
        1
    );
    assert_eq!(recorder.take(), changed, "revoke_user_pats");

    assert!(store.delete_user(owner.id).await.unwrap());
    assert_eq!(recorder.take(), changed, "delete_user");
}

pub async fn pruned_sessions_and_users_are_announced(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let owner = insert_user(store, "announce-prune@example.com").await;
    let cutoff = NOW - Duration::days(1);
    let (mut ended, token) = session(owner.id);
    ended.created_at = cutoff - Duration::days(2);
    ended.expires_at = cutoff - Duration::seconds(1);
    store.create_session(&ended, &token).await.unwrap();
    let mut anonymous = user("unused@example.com");
    anonymous.email = None;
    anonymous.is_anonymous = true;
    anonymous.created_at = cutoff - Duration::days(1);
    store.insert_user(&anonymous).await.unwrap();
    let recorder = Recorder::on(store);

    assert_eq!(store.prune_sessions(cutoff, 100).await.unwrap(), 1);
    assert_eq!(recorder.take(), [Change::Session(ended.id)]);
    assert_eq!(store.prune_anonymous_users(cutoff, 100).await.unwrap(), 1);
    assert_eq!(recorder.take(), [Change::User(anonymous.id)]);
}

crate::contract!(
    live_session_is_session_is_live_with_the_user,
    session_revocations_are_announced_and_refreshes_are_not,
    user_changes_are_announced,
    pruned_sessions_and_users_are_announced,
);
