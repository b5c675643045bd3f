//! Passkeys: ceremonies taken once and only while live, credential ids unique across
//! users, the signature counter raised only forward (and once of two racing uses), the
//! last way to sign in kept, and sign-up with a passkey all or nothing.

use std::sync::Arc;

use serde_json::json;
use tessera::store::{
    CeremonyRecord, PasskeyRecord, PasskeyRemoval, PasskeyUse, Store, StoreError,
};
use time::Duration;
use uuid::Uuid;

use crate::{NOW, event, insert_user, random_hash, user};

fn ceremony(purpose: &str, user_id: Option<Uuid>) -> CeremonyRecord {
    CeremonyRecord {
        challenge_hash: random_hash(),
        purpose: purpose.to_owned(),
        user_id,
        session_id: user_id.map(|_| Uuid::new_v4()),
        state: json!({ "kind": "listed", "state": { "challenge": "x" } }),
        payload: json!({ "email": "a@example.com" }),
        created_at: NOW,
        expires_at: NOW + Duration::minutes(5),
    }
}

fn passkey(user_id: Uuid, counter: i64) -> PasskeyRecord {
    PasskeyRecord {
        id: Uuid::new_v4(),
        user_id,
        credential_id: random_hash(),
        passkey: json!({ "cred": { "counter": counter } }),
        counter,
        backup_eligible: true,
        backup_state: false,
        transports: vec!["internal".to_owned(), "hybrid".to_owned()],
        nickname: "Laptop".to_owned(),
        created_at: NOW,
        last_used_at: None,
    }
}

fn used(counter: i64) -> PasskeyUse {
    PasskeyUse {
        counter,
        backup_eligible: true,
        backup_state: true,
        passkey: json!({ "cred": { "counter": counter } }),
        now: NOW + Duration::minutes(1),
    }
}

pub async fn a_ceremony_is_taken_once_and_only_while_live(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "ceremony@example.com").await;
    let live = ceremony("elevate", Some(user.id));
    store.insert_ceremony(&live).await.unwrap();
    let taken = store
        .take_ceremony(&live.challenge_hash, NOW)
        .await
        .unwrap()
        .expect("a live ceremony is taken");
    assert_eq!(taken, live, "every field comes back as stored");
    assert!(
        store
            .take_ceremony(&live.challenge_hash, NOW)
            .await
            .unwrap()
            .is_none(),
        "taken once: a replayed challenge finds nothing"
    );

    let expired = ceremony("signin", None);
    store.insert_ceremony(&expired).await.unwrap();
    assert!(
        store
            .take_ceremony(&expired.challenge_hash, expired.expires_at)
            .await
            .unwrap()
            .is_none(),
        "at its expiry it is gone"
    );
    assert!(
        store
            .take_ceremony(&expired.challenge_hash, NOW)
            .await
            .unwrap()
            .is_none(),
        "and an expired one is not kept for later"
    );
}

pub async fn two_finishes_of_one_ceremony_cannot_both_take_it(store: Arc<dyn Store>) {
    for _ in 0..10 {
        let record = ceremony("signin", None);
        store.insert_ceremony(&record).await.unwrap();
        let (a, b) = (store.clone(), store.clone());
        let (ha, hb) = (record.challenge_hash.clone(), record.challenge_hash.clone());
        let first = tokio::spawn(async move { a.take_ceremony(&ha, NOW).await.unwrap() });
        let second = tokio::spawn(async move { b.take_ceremony(&hb, NOW).await.unwrap() });
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        assert!(
            first.is_some() ^ second.is_some(),
            "exactly one finish takes it"
        );
    }
}

pub async fn expired_ceremonies_are_pruned_and_live_ones_kept(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let live = ceremony("signin", None);
    let mut old = ceremony("signin", None);
    old.expires_at = NOW - Duration::seconds(1);
    store.insert_ceremony(&live).await.unwrap();
    store.insert_ceremony(&old).await.unwrap();
    assert_eq!(store.prune_ceremonies(NOW).await.unwrap(), 1);
    assert!(
        store
            .take_ceremony(&live.challenge_hash, NOW)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn a_credential_belongs_to_one_account(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let ada = insert_user(store, "ada@example.com").await;
    let bob = insert_user(store, "bob@example.com").await;
    let first = passkey(ada.id, 0);
    let added = event(NOW, "passkey-added", Some(ada.id), None);
    store.insert_passkey(&first, &added).await.unwrap();
    let mut stolen = passkey(bob.id, 0);
    stolen.credential_id = first.credential_id.clone();
    match store.insert_passkey(&stolen, &added).await {
        Err(StoreError::Conflict(name)) => {
            assert_eq!(name, "webauthn_credentials_credential_id_key")
        }
        other => panic!("a second registration of one credential: {other:?}"),
    }
    assert!(store.passkeys_of(bob.id).await.unwrap().is_empty());
    let found = store
        .passkey_by_credential(&first.credential_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, first, "every field comes back as stored");
    assert_eq!(store.passkeys_of(ada.id).await.unwrap(), vec![first]);
}

pub async fn sign_up_with_a_passkey_is_all_or_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let taken = insert_user(store, "taken@example.com").await;
    let mut newcomer = user("taken@example.com");
    newcomer.password_hash = None;
    let key = passkey(newcomer.id, 0);
    let signed_up = event(NOW, "signup", Some(newcomer.id), None);
    match store
        .insert_user_with_passkey(&newcomer, &key, &signed_up)
        .await
    {
        Err(StoreError::Conflict(name)) => assert_eq!(name, "users_email_key"),
        other => panic!("an email in use: {other:?}"),
    }
    assert!(
        store
            .passkey_by_credential(&key.credential_id)
            .await
            .unwrap()
            .is_none(),
        "no passkey without its account"
    );
    let existing = passkey(taken.id, 0);
    store
        .insert_passkey(
            &existing,
            &event(NOW, "passkey-added", Some(taken.id), None),
        )
        .await
        .unwrap();
    let mut other = user("other@example.com");
    other.password_hash = None;
    let mut reused = passkey(other.id, 0);
    reused.credential_id = existing.credential_id.clone();
    match store
        .insert_user_with_passkey(&other, &reused, &signed_up)
        .await
    {
        Err(StoreError::Conflict(name)) => {
            assert_eq!(name, "webauthn_credentials_credential_id_key")
        }
        other => panic!("a credential in use: {other:?}"),
    }
    assert!(
        store.user_by_id(other.id).await.unwrap().is_none(),
        "no account without its passkey"
    );
    let fresh = passkey(other.id, 0);
    let signed_up = event(NOW, "signup", Some(other.id), None);
    store
        .insert_user_with_passkey(&other, &fresh, &signed_up)
        .await
        .unwrap();
    let row = store.user_by_id(other.id).await.unwrap().unwrap();
    assert_eq!(row.password_hash, None);
    assert_eq!(store.passkeys_of(other.id).await.unwrap(), vec![fresh]);
    let kinds: Vec<String> = store
        .events(Some(other.id), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["signup"]);
}

pub async fn the_counter_only_goes_up_and_once_per_value(store: Arc<dyn Store>) {
    let store_ref = store.as_ref();
    let user = insert_user(store_ref, "counter@example.com").await;
    let key = passkey(user.id, 5);
    store_ref
        .insert_passkey(&key, &event(NOW, "passkey-added", Some(user.id), None))
        .await
        .unwrap();
    assert!(
        !store_ref
            .record_passkey_use(key.id, &used(5))
            .await
            .unwrap(),
        "equal"
    );
    assert!(
        !store_ref
            .record_passkey_use(key.id, &used(4))
            .await
            .unwrap(),
        "lower"
    );
    assert!(
        store_ref
            .record_passkey_use(key.id, &used(6))
            .await
            .unwrap()
    );
    assert!(
        !store_ref
            .record_passkey_use(key.id, &used(0))
            .await
            .unwrap(),
        "a 0 does not reset a counter that had started"
    );
    let row = &store_ref.passkeys_of(user.id).await.unwrap()[0];
    assert_eq!(row.counter, 6);
    assert!(row.backup_state);
    assert_eq!(row.last_used_at, Some(NOW + Duration::minutes(1)));
    assert_eq!(row.passkey, json!({ "cred": { "counter": 6 } }));

    // An authenticator without a counter (0: synced passkeys) is never refused for it.
    let synced = passkey(user.id, 0);
    store_ref
        .insert_passkey(&synced, &event(NOW, "passkey-added", Some(user.id), None))
        .await
        .unwrap();
    assert!(
        store_ref
            .record_passkey_use(synced.id, &used(0))
            .await
            .unwrap()
    );
    assert!(
        store_ref
            .record_passkey_use(synced.id, &used(0))
            .await
            .unwrap()
    );

    for counter in 7..=16 {
        let (a, b) = (store.clone(), store.clone());
        let first =
            tokio::spawn(
                async move { a.record_passkey_use(key.id, &used(counter)).await.unwrap() },
            );
        let second =
            tokio::spawn(
                async move { b.record_passkey_use(key.id, &used(counter)).await.unwrap() },
            );
        let (first, second) = (first.await.unwrap(), second.await.unwrap());
        assert!(first ^ second, "counter {counter}: one of two uses counts");
    }
}

pub async fn the_last_way_to_sign_in_is_kept(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut passkey_only = user("only@example.com");
    passkey_only.password_hash = None;
    let first = passkey(passkey_only.id, 0);
    store
        .insert_user_with_passkey(
            &passkey_only,
            &first,
            &event(NOW, "signup", Some(passkey_only.id), None),
        )
        .await
        .unwrap();
    let removed = event(NOW, "passkey-removed", Some(passkey_only.id), None);
    assert_eq!(
        store
            .delete_passkey(passkey_only.id, first.id, &removed)
            .await
            .unwrap(),
        PasskeyRemoval::LastSignInMethod
    );
    let second = passkey(passkey_only.id, 0);
    store
        .insert_passkey(
            &second,
            &event(NOW, "passkey-added", Some(passkey_only.id), None),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_passkey(passkey_only.id, first.id, &removed)
            .await
            .unwrap(),
        PasskeyRemoval::Removed
    );
    assert_eq!(
        store
            .delete_passkey(passkey_only.id, first.id, &removed)
            .await
            .unwrap(),
        PasskeyRemoval::NotFound
    );
    assert_eq!(
        store
            .delete_passkey(passkey_only.id, second.id, &removed)
            .await
            .unwrap(),
        PasskeyRemoval::LastSignInMethod
    );
    let other = insert_user(store, "other@example.com").await;
    assert_eq!(
        store
            .delete_passkey(other.id, second.id, &removed)
            .await
            .unwrap(),
        PasskeyRemoval::NotFound,
        "another user's passkey is not found"
    );
    // With a password, the last passkey can go.
    let with_password = insert_user(store, "pw@example.com").await;
    let only = passkey(with_password.id, 0);
    store
        .insert_passkey(
            &only,
            &event(NOW, "passkey-added", Some(with_password.id), None),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_passkey(with_password.id, only.id, &removed)
            .await
            .unwrap(),
        PasskeyRemoval::Removed
    );
    assert!(
        store
            .passkeys_of(with_password.id)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn two_removals_cannot_take_both_last_passkeys(store: Arc<dyn Store>) {
    for round in 0..5 {
        let mut account = user(&format!("race{round}@example.com"));
        account.password_hash = None;
        let (a, b) = (passkey(account.id, 0), passkey(account.id, 0));
        store
            .insert_user_with_passkey(&account, &a, &event(NOW, "signup", Some(account.id), None))
            .await
            .unwrap();
        store
            .insert_passkey(&b, &event(NOW, "passkey-added", Some(account.id), None))
            .await
            .unwrap();
        let removed = event(NOW, "passkey-removed", Some(account.id), None);
        let (s1, s2, e1, e2) = (store.clone(), store.clone(), removed.clone(), removed);
        let user_id = account.id;
        let first =
            tokio::spawn(async move { s1.delete_passkey(user_id, a.id, &e1).await.unwrap() });
        let second =
            tokio::spawn(async move { s2.delete_passkey(user_id, b.id, &e2).await.unwrap() });
        let outcomes = [first.await.unwrap(), second.await.unwrap()];
        assert!(
            outcomes.contains(&PasskeyRemoval::Removed)
                && outcomes.contains(&PasskeyRemoval::LastSignInMethod),
            "round {round}: one goes, one stays ({outcomes:?})"
        );
        assert_eq!(store.passkeys_of(account.id).await.unwrap().len(), 1);
    }
}

pub async fn a_user_takes_its_passkeys_and_ceremonies_along(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let user = insert_user(store, "gone@example.com").await;
    let key = passkey(user.id, 0);
    store
        .insert_passkey(&key, &event(NOW, "passkey-added", Some(user.id), None))
        .await
        .unwrap();
    let begun = ceremony("add", Some(user.id));
    store.insert_ceremony(&begun).await.unwrap();
    assert!(store.delete_user(user.id).await.unwrap());
    assert!(
        store
            .passkey_by_credential(&key.credential_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .take_ceremony(&begun.challenge_hash, NOW)
            .await
            .unwrap()
            .is_none()
    );

    let claimed = insert_user(store, "claimed@example.com").await;
    for _ in 0..2 {
        store
            .insert_passkey(
                &passkey(claimed.id, 0),
                &event(NOW, "passkey-added", Some(claimed.id), None),
            )
            .await
            .unwrap();
    }
    assert_eq!(store.delete_passkeys_of(claimed.id).await.unwrap(), 2);
    assert!(store.passkeys_of(claimed.id).await.unwrap().is_empty());
}

crate::contract!(
    a_ceremony_is_taken_once_and_only_while_live,
    two_finishes_of_one_ceremony_cannot_both_take_it,
    expired_ceremonies_are_pruned_and_live_ones_kept,
    a_credential_belongs_to_one_account,
    sign_up_with_a_passkey_is_all_or_nothing,
    the_counter_only_goes_up_and_once_per_value,
    the_last_way_to_sign_in_is_kept,
    two_removals_cannot_take_both_last_passkeys,
    a_user_takes_its_passkeys_and_ceremonies_along,
);
