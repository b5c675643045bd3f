//! The second factor: pending and enabled secrets, the replay guard, recovery codes,
//! removal, and what goes with a deleted user.

use std::sync::Arc;

use tessera::store::Store;
use time::Duration;
use uuid::Uuid;

use crate::{NOW, event, insert_user, random_hash};

fn codes(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|_| random_hash()).collect()
}

async fn kinds(store: &dyn Store, user: Uuid) -> Vec<String> {
    store
        .events(Some(user), 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

pub async fn a_pending_secret_is_replaced_until_enabled_then_never(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "totp@example.com").await;
    assert!(store.totp_secret(user.id).await.unwrap().is_none());
    let first = codes(2);
    assert!(
        store
            .put_pending_totp(user.id, b"sealed-1", &first, NOW)
            .await
            .unwrap()
    );
    assert!(store.use_totp_step(user.id, 7).await.unwrap());
    let later = NOW + Duration::minutes(1);
    assert!(
        store
            .put_pending_totp(user.id, b"sealed-2", &codes(2), later)
            .await
            .unwrap()
    );
    let pending = store.totp_secret(user.id).await.unwrap().unwrap();
    assert_eq!(pending.secret_sealed, b"sealed-2");
    assert_eq!(pending.created_at, later);
    assert_eq!(pending.confirmed_at, None);
    assert_eq!(pending.last_used_step, None, "a new secret starts over");
    assert!(
        !store
            .use_recovery_code(user.id, &first[0], NOW)
            .await
            .unwrap(),
        "codes of a pending secret do not count"
    );

    let enabled = event(NOW, "mfa-enabled", Some(user.id), None);
    assert!(
        !store
            .enable_totp(user.id, b"sealed-1", later, &enabled)
            .await
            .unwrap(),
        "a code checked against a secret replaced since does not enable the new one"
    );
    assert!(
        store
            .enable_totp(user.id, b"sealed-2", later, &enabled)
            .await
            .unwrap()
    );
    assert!(
        !store
            .enable_totp(user.id, b"sealed-2", later, &enabled)
            .await
            .unwrap(),
        "enabled once"
    );
    let user_row = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(user_row.active_mfa_type.as_deref(), Some("totp"));
    assert_eq!(
        store
            .user_by_email("totp@example.com")
            .await
            .unwrap()
            .unwrap()
            .active_mfa_type,
        Some("totp".to_owned())
    );
    let confirmed = store.totp_secret(user.id).await.unwrap().unwrap();
    assert_eq!(confirmed.confirmed_at, Some(later));
    assert!(
        !store
            .put_pending_totp(user.id, b"sealed-3", &codes(2), later)
            .await
            .unwrap(),
        "an enabled secret is never overwritten"
    );
    assert_eq!(
        store
            .totp_secret(user.id)
            .await
            .unwrap()
            .unwrap()
            .secret_sealed,
        b"sealed-2"
    );
    assert_eq!(kinds(store, user.id).await, ["mfa-enabled"]);
    let stranger = Uuid::new_v4();
    assert!(
        !store
            .put_pending_totp(stranger, b"x", &[], NOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .enable_totp(stranger, b"x", NOW, &enabled)
            .await
            .unwrap(),
        "no secret, nothing to enable"
    );
}

pub async fn each_time_step_is_accepted_once_and_only_forward(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "steps@example.com").await;
    assert!(!store.use_totp_step(user.id, 1).await.unwrap(), "no secret");
    store
        .put_pending_totp(user.id, b"sealed", &[], NOW)
        .await
        .unwrap();
    assert!(store.use_totp_step(user.id, 100).await.unwrap());
    assert!(!store.use_totp_step(user.id, 100).await.unwrap(), "replay");
    assert!(
        !store.use_totp_step(user.id, 99).await.unwrap(),
        "backwards"
    );
    assert!(store.use_totp_step(user.id, 101).await.unwrap());
    assert_eq!(
        store
            .totp_secret(user.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_step,
        Some(101)
    );
}

pub async fn two_concurrent_uses_of_one_step_cannot_both_succeed(store: Arc<dyn Store>) {
    let user = insert_user(store.as_ref(), "race@example.com").await;
    store
        .put_pending_totp(user.id, b"sealed", &[], NOW)
        .await
        .unwrap();
    for step in 1..=10 {
        let (a, b) = (store.clone(), store.clone());
        let first = tokio::spawn(async move { a.use_totp_step(user.id, step).await.unwrap() });
        let second = tokio::spawn(async move { b.use_totp_step(user.id, step).await.unwrap() });
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        assert!(
            first ^ second,
            "step {step}: exactly one use ({first}, {second})"
        );
    }
}

pub async fn recovery_codes_are_single_use_and_replaced_as_a_set(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "recovery@example.com").await;
    let old = codes(3);
    store
        .put_pending_totp(user.id, b"sealed", &old, NOW)
        .await
        .unwrap();
    let regenerated = event(NOW, "mfa-recovery-codes-regenerated", Some(user.id), None);
    assert!(
        !store
            .replace_recovery_codes(user.id, &codes(3), NOW, &regenerated)
            .await
            .unwrap(),
        "not while TOTP is pending"
    );
    store
        .enable_totp(
            user.id,
            b"sealed",
            NOW,
            &event(NOW, "mfa-enabled", Some(user.id), None),
        )
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 3);
    assert!(
        store
            .use_recovery_code(user.id, &old[0], NOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_recovery_code(user.id, &old[0], NOW)
            .await
            .unwrap(),
        "once"
    );
    let other = insert_user(store, "other@example.com").await;
    assert!(
        !store
            .use_recovery_code(other.id, &old[1], NOW)
            .await
            .unwrap(),
        "another user's code"
    );
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 2);

    let new = codes(4);
    assert!(
        store
            .replace_recovery_codes(user.id, &new, NOW, &regenerated)
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_recovery_code(user.id, &old[1], NOW)
            .await
            .unwrap(),
        "the old set is gone"
    );
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 4);
    assert!(
        store
            .use_recovery_code(user.id, &new[3], NOW)
            .await
            .unwrap()
    );
    assert_eq!(
        kinds(store, user.id).await,
        ["mfa-recovery-codes-regenerated", "mfa-enabled"]
    );
}

pub async fn removal_clears_everything_once(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "remove@example.com").await;
    let reset = event(NOW, "mfa-reset", Some(user.id), None);
    assert!(
        !store.remove_mfa(user.id, &reset).await.unwrap(),
        "nothing to remove"
    );
    let hashes = codes(2);
    store
        .put_pending_totp(user.id, b"sealed", &hashes, NOW)
        .await
        .unwrap();
    store
        .enable_totp(
            user.id,
            b"sealed",
            NOW,
            &event(NOW, "mfa-enabled", Some(user.id), None),
        )
        .await
        .unwrap();
    assert!(store.remove_mfa(user.id, &reset).await.unwrap());
    assert_eq!(
        store
            .user_by_id(user.id)
            .await
            .unwrap()
            .unwrap()
            .active_mfa_type,
        None
    );
    assert!(store.totp_secret(user.id).await.unwrap().is_none());
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 0);
    assert!(!store.remove_mfa(user.id, &reset).await.unwrap());
    assert_eq!(kinds(store, user.id).await, ["mfa-reset", "mfa-enabled"]);
    // A pending secret alone is removed too (claiming a mailbox removes a pre-hijacker's).
    store
        .put_pending_totp(user.id, b"sealed", &hashes, NOW)
        .await
        .unwrap();
    assert!(store.remove_mfa(user.id, &reset).await.unwrap());
    assert!(store.totp_secret(user.id).await.unwrap().is_none());
}

pub async fn a_deleted_user_takes_its_second_factor_along(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "gone@example.com").await;
    store
        .put_pending_totp(user.id, b"sealed", &codes(2), NOW)
        .await
        .unwrap();
    store
        .enable_totp(
            user.id,
            b"sealed",
            NOW,
            &event(NOW, "mfa-enabled", Some(user.id), None),
        )
        .await
        .unwrap();
    assert!(store.delete_user(user.id).await.unwrap());
    assert!(store.totp_secret(user.id).await.unwrap().is_none());
    assert_eq!(store.recovery_codes_left(user.id).await.unwrap(), 0);
}

crate::contract!(
    a_pending_secret_is_replaced_until_enabled_then_never,
    each_time_step_is_accepted_once_and_only_forward,
    two_concurrent_uses_of_one_step_cannot_both_succeed,
    recovery_codes_are_single_use_and_replaced_as_a_set,
    removal_clears_everything_once,
    a_deleted_user_takes_its_second_factor_along,
);
