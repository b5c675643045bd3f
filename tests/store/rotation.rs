//! The refresh-token exchange: the one-statement path (`rotate_current_refresh_token`)
//! rotates exactly when the domain's rule (`TokenState::may_rotate`, under which `decide`
//! chooses `Rotate`) holds for the state the locked path (`rotate_refresh_token`) observes;
//! and the locked path carries out the plan it is given.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tessera::store::{
    CurrentRotation, NewRefreshToken, RejectReason, RotationPlan, SecurityEventRecord, Store,
    TokenState,
};
use time::Duration;
use uuid::Uuid;

use crate::{NOW, event, insert_user, random_hash, session};

/// What the locked path shows its decision, with a decision that changes nothing.
async fn observe(store: &dyn Store, hash: &[u8]) -> Option<TokenState> {
    let seen = Mutex::new(None);
    let plan = store
        .rotate_refresh_token(hash, &|state: Option<TokenState>| {
            *seen.lock().unwrap() = state;
            RotationPlan::Reject(RejectReason::Invalid)
        })
        .await
        .unwrap();
    assert!(matches!(plan, RotationPlan::Reject(RejectReason::Invalid)));
    seen.into_inner().unwrap()
}

/// An exchange at `at`, as the domain prepares it.
fn rotation(at: time::OffsetDateTime) -> CurrentRotation {
    CurrentRotation {
        now: at,
        successor: NewRefreshToken {
            id: Uuid::new_v4(),
            hash: random_hash(),
            created_at: at,
            expires_at: at + Duration::days(30),
            generation: 2,
        },
        successor_sealed: b"sealed successor".to_vec(),
        user_agent: "agent/2".to_owned(),
        ip: "192.0.2.2".to_owned(),
    }
}

/// A `Rotate` plan for `rotation`, capped at `absolute` as `decide` caps it.
fn rotate_plan(rotation: &CurrentRotation, absolute: time::OffsetDateTime) -> RotationPlan {
    let expires_at = rotation.successor.expires_at.min(absolute);
    RotationPlan::Rotate {
        successor: NewRefreshToken {
            expires_at,
            ..rotation.successor.clone()
        },
        successor_sealed: rotation.successor_sealed.clone(),
        session_expires_at: expires_at,
        user_agent: rotation.user_agent.clone(),
        ip: rotation.ip.clone(),
    }
}

/// One state of a presented token: how to get there, and whether it should rotate.
struct Case {
    name: &'static str,
    rotates: bool,
    /// Changes the fresh session and token before they are stored.
    before: fn(&mut tessera::store::SessionRecord, &mut NewRefreshToken),
    /// What happens to them afterwards.
    after: After,
}

#[derive(Clone, Copy)]
enum After {
    Nothing,
    Rotated,
    SessionRevoked,
    UserDisabled,
    Unknown,
}

fn cases() -> Vec<Case> {
    let keep = |_: &mut _, _: &mut _| {};
    vec![
        Case {
            name: "current",
            rotates: true,
            before: keep,
            after: After::Nothing,
        },
        Case {
            name: "token expired",
            rotates: false,
            before: |_, t| t.expires_at = NOW - Duration::seconds(1),
            after: After::Nothing,
        },
        Case {
            name: "token expires at this instant",
            rotates: false,
            before: |_, t| t.expires_at = NOW,
            after: After::Nothing,
        },
        Case {
            name: "already rotated",
            rotates: false,
            before: keep,
            after: After::Rotated,
        },
        Case {
            name: "session revoked",
            rotates: false,
            before: keep,
            after: After::SessionRevoked,
        },
        Case {
            name: "session expired",
            rotates: false,
            before: |s, _| s.expires_at = NOW - Duration::seconds(1),
            after: After::Nothing,
        },
        Case {
            name: "session expires at this instant",
            rotates: false,
            before: |s, _| s.expires_at = NOW,
            after: After::Nothing,
        },
        Case {
            name: "session past its absolute cap",
            rotates: false,
            before: |s, _| s.absolute_expires_at = Some(NOW - Duration::seconds(1)),
            after: After::Nothing,
        },
        Case {
            name: "session without an absolute cap",
            rotates: true,
            before: |s, _| s.absolute_expires_at = None,
            after: After::Nothing,
        },
        Case {
            name: "user disabled",
            rotates: false,
            before: keep,
            after: After::UserDisabled,
        },
        Case {
            name: "unknown token",
            rotates: false,
            before: keep,
            after: After::Unknown,
        },
    ]
}

/// Stores the case's state; returns the hash to present.
async fn arrange(store: &dyn Store, case: &Case, n: usize) -> Vec<u8> {
    let user = insert_user(store, &format!("rotation{n}@example.com")).await;
    let (mut session, mut token) = session(user.id);
    (case.before)(&mut session, &mut token);
    store.create_session(&session, &token).await.unwrap();
    match case.after {
        After::Nothing => {}
        After::Rotated => {
            let earlier = rotation(NOW - Duration::minutes(10));
            let plan = rotate_plan(&earlier, NOW + Duration::days(7));
            store
                .rotate_refresh_token(&token.hash, &|_| plan.clone())
                .await
                .unwrap();
        }
        After::SessionRevoked => {
            let at = NOW - Duration::minutes(10);
            let revoked = store
                .revoke_session(
                    session.id,
                    user.id,
                    "test",
                    &event(at, "session-revoked", Some(user.id), Some(session.id)),
                )
                .await
                .unwrap();
            assert!(revoked);
        }
        After::UserDisabled => {
            assert!(store.set_user_disabled(user.id, true, NOW).await.unwrap());
        }
        After::Unknown => return random_hash(),
    }
    token.hash
}

pub async fn the_one_statement_path_rotates_exactly_when_the_domain_says_rotate(
    store: Arc<dyn Store>,
) {
    let store = store.as_ref();
    let mut answers = Vec::new();
    for (n, case) in cases().iter().enumerate() {
        let hash = arrange(store, case, n).await;
        let seen = observe(store, &hash).await;
        let rule = seen.as_ref().is_some_and(|state| state.may_rotate(NOW));
        assert_eq!(rule, case.rotates, "{}: the domain's rule", case.name);
        assert_eq!(
            store.refresh_token_is_current(&hash, NOW).await.unwrap(),
            rule,
            "{}: refresh_token_is_current answers the rule",
            case.name
        );
        let exchange = rotation(NOW);
        let fast = store
            .rotate_current_refresh_token(&hash, &exchange)
            .await
            .unwrap();
        answers.push((case.name, rule, fast.is_some()));
        assert!(
            fast.is_none() || rule,
            "{}: the one-statement path rotated a token the rule refuses",
            case.name
        );
        match fast {
            Some(rotated) => {
                let before = seen.expect("a rotated token was found");
                // The session as the exchange left it, and its user.
                let expires_at = exchange.successor.expires_at.min(
                    before
                        .session
                        .absolute_expires_at
                        .unwrap_or(exchange.successor.expires_at),
                );
                assert_eq!(rotated.session.id, before.session.id, "{}", case.name);
                assert_eq!(rotated.session.last_used_at, NOW, "{}", case.name);
                assert_eq!(rotated.session.expires_at, expires_at, "{}", case.name);
                assert_eq!(rotated.session.user_agent, "agent/2", "{}", case.name);
                assert_eq!(rotated.session.ip, "192.0.2.2", "{}", case.name);
                // A refresh keeps how and when the session authenticated.
                assert_eq!(
                    (rotated.session.auth_time, &rotated.session.amr),
                    (NOW - Duration::minutes(30), &before.session.amr),
                    "{}",
                    case.name
                );
                assert_eq!(before.session.amr, ["pwd", "otp", "mfa"], "{}", case.name);
                assert_eq!(rotated.user.id, before.user.id, "{}", case.name);
                // The presented token is spent, its successor current.
                let after = observe(store, &hash).await.unwrap();
                assert_eq!(after.rotated_at, Some(NOW), "{}", case.name);
                assert_eq!(
                    after.successor_sealed.as_deref(),
                    Some(&b"sealed successor"[..]),
                    "{}",
                    case.name
                );
                assert!(!after.may_rotate(NOW), "{}", case.name);
                let successor = &exchange.successor.hash;
                assert!(
                    store
                        .refresh_token_is_current(successor, NOW)
                        .await
                        .unwrap()
                );
                let next = observe(store, successor).await.unwrap();
                assert_eq!(next.token_expires_at, expires_at, "{}", case.name);
                // Exchanged once only.
                let again = store
                    .rotate_current_refresh_token(&hash, &rotation(NOW))
                    .await
                    .unwrap();
                assert!(
                    again.is_none(),
                    "{}: the same token rotated twice",
                    case.name
                );
            }
            None => {
                // Nothing changed: the locked path sees what it saw before.
                let after = observe(store, &hash).await;
                assert_eq!(
                    after.as_ref().map(|s| (s.rotated_at, s.session.clone())),
                    seen.as_ref().map(|s| (s.rotated_at, s.session.clone())),
                    "{}: a refused exchange wrote something",
                    case.name
                );
            }
        }
    }
    // Either the store has no one-statement path (the trait's default answers `None`
    // throughout) or it rotates exactly when the rule says so.
    let has_fast_path = answers.iter().any(|&(_, _, fast)| fast);
    if has_fast_path {
        for (name, rule, fast) in &answers {
            assert_eq!(
                fast, rule,
                "{name}: the one-statement path disagrees with the rule"
            );
        }
    } else {
        assert!(answers.iter().all(|&(_, _, fast)| !fast));
    }
    // Postgres serves the common case in one statement; losing it would go unnoticed
    // otherwise (every exchange would still succeed, through the locked path).
    assert_eq!(
        has_fast_path,
        store.backend() == "postgres",
        "which backends have the one-statement path: {answers:?}"
    );
}

pub async fn the_locked_path_carries_out_the_plan(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "plan@example.com").await;
    let (session, first) = session(user.id);
    store.create_session(&session, &first).await.unwrap();

    // Unknown token: the decision sees nothing.
    assert!(observe(store, &random_hash()).await.is_none());

    // Rotate: the successor stored and current, the presented token rotated, the session
    // slid (capped at its absolute expiry).
    let exchange = rotation(NOW);
    let absolute = session.absolute_expires_at.unwrap();
    let plan = store
        .rotate_refresh_token(&first.hash, &|state| {
            let state = state.expect("the token is known");
            assert_eq!(state.session.id, session.id);
            assert_eq!(state.user.id, user.id);
            assert_eq!(state.rotated_at, None);
            assert_eq!(
                (state.session.auth_time, &state.session.amr),
                (session.auth_time, &session.amr)
            );
            rotate_plan(&exchange, absolute)
        })
        .await
        .unwrap();
    assert!(matches!(plan, RotationPlan::Rotate { .. }));
    let stored = store.session(session.id).await.unwrap().unwrap();
    assert_eq!(stored.last_used_at, NOW);
    assert_eq!(stored.expires_at, absolute, "capped at the absolute expiry");
    assert_eq!(
        (stored.user_agent.as_str(), stored.ip.as_str()),
        ("agent/2", "192.0.2.2")
    );
    assert_eq!(
        (stored.auth_time, &stored.amr),
        (session.auth_time, &session.amr)
    );
    let spent = observe(store, &first.hash).await.unwrap();
    assert_eq!(spent.rotated_at, Some(NOW));
    assert!(!spent.successor_used);
    let second = exchange.successor.hash.clone();
    assert!(store.refresh_token_is_current(&second, NOW).await.unwrap());
    assert!(
        !store
            .refresh_token_is_current(&first.hash, NOW)
            .await
            .unwrap()
    );

    // Once the successor is rotated in turn, the first token's row is gone: a session keeps
    // its current token and the one that token replaced. The second's successor is unused.
    let mut later = rotation(NOW + Duration::minutes(1));
    later.successor.generation = 3;
    store
        .rotate_refresh_token(&second, &|_| rotate_plan(&later, absolute))
        .await
        .unwrap();
    assert!(observe(store, &first.hash).await.is_none(), "pruned");
    let replaced = observe(store, &second).await.unwrap();
    assert_eq!(replaced.rotated_at, Some(later.now));
    assert!(!replaced.successor_used);

    // Revoke: the session revoked and the event recorded with it.
    let reuse = event(NOW, "refresh-token-reused", Some(user.id), Some(session.id));
    let plan = store
        .rotate_refresh_token(&second, &|_| RotationPlan::Revoke {
            event: SecurityEventRecord {
                detail: json!({ "cause": "test" }),
                ..reuse.clone()
            },
        })
        .await
        .unwrap();
    assert!(matches!(plan, RotationPlan::Revoke { .. }));
    let revoked = store.session(session.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW));
    assert!(!store.session_is_live(session.id, NOW).await.unwrap());
    let events = store.events(Some(user.id), 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "refresh-token-reused");
    assert_eq!(events[0].detail, json!({ "cause": "test" }));
}

crate::contract!(
    the_one_statement_path_rotates_exactly_when_the_domain_says_rotate,
    the_locked_path_carries_out_the_plan,
);
