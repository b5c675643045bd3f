//! Refresh-token generations: a session keeps two token rows however often it refreshes
//! (its current token and the one that token replaced), and reuse of an earlier generation,
//! whose row is gone, still revokes a live session (`revoke_earlier_generation`).

use std::sync::Arc;

use tessera::store::{CurrentRotation, NewRefreshToken, RotationPlan, Store};
use time::Duration;
use uuid::Uuid;

use crate::{NOW, event, insert_user, random_hash, session};

/// Rotation of generation `generation` at `at`, as the domain prepares it.
fn rotation(at: time::OffsetDateTime, generation: i64) -> CurrentRotation {
    CurrentRotation {
        now: at,
        successor: NewRefreshToken {
            id: Uuid::new_v4(),
            hash: random_hash(),
            created_at: at,
            expires_at: at + Duration::days(1),
            generation: generation + 1,
        },
        successor_sealed: b"sealed".to_vec(),
        user_agent: String::new(),
        ip: String::new(),
    }
}

/// Rotates `hash` through the one-statement path where the store has one, else (and every
/// other time, so both paths prune) through the locked path. Returns the successor's hash.
async fn rotate(store: &dyn Store, hash: &[u8], rotation: &CurrentRotation, locked: bool) {
    if !locked
        && store
            .rotate_current_refresh_token(hash, rotation)
            .await
            .unwrap()
            .is_some()
    {
        return;
    }
    let plan = RotationPlan::Rotate {
        successor: rotation.successor.clone(),
        successor_sealed: rotation.successor_sealed.clone(),
        session_expires_at: rotation.successor.expires_at,
        user_agent: String::new(),
        ip: String::new(),
    };
    let done = store
        .rotate_refresh_token(hash, &|state| {
            assert!(state.is_some_and(|s| s.rotated_at.is_none()), "current");
            plan.clone()
        })
        .await
        .unwrap();
    assert!(matches!(done, RotationPlan::Rotate { .. }));
}

pub async fn a_session_keeps_only_its_current_and_previous_token(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "generations@example.com").await;
    let (session, first) = session(user.id);
    store.create_session(&session, &first).await.unwrap();
    let mut hashes = vec![first.hash.clone()];
    for generation in 1..=100 {
        let at = NOW + Duration::seconds(generation);
        let rotation = rotation(at, generation);
        rotate(
            store,
            hashes.last().unwrap(),
            &rotation,
            generation % 2 == 0,
        )
        .await;
        hashes.push(rotation.successor.hash.clone());
    }
    // Every token the session ever had: only the last two still have rows.
    for (index, hash) in hashes.iter().enumerate() {
        let found = store.session_by_refresh_token(hash).await.unwrap();
        let kept = index + 2 >= hashes.len();
        assert_eq!(
            found.is_some(),
            kept,
            "token {} of {}",
            index + 1,
            hashes.len()
        );
    }
    let at = NOW + Duration::seconds(101);
    assert!(
        store
            .refresh_token_is_current(hashes.last().unwrap(), at)
            .await
            .unwrap()
    );
    // An earlier generation revokes the session; the event names the session's user.
    let reuse = event(at, "refresh-token-reused", None, Some(session.id));
    assert!(
        store
            .revoke_earlier_generation(session.id, 98, &reuse)
            .await
            .unwrap()
    );
    let revoked = store.session(session.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
    let events = store.events(Some(user.id), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].session_id, Some(session.id));
    // Once revoked, nothing more happens.
    assert!(
        !store
            .revoke_earlier_generation(session.id, 98, &reuse)
            .await
            .unwrap()
    );
    assert_eq!(store.events(Some(user.id), 10).await.unwrap().len(), 1);
}

pub async fn only_an_earlier_generation_of_a_live_session_is_reuse(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "earlier@example.com").await;
    let (session, first) = session(user.id);
    store.create_session(&session, &first).await.unwrap();
    let reuse = |at| event(at, "refresh-token-reused", None, Some(session.id));
    // Generation 1 is the current one: not earlier than anything. Nor is an unknown session.
    assert!(
        !store
            .revoke_earlier_generation(session.id, 1, &reuse(NOW))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_earlier_generation(Uuid::new_v4(), 0, &reuse(NOW))
            .await
            .unwrap()
    );
    let second = rotation(NOW, 1);
    rotate(store, &first.hash, &second, true).await;
    assert!(
        !store
            .revoke_earlier_generation(session.id, 2, &reuse(NOW))
            .await
            .unwrap(),
        "the current generation"
    );
    // An ended session is not revoked (its tokens are refused anyway).
    let ended = session.expires_at.max(second.successor.expires_at);
    assert!(
        !store
            .revoke_earlier_generation(session.id, 1, &reuse(ended))
            .await
            .unwrap()
    );
    assert_eq!(
        store.session(session.id).await.unwrap().unwrap().revoked_at,
        None
    );
    // A disabled user's session is not revoked either.
    store.set_user_disabled(user.id, true, NOW).await.unwrap();
    assert!(
        !store
            .revoke_earlier_generation(session.id, 1, &reuse(NOW))
            .await
            .unwrap()
    );
    assert!(store.events(Some(user.id), 10).await.unwrap().is_empty());
}

crate::contract!(
    a_session_keeps_only_its_current_and_previous_token,
    only_an_earlier_generation_of_a_live_session_is_reuse,
);
