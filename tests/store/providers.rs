//! Identities at providers and provider flows: a flow taken once and only while live, an
//! identity linked to one account (and one per provider per account), sign-up with an
//! identity all or nothing, the last way to sign in kept (across passkeys and identities,
//! also when two removals race), and an account's identities going with it.

use std::sync::Arc;

use serde_json::json;
use tessera::store::{
    IdentityRecord, IdentityRemoval, PasskeyRecord, PasskeyRemoval, ProviderFlowRecord, Store,
    StoreError,
};
use time::Duration;
use uuid::Uuid;

use crate::{NOW, event, insert_user, random_hash, user};

fn flow(link_user_id: Option<Uuid>) -> ProviderFlowRecord {
    ProviderFlowRecord {
        state_hash: random_hash(),
        provider: "acme".to_owned(),
        browser_hash: random_hash(),
        nonce: "nonce".to_owned(),
        pkce_verifier: "verifier".to_owned(),
        redirect_to: "https://app.example.com/".to_owned(),
        code_challenge: "challenge".to_owned(),
        link_user_id,
        payload: json!({ "options": { "locale": "fr" } }),
        created_at: NOW,
        expires_at: NOW + Duration::minutes(10),
    }
}

fn identity(user_id: Uuid, provider: &str, subject: &str) -> IdentityRecord {
    IdentityRecord {
        id: Uuid::new_v4(),
        user_id,
        provider: provider.to_owned(),
        subject: subject.to_owned(),
        email: Some(format!("{subject}@provider.example")),
        created_at: NOW,
        last_used_at: Some(NOW),
    }
}

fn conflict_of<T: std::fmt::Debug>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Conflict(constraint)) => constraint,
        other => panic!("a conflict, not {other:?}"),
    }
}

pub async fn a_flow_is_taken_once_and_only_while_live(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let linking = insert_user(store, "linking@example.com").await;
    let live = flow(Some(linking.id));
    store.insert_provider_flow(&live).await.unwrap();
    let taken = store
        .take_provider_flow(&live.state_hash, NOW)
        .await
        .unwrap()
        .expect("a live flow is taken");
    assert_eq!(taken, live, "every field comes back as stored");
    let again = store
        .take_provider_flow(&live.state_hash, NOW)
        .await
        .unwrap();
    assert!(
        again.is_none(),
        "taken once: a replayed state finds nothing"
    );

    let expired = flow(None);
    store.insert_provider_flow(&expired).await.unwrap();
    let late = store
        .take_provider_flow(&expired.state_hash, expired.expires_at)
        .await
        .unwrap();
    assert!(late.is_none(), "not at its expiry");

    let stale = flow(None);
    let fresh = flow(None);
    store.insert_provider_flow(&stale).await.unwrap();
    store.insert_provider_flow(&fresh).await.unwrap();
    assert_eq!(
        store.prune_provider_flows(stale.expires_at).await.unwrap(),
        2
    );
    let kept = store
        .take_provider_flow(&fresh.state_hash, NOW)
        .await
        .unwrap();
    assert!(kept.is_none(), "expired flows are pruned");
}

pub async fn an_identity_belongs_to_one_account_and_one_per_provider(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (ann, bob) = (
        insert_user(store, "ann@example.com").await,
        insert_user(store, "bob@example.com").await,
    );
    let linked = identity(ann.id, "acme", "sub-1");
    let added = event(NOW, "provider-linked", Some(ann.id), None);
    store.link_identity(&linked, &added).await.unwrap();
    assert_eq!(
        store.identity("acme", "sub-1").await.unwrap(),
        Some(linked.clone())
    );
    assert!(store.identity("other", "sub-1").await.unwrap().is_none());
    let stolen = store
        .link_identity(&identity(bob.id, "acme", "sub-1"), &added)
        .await;
    assert_eq!(conflict_of(stolen), "user_providers_provider_subject_key");
    let second = store
        .link_identity(&identity(ann.id, "acme", "sub-2"), &added)
        .await;
    assert_eq!(conflict_of(second), "user_providers_user_provider_key");
    store
        .link_identity(&identity(ann.id, "github", "583231"), &added)
        .await
        .unwrap();
    let providers: Vec<String> = store
        .identities_of(ann.id)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.provider)
        .collect();
    assert_eq!(providers.len(), 2);
    store
        .record_identity_use(
            linked.id,
            Some("new@provider.example"),
            NOW + Duration::hours(1),
        )
        .await
        .unwrap();
    let used = store.identity("acme", "sub-1").await.unwrap().unwrap();
    assert_eq!(used.email.as_deref(), Some("new@provider.example"));
    assert_eq!(used.last_used_at, Some(NOW + Duration::hours(1)));
}

pub async fn sign_up_with_an_identity_is_all_or_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let existing = insert_user(store, "taken@example.com").await;
    store
        .link_identity(
            &identity(existing.id, "acme", "sub-9"),
            &event(NOW, "provider-linked", Some(existing.id), None),
        )
        .await
        .unwrap();
    // The email is taken: no user, no identity.
    let clash = user("taken@example.com");
    let fresh_identity = identity(clash.id, "acme", "sub-10");
    let signed_up = event(NOW, "signup", Some(clash.id), None);
    let result = store
        .insert_user_with_identity(&clash, &fresh_identity, &signed_up)
        .await;
    assert_eq!(conflict_of(result), "users_email_key");
    assert!(store.identity("acme", "sub-10").await.unwrap().is_none());
    // The identity is taken: no user.
    let newcomer = user("new@example.com");
    let result = store
        .insert_user_with_identity(
            &newcomer,
            &identity(newcomer.id, "acme", "sub-9"),
            &signed_up,
        )
        .await;
    assert_eq!(conflict_of(result), "user_providers_provider_subject_key");
    assert!(store.user_by_id(newcomer.id).await.unwrap().is_none());
    // Neither: both.
    let ok = user("ok@example.com");
    store
        .insert_user_with_identity(&ok, &identity(ok.id, "acme", "sub-11"), &signed_up)
        .await
        .unwrap();
    assert_eq!(
        store
            .identity("acme", "sub-11")
            .await
            .unwrap()
            .unwrap()
            .user_id,
        ok.id
    );
}

fn passkey(user_id: Uuid) -> PasskeyRecord {
    PasskeyRecord {
        id: Uuid::new_v4(),
        user_id,
        credential_id: random_hash(),
        passkey: json!({}),
        counter: 0,
        backup_eligible: false,
        backup_state: false,
        transports: vec![],
        nickname: "Key".to_owned(),
        created_at: NOW,
        last_used_at: None,
    }
}

pub async fn the_last_way_to_sign_in_is_kept_across_passkeys_and_identities(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut account = user("federated@example.com");
    account.password_hash = None;
    let acme = identity(account.id, "acme", "sub-20");
    let signed_up = event(NOW, "signup", Some(account.id), None);
    store
        .insert_user_with_identity(&account, &acme, &signed_up)
        .await
        .unwrap();
    let unlinked = event(NOW, "provider-unlinked", Some(account.id), None);
    let unlink = |provider: &'static str| store.unlink_identity(account.id, provider, &unlinked);
    assert_eq!(
        unlink("acme").await.unwrap(),
        IdentityRemoval::LastSignInMethod
    );
    assert_eq!(unlink("github").await.unwrap(), IdentityRemoval::NotFound);
    // A passkey is another way in: then the identity can go, and the passkey cannot.
    let key = passkey(account.id);
    store.insert_passkey(&key, &signed_up).await.unwrap();
    assert_eq!(unlink("acme").await.unwrap(), IdentityRemoval::Removed);
    assert_eq!(
        store
            .delete_passkey(account.id, key.id, &unlinked)
            .await
            .unwrap(),
        PasskeyRemoval::LastSignInMethod
    );
    // An identity is a way in for a passkey's removal too.
    store
        .link_identity(&identity(account.id, "github", "42"), &signed_up)
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_passkey(account.id, key.id, &unlinked)
            .await
            .unwrap(),
        PasskeyRemoval::Removed
    );
    assert_eq!(
        unlink("github").await.unwrap(),
        IdentityRemoval::LastSignInMethod
    );
    // With a password, the last identity can go.
    let with_password = insert_user(store, "pw@example.com").await;
    store
        .link_identity(&identity(with_password.id, "acme", "sub-21"), &signed_up)
        .await
        .unwrap();
    let removal = store
        .unlink_identity(with_password.id, "acme", &unlinked)
        .await
        .unwrap();
    assert_eq!(removal, IdentityRemoval::Removed);
}

pub async fn two_unlinks_cannot_take_both_last_identities(store: Arc<dyn Store>) {
    for round in 0..5 {
        let mut account = user(&format!("race{round}@example.com"));
        account.password_hash = None;
        let signed_up = event(NOW, "signup", Some(account.id), None);
        store
            .insert_user_with_identity(
                &account,
                &identity(account.id, "acme", &format!("a{round}")),
                &signed_up,
            )
            .await
            .unwrap();
        store
            .link_identity(
                &identity(account.id, "github", &format!("g{round}")),
                &signed_up,
            )
            .await
            .unwrap();
        let (s1, s2, user_id) = (store.clone(), store.clone(), account.id);
        let (e1, e2) = (signed_up.clone(), signed_up);
        let first = tokio::spawn(async move { s1.unlink_identity(user_id, "acme", &e1).await });
        let second = tokio::spawn(async move { s2.unlink_identity(user_id, "github", &e2).await });
        let outcomes = [
            first.await.unwrap().unwrap(),
            second.await.unwrap().unwrap(),
        ];
        assert!(
            outcomes.contains(&IdentityRemoval::Removed)
                && outcomes.contains(&IdentityRemoval::LastSignInMethod),
            "round {round}: one goes, one stays ({outcomes:?})"
        );
        assert_eq!(store.identities_of(account.id).await.unwrap().len(), 1);
    }
}

pub async fn a_user_takes_its_identities_and_flows_along(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let gone = insert_user(store, "gone@example.com").await;
    store
        .link_identity(
            &identity(gone.id, "acme", "sub-30"),
            &event(NOW, "provider-linked", Some(gone.id), None),
        )
        .await
        .unwrap();
    let linking = flow(Some(gone.id));
    store.insert_provider_flow(&linking).await.unwrap();
    assert!(store.delete_user(gone.id).await.unwrap());
    assert!(store.identity("acme", "sub-30").await.unwrap().is_none());
    let flow_left = store
        .take_provider_flow(&linking.state_hash, NOW)
        .await
        .unwrap();
    assert!(flow_left.is_none());

    let claimed = insert_user(store, "claimed@example.com").await;
    for (provider, subject) in [("acme", "sub-31"), ("github", "31")] {
        store
            .link_identity(
                &identity(claimed.id, provider, subject),
                &event(NOW, "provider-linked", Some(claimed.id), None),
            )
            .await
            .unwrap();
    }
    assert_eq!(store.delete_identities_of(claimed.id).await.unwrap(), 2);
    assert!(store.identities_of(claimed.id).await.unwrap().is_empty());
}

crate::contract!(
    a_flow_is_taken_once_and_only_while_live,
    an_identity_belongs_to_one_account_and_one_per_provider,
    sign_up_with_an_identity_is_all_or_nothing,
    the_last_way_to_sign_in_is_kept_across_passkeys_and_identities,
    two_unlinks_cannot_take_both_last_identities,
    a_user_takes_its_identities_and_flows_along,
);
