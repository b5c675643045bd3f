//! Pruning: each prune removes what ended before its cutoff, and nothing else, in batches.

use std::sync::Arc;

use tessera::store::{RotationPlan, Store, UserRecord};
use time::{Duration, OffsetDateTime};

use crate::{NOW, event, insert_user, session, ticket, user};

/// Every cutoff here: a day before [`NOW`].
const CUTOFF: OffsetDateTime = NOW.saturating_sub(Duration::days(1));
const SECOND: Duration = Duration::seconds(1);

pub async fn prune_sessions_removes_sessions_ended_before_the_cutoff(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "prune@example.com").await;
    let mut stored = Vec::new();
    for (revoked_at, expires_at) in [
        (Some(CUTOFF - SECOND), NOW + Duration::days(1)), // revoked before: due
        (None, CUTOFF - SECOND),                          // expired before: due
        (Some(CUTOFF), NOW + Duration::days(1)),          // revoked at the cutoff: stays
        (None, CUTOFF),                                   // expires at the cutoff: stays
        (None, NOW + Duration::days(1)),                  // live: stays
    ] {
        let (mut session, token) = session(user.id);
        session.expires_at = expires_at;
        store.create_session(&session, &token).await.unwrap();
        if let Some(at) = revoked_at {
            let ended = event(at, "session-revoked", Some(user.id), Some(session.id));
            store
                .revoke_session(session.id, user.id, "test", &ended)
                .await
                .unwrap();
        }
        stored.push((session.id, token.hash));
    }
    assert_eq!(
        store.prune_sessions(CUTOFF, 1).await.unwrap(),
        1,
        "one batch"
    );
    assert_eq!(store.prune_sessions(CUTOFF, 100).await.unwrap(), 1);
    assert_eq!(store.prune_sessions(CUTOFF, 100).await.unwrap(), 0);
    for (n, (id, token)) in stored.iter().enumerate() {
        let kept = n >= 2;
        assert_eq!(
            store.session(*id).await.unwrap().is_some(),
            kept,
            "session {n}"
        );
        assert_eq!(
            store
                .session_by_refresh_token(token)
                .await
                .unwrap()
                .is_some(),
            kept,
            "the token of session {n}"
        );
    }
}

pub async fn forget_sealed_successors_forgets_only_those_rotated_before_the_cutoff(
    store: Arc<dyn Store>,
) {
    let store = store.as_ref();
    let user = insert_user(store, "sealed@example.com").await;
    let mut presented = Vec::new();
    for rotated_at in [CUTOFF - SECOND, CUTOFF] {
        let (session, token) = session(user.id);
        store.create_session(&session, &token).await.unwrap();
        let (_, successor) = crate::session(user.id);
        let plan = RotationPlan::Rotate {
            successor: tessera::store::NewRefreshToken {
                created_at: rotated_at,
                ..successor
            },
            successor_sealed: b"sealed".to_vec(),
            session_expires_at: session.expires_at,
            user_agent: String::new(),
            ip: String::new(),
        };
        store
            .rotate_refresh_token(&token.hash, &|_| plan.clone())
            .await
            .unwrap();
        presented.push(token.hash);
    }
    assert_eq!(
        store.forget_sealed_successors(CUTOFF, 100).await.unwrap(),
        1
    );
    assert_eq!(
        store.forget_sealed_successors(CUTOFF, 100).await.unwrap(),
        0
    );
    let sealed = |hash: Vec<u8>| async move {
        let seen = std::sync::Mutex::new(None);
        store
            .rotate_refresh_token(&hash, &|state| {
                *seen.lock().unwrap() = state.and_then(|s| s.successor_sealed);
                RotationPlan::Reject(tessera::store::RejectReason::Invalid)
            })
            .await
            .unwrap();
        seen.into_inner().unwrap()
    };
    assert_eq!(sealed(presented[0].clone()).await, None);
    assert_eq!(sealed(presented[1].clone()).await, Some(b"sealed".to_vec()));
}

pub async fn tickets_events_and_counters_go_once_past_their_cutoff(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "old@example.com").await;
    let mut due = ticket(user.id, "verify-email", CUTOFF - Duration::days(1));
    due.expires_at = CUTOFF - SECOND;
    let mut stays = ticket(user.id, "verify-email", CUTOFF - Duration::days(1));
    stays.expires_at = CUTOFF;
    store.insert_ticket(&due).await.unwrap();
    store.insert_ticket(&stays).await.unwrap();
    assert_eq!(store.prune_tickets(CUTOFF, 100).await.unwrap(), 1);
    assert!(store.ticket(&due.hash).await.unwrap().is_none());
    assert!(store.ticket(&stays.hash).await.unwrap().is_some());

    let old = event(CUTOFF - SECOND, "signed-in", Some(user.id), None);
    let kept = event(CUTOFF, "signed-in", Some(user.id), None);
    store.record_event(&old).await.unwrap();
    store.record_event(&kept).await.unwrap();
    assert_eq!(store.prune_events(CUTOFF, 100).await.unwrap(), 1);
    assert_eq!(store.events(None, 10).await.unwrap(), [kept]);

    let window = Duration::minutes(1);
    store
        .hit_rate_limit("spent", CUTOFF - SECOND, CUTOFF - SECOND - window)
        .await
        .unwrap();
    store
        .hit_rate_limit("current", CUTOFF, CUTOFF - window)
        .await
        .unwrap();
    assert_eq!(store.prune_rate_limits(CUTOFF, 100).await.unwrap(), 1);
    assert_eq!(
        store
            .rate_limit_hits("current", CUTOFF - window)
            .await
            .unwrap(),
        Some((1, CUTOFF))
    );
    assert_eq!(
        store
            .hit_rate_limit("spent", CUTOFF, CUTOFF - window)
            .await
            .unwrap(),
        (1, CUTOFF),
        "a pruned counter starts over"
    );
}

fn anonymous(created_at: OffsetDateTime) -> UserRecord {
    let mut user = user("unused@example.com");
    user.email = None;
    user.is_anonymous = true;
    user.created_at = created_at;
    user
}

pub async fn prune_anonymous_users_takes_old_ones_without_a_live_session(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let old = CUTOFF - Duration::days(1);
    let mut named = user("named@example.com");
    named.created_at = old;
    // (user, the end of its one session if it has one, whether it is due)
    let cases = [
        (anonymous(old), None, true),
        (anonymous(old), Some(CUTOFF - SECOND), true),
        (anonymous(old), Some(CUTOFF), false),
        (anonymous(CUTOFF), None, false),
        (named, None, false),
    ];
    for (user, ends, _) in &cases {
        store.insert_user(user).await.unwrap();
        if let Some(ends) = ends {
            let (mut session, token) = session(user.id);
            session.expires_at = *ends;
            store.create_session(&session, &token).await.unwrap();
        }
    }
    assert_eq!(
        store.prune_anonymous_users(CUTOFF, 1).await.unwrap(),
        1,
        "one batch"
    );
    assert_eq!(store.prune_anonymous_users(CUTOFF, 100).await.unwrap(), 1);
    assert_eq!(store.prune_anonymous_users(CUTOFF, 100).await.unwrap(), 0);
    for (n, (user, _, due)) in cases.iter().enumerate() {
        assert_eq!(
            store.user_by_id(user.id).await.unwrap().is_none(),
            *due,
            "user {n}"
        );
    }
}

crate::contract!(
    prune_sessions_removes_sessions_ended_before_the_cutoff,
    forget_sealed_successors_forgets_only_those_rotated_before_the_cutoff,
    tickets_events_and_counters_go_once_past_their_cutoff,
    prune_anonymous_users_takes_old_ones_without_a_live_session,
);
