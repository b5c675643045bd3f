//! Sessions: liveness, listing, revocation and step-up.

use std::sync::Arc;

use tessera::store::{SessionRecord, Store};
use time::Duration;
use uuid::Uuid;

use crate::{NOW, event, insert_session, insert_user, session};

pub async fn session_is_live_until_revoked_expired_or_its_user_disabled(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "live@example.com").await;
    let (live, _) = insert_session(store, user.id).await;
    assert!(store.session_is_live(live.id, NOW).await.unwrap());
    assert!(!store.session_is_live(Uuid::new_v4(), NOW).await.unwrap());

    // Expired: at its expiry instant already.
    let (mut expiring, token) = session(user.id);
    expiring.expires_at = NOW;
    store.create_session(&expiring, &token).await.unwrap();
    assert!(
        store
            .session_is_live(expiring.id, NOW - Duration::seconds(1))
            .await
            .unwrap()
    );
    assert!(!store.session_is_live(expiring.id, NOW).await.unwrap());

    // Revoked.
    let (revoked, _) = insert_session(store, user.id).await;
    let ended = event(NOW, "session-revoked", Some(user.id), Some(revoked.id));
    assert!(
        store
            .revoke_session(revoked.id, user.id, "user", &ended)
            .await
            .unwrap()
    );
    assert!(!store.session_is_live(revoked.id, NOW).await.unwrap());

    // Disabled user: none of their sessions is live, and all are again once re-enabled.
    assert!(store.set_user_disabled(user.id, true, NOW).await.unwrap());
    assert!(!store.session_is_live(live.id, NOW).await.unwrap());
    assert!(store.set_user_disabled(user.id, false, NOW).await.unwrap());
    assert!(store.session_is_live(live.id, NOW).await.unwrap());
}

pub async fn live_sessions_lists_only_live_ones_newest_first(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "list@example.com").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let (mut session, token) = session(user.id);
        session.created_at = NOW - Duration::hours(3 - n);
        store.create_session(&session, &token).await.unwrap();
        ids.push(session.id);
    }
    let (mut expired, token) = session(user.id);
    expired.expires_at = NOW - Duration::seconds(1);
    store.create_session(&expired, &token).await.unwrap();
    let other = insert_user(store, "list-other@example.com").await;
    insert_session(store, other.id).await;

    let listed = store.live_sessions(user.id, NOW).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        [ids[2], ids[1], ids[0]]
    );
}

pub async fn revoke_session_takes_only_the_owners_live_session(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let owner = insert_user(store, "owner@example.com").await;
    let stranger = insert_user(store, "stranger@example.com").await;
    let (session, token) = insert_session(store, owner.id).await;
    let by_stranger = event(NOW, "session-revoked", Some(stranger.id), Some(session.id));
    assert!(
        !store
            .revoke_session(session.id, stranger.id, "user", &by_stranger)
            .await
            .unwrap(),
        "not theirs"
    );
    assert!(store.session_is_live(session.id, NOW).await.unwrap());
    assert!(store.events(None, 10).await.unwrap().is_empty(), "no event");

    let by_owner = event(NOW, "session-revoked", Some(owner.id), Some(session.id));
    assert!(
        store
            .revoke_session(session.id, owner.id, "user", &by_owner)
            .await
            .unwrap()
    );
    assert_eq!(
        store.session(session.id).await.unwrap().unwrap().revoked_at,
        Some(NOW)
    );
    assert!(!store.refresh_token_is_current(&token, NOW).await.unwrap());
    assert_eq!(
        store.events(Some(owner.id), 10).await.unwrap(),
        std::slice::from_ref(&by_owner)
    );
    assert!(
        !store
            .revoke_session(session.id, owner.id, "user", &by_owner)
            .await
            .unwrap(),
        "already revoked"
    );
    assert_eq!(store.events(Some(owner.id), 10).await.unwrap().len(), 1);
}

pub async fn revoke_user_sessions_ends_all_but_the_one_kept(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "everywhere@example.com").await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(insert_session(store, user.id).await.0.id);
    }
    let other = insert_user(store, "bystander@example.com").await;
    let (bystander, _) = insert_session(store, other.id).await;
    let all = event(NOW, "session-revoked", Some(user.id), None);

    let kept = sessions[1];
    let revoked = store
        .revoke_user_sessions(user.id, Some(kept), "signout-all", &all)
        .await
        .unwrap();
    assert_eq!(revoked, 2);
    let live: Vec<Uuid> = store
        .live_sessions(user.id, NOW)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, [kept]);
    assert!(store.session_is_live(bystander.id, NOW).await.unwrap());
    assert_eq!(store.events(Some(user.id), 10).await.unwrap().len(), 1);

    // Without `keep`, the last one goes too; with nothing left, nothing is recorded.
    assert_eq!(
        store
            .revoke_user_sessions(user.id, None, "signout-all", &all)
            .await
            .unwrap(),
        1
    );
    assert!(store.live_sessions(user.id, NOW).await.unwrap().is_empty());
    assert_eq!(
        store
            .revoke_user_sessions(user.id, None, "signout-all", &all)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.events(Some(user.id), 10).await.unwrap().len(), 2);
}

pub async fn a_refresh_token_names_its_session_whether_current_or_rotated(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "named@example.com").await;
    let (session, token) = insert_session(store, user.id).await;
    assert_eq!(
        store.session_by_refresh_token(&token).await.unwrap(),
        Some(session.clone())
    );
    // Once rotated, the old token still names the session (sign-out with a stale token).
    let (_, successor) = crate::session(user.id);
    let plan = tessera::store::RotationPlan::Rotate {
        successor: successor.clone(),
        successor_sealed: b"sealed".to_vec(),
        session_expires_at: session.expires_at,
        user_agent: session.user_agent.clone(),
        ip: session.ip.clone(),
    };
    store
        .rotate_refresh_token(&token, &|_| plan.clone())
        .await
        .unwrap();
    for hash in [&token, &successor.hash] {
        let named = store.session_by_refresh_token(hash).await.unwrap();
        assert_eq!(named.map(|s| s.id), Some(session.id));
    }
    assert!(
        store
            .session_by_refresh_token(&crate::random_hash())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn authenticate_session_steps_up_only_a_live_session_of_its_user(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "step-up@example.com").await;
    let (mut signed_in, token) = session(user.id);
    signed_in.amr = vec!["pwd".to_owned()];
    store.create_session(&signed_in, &token).await.unwrap();
    let otp = ["otp".to_owned(), "mfa".to_owned()];

    // A live session: auth_time moves, the new methods follow the old, nothing else changes.
    let stepped = store
        .authenticate_session(signed_in.id, user.id, NOW, &otp)
        .await
        .unwrap()
        .expect("a live session steps up");
    let expected = SessionRecord {
        auth_time: NOW,
        amr: vec!["pwd".to_owned(), "otp".to_owned(), "mfa".to_owned()],
        ..signed_in.clone()
    };
    assert_eq!(stepped, expected);
    assert_eq!(
        store.session(signed_in.id).await.unwrap().unwrap(),
        expected
    );
    // Methods it has are not listed twice; a new one joins them.
    let later = NOW + Duration::minutes(1);
    let rec = ["rec".to_owned(), "mfa".to_owned()];
    let again = store
        .authenticate_session(signed_in.id, user.id, later, &rec)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.auth_time, later);
    assert_eq!(again.amr, ["pwd", "otp", "mfa", "rec"]);

    // Another user's session, an unknown one, and ended ones are left alone.
    let stranger = insert_user(store, "step-up-stranger@example.com").await;
    let refused = |id, user_id| store.authenticate_session(id, user_id, later, &otp);
    assert_eq!(refused(signed_in.id, stranger.id).await.unwrap(), None);
    assert_eq!(refused(Uuid::new_v4(), user.id).await.unwrap(), None);
    let (mut expired, token) = session(user.id);
    expired.expires_at = later;
    store.create_session(&expired, &token).await.unwrap();
    let (mut capped, token) = session(user.id);
    capped.absolute_expires_at = Some(later);
    store.create_session(&capped, &token).await.unwrap();
    let (revoked, _) = insert_session(store, user.id).await;
    let ended = event(NOW, "session-revoked", Some(user.id), Some(revoked.id));
    store
        .revoke_session(revoked.id, user.id, "user", &ended)
        .await
        .unwrap();
    for ended in [&expired, &capped] {
        assert_eq!(refused(ended.id, user.id).await.unwrap(), None);
        assert_eq!(store.session(ended.id).await.unwrap().as_ref(), Some(ended));
    }
    assert_eq!(refused(revoked.id, user.id).await.unwrap(), None);
    let unchanged = store.session(revoked.id).await.unwrap().unwrap();
    assert_eq!(
        (unchanged.auth_time, &unchanged.amr),
        (revoked.auth_time, &revoked.amr)
    );
    // A disabled user's sessions neither.
    assert!(store.set_user_disabled(user.id, true, NOW).await.unwrap());
    assert_eq!(refused(signed_in.id, user.id).await.unwrap(), None);
    assert_eq!(
        store
            .session(signed_in.id)
            .await
            .unwrap()
            .unwrap()
            .auth_time,
        later
    );
}

crate::contract!(
    authenticate_session_steps_up_only_a_live_session_of_its_user,
    session_is_live_until_revoked_expired_or_its_user_disabled,
    live_sessions_lists_only_live_ones_newest_first,
    revoke_session_takes_only_the_owners_live_session,
    revoke_user_sessions_ends_all_but_the_one_kept,
    a_refresh_token_names_its_session_whether_current_or_rotated,
);
