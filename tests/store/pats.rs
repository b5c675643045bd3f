//! Personal access tokens: use, listing, revocation with the sessions they started, pruning.

use std::sync::Arc;

use serde_json::json;
use tessera::store::{PatRecord, Store};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{NOW, event, insert_session, insert_user, random_hash};

fn pat(user_id: Uuid, created_at: OffsetDateTime, expires_at: OffsetDateTime) -> PatRecord {
    PatRecord {
        id: Uuid::new_v4(),
        user_id,
        hash: random_hash(),
        created_at,
        expires_at,
        last_used_at: None,
        revoked_at: None,
        metadata: json!({ "name": "ci" }),
    }
}

pub async fn use_pat_finds_only_live_pats_and_marks_their_use(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "pat@example.com").await;
    let older = pat(user.id, NOW - Duration::days(2), NOW + Duration::days(30));
    let newer = pat(user.id, NOW - Duration::days(1), NOW + Duration::days(30));
    let expired = pat(user.id, NOW - Duration::days(3), NOW);
    for pat in [&older, &newer, &expired] {
        store.insert_pat(pat).await.unwrap();
    }
    let used = store
        .use_pat(&older.hash, NOW)
        .await
        .unwrap()
        .expect("live");
    assert_eq!(
        used,
        PatRecord {
            last_used_at: Some(NOW),
            ..older.clone()
        }
    );
    assert!(store.use_pat(&expired.hash, NOW).await.unwrap().is_none());
    assert!(store.use_pat(&random_hash(), NOW).await.unwrap().is_none());
    assert_eq!(store.pat(expired.id).await.unwrap(), Some(expired.clone()));
    let live: Vec<Uuid> = store
        .live_pats(user.id, NOW)
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(live, [newer.id, older.id], "newest first");
}

pub async fn revoking_a_pat_ends_the_sessions_it_started(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "pat-revoke@example.com").await;
    let token = pat(user.id, NOW - Duration::days(1), NOW + Duration::days(30));
    store.insert_pat(&token).await.unwrap();
    let (from_pat, _) = insert_session(store, user.id).await;
    store.link_pat_session(from_pat.id, token.id).await.unwrap();
    let (signed_in, _) = insert_session(store, user.id).await;
    assert!(store.session_from_pat(from_pat.id).await.unwrap());
    assert!(!store.session_from_pat(signed_in.id).await.unwrap());

    let revoked = event(NOW, "pat-revoked", Some(user.id), None);
    let stranger = Uuid::new_v4();
    assert!(
        !store
            .revoke_pat(token.id, stranger, "user", &revoked)
            .await
            .unwrap(),
        "not theirs"
    );
    assert!(store.session_is_live(from_pat.id, NOW).await.unwrap());
    assert!(
        store
            .revoke_pat(token.id, user.id, "user", &revoked)
            .await
            .unwrap()
    );
    assert_eq!(
        store.pat(token.id).await.unwrap().unwrap().revoked_at,
        Some(NOW)
    );
    assert!(store.use_pat(&token.hash, NOW).await.unwrap().is_none());
    assert!(!store.session_is_live(from_pat.id, NOW).await.unwrap());
    assert!(store.session_is_live(signed_in.id, NOW).await.unwrap());
    assert_eq!(
        store.events(Some(user.id), 10).await.unwrap(),
        std::slice::from_ref(&revoked)
    );
    assert!(
        !store
            .revoke_pat(token.id, user.id, "user", &revoked)
            .await
            .unwrap(),
        "already revoked"
    );

    // Every PAT of a user, with their sessions.
    let (a, b) = (
        pat(user.id, NOW, NOW + Duration::days(1)),
        pat(user.id, NOW, NOW + Duration::days(1)),
    );
    store.insert_pat(&a).await.unwrap();
    store.insert_pat(&b).await.unwrap();
    let (from_b, _) = insert_session(store, user.id).await;
    store.link_pat_session(from_b.id, b.id).await.unwrap();
    let all = event(NOW, "pat-revoked", Some(user.id), None);
    assert_eq!(
        store
            .revoke_user_pats(user.id, "password-changed", &all)
            .await
            .unwrap(),
        2
    );
    assert!(store.live_pats(user.id, NOW).await.unwrap().is_empty());
    assert!(!store.session_is_live(from_b.id, NOW).await.unwrap());
    assert!(store.session_is_live(signed_in.id, NOW).await.unwrap());
    assert_eq!(store.events(Some(user.id), 10).await.unwrap().len(), 2);
}

pub async fn prune_pats_removes_those_ended_before_the_cutoff(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "pat-prune@example.com").await;
    let cutoff = NOW - Duration::days(1);
    let second = Duration::seconds(1);
    let expired = pat(user.id, cutoff - Duration::days(9), cutoff - second);
    let expiring_at_cutoff = pat(user.id, cutoff - Duration::days(9), cutoff);
    let revoked = pat(user.id, cutoff - Duration::days(9), NOW + Duration::days(9));
    let live = pat(user.id, cutoff - Duration::days(9), NOW + Duration::days(9));
    for pat in [&expired, &expiring_at_cutoff, &revoked, &live] {
        store.insert_pat(pat).await.unwrap();
    }
    let ended = event(cutoff - second, "pat-revoked", Some(user.id), None);
    store
        .revoke_pat(revoked.id, user.id, "user", &ended)
        .await
        .unwrap();
    assert_eq!(store.prune_pats(cutoff, 100).await.unwrap(), 2);
    assert!(store.pat(expired.id).await.unwrap().is_none());
    assert!(store.pat(revoked.id).await.unwrap().is_none());
    assert!(store.pat(expiring_at_cutoff.id).await.unwrap().is_some());
    assert!(store.pat(live.id).await.unwrap().is_some());
}

crate::contract!(
    use_pat_finds_only_live_pats_and_marks_their_use,
    revoking_a_pat_ends_the_sessions_it_started,
    prune_pats_removes_those_ended_before_the_cutoff,
);
