//! Users: email uniqueness, partial updates, guarded writes, listing and deletion.

use std::sync::Arc;

use serde_json::json;
use tessera::store::{PatRecord, Store, StoreError, UserUpdate};
use time::Duration;
use uuid::Uuid;

use crate::{NOW, event, insert_session, insert_user, random_hash, ticket, user};

pub async fn a_taken_email_conflicts_whatever_its_case(store: Arc<dyn Store>) {
    let first = insert_user(store.as_ref(), "taken@example.com").await;
    let err = store
        .insert_user(&user("Taken@Example.COM"))
        .await
        .expect_err("a second user with the same email");
    assert!(
        matches!(&err, StoreError::Conflict(name) if name == "users_email_key"),
        "{err:?}"
    );
    let found = store.user_by_email("TAKEN@example.com").await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(first.id));
    assert_eq!(
        store.user_by_id(first.id).await.unwrap().as_ref(),
        Some(&first)
    );

    // Changing another user's email to the taken one conflicts the same way.
    let other = insert_user(store.as_ref(), "other@example.com").await;
    let update = UserUpdate {
        email: Some("taken@EXAMPLE.com".into()),
        ..UserUpdate::default()
    };
    let err = store.update_user(other.id, &update, NOW).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict(name) if name == "users_email_key"),
        "{err:?}"
    );
    let unchanged = store.user_by_id(other.id).await.unwrap().unwrap();
    assert_eq!(unchanged.email.as_deref(), Some("other@example.com"));
}

pub async fn update_user_writes_only_what_it_names(store: Arc<dyn Store>) {
    let before = insert_user(store.as_ref(), "update@example.com").await;
    let update = UserUpdate {
        display_name: Some("Ada".into()),
        roles: Some(vec!["user".into(), "editor".into()]),
        metadata: Some(json!({ "plan": "pro" })),
        ..UserUpdate::default()
    };
    store.update_user(before.id, &update, NOW).await.unwrap();
    let after = store.user_by_id(before.id).await.unwrap().unwrap();
    assert_eq!(after, update.apply(before.clone(), NOW));
    assert_eq!(
        after.password_hash, before.password_hash,
        "the password stays"
    );

    // `Some(None)` removes the password; nothing else moves.
    let remove = UserUpdate {
        password_hash: Some(None),
        ..UserUpdate::default()
    };
    store.update_user(before.id, &remove, NOW).await.unwrap();
    let removed = store.user_by_id(before.id).await.unwrap().unwrap();
    assert_eq!(removed.password_hash, None);
    assert_eq!(removed.display_name, "Ada");
}

pub async fn set_password_hash_replaces_only_the_hash_it_was_given(store: Arc<dyn Store>) {
    let user = insert_user(store.as_ref(), "rehash@example.com").await;
    let later = NOW + Duration::minutes(1);
    // Changed meanwhile: the stale rehash must not undo it.
    assert!(
        !store
            .set_password_hash(user.id, "$argon2id$stale", "$argon2id$new", later)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .user_by_id(user.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$old")
    );
    assert!(
        store
            .set_password_hash(user.id, "$argon2id$old", "$argon2id$new", later)
            .await
            .unwrap()
    );
    let stored = store.user_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(stored.updated_at, later);
}

pub async fn set_user_disabled_answers_whether_the_user_exists(store: Arc<dyn Store>) {
    let user = insert_user(store.as_ref(), "disable@example.com").await;
    assert!(store.set_user_disabled(user.id, true, NOW).await.unwrap());
    assert!(store.user_by_id(user.id).await.unwrap().unwrap().disabled);
    assert!(store.set_user_disabled(user.id, false, NOW).await.unwrap());
    assert!(!store.user_by_id(user.id).await.unwrap().unwrap().disabled);
    assert!(
        !store
            .set_user_disabled(Uuid::new_v4(), true, NOW)
            .await
            .unwrap()
    );
}

pub async fn list_users_pages_in_creation_order_and_searches(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for (n, email) in ["b@example.com", "a@example.com", "c@sample.org"]
        .into_iter()
        .enumerate()
    {
        let mut user = user(email);
        user.created_at = NOW - Duration::hours(10 - n as i64);
        user.display_name = format!("User 100% {n}");
        store.insert_user(&user).await.unwrap();
        ids.push(user.id);
    }
    let page = store.list_users(None, None, 2).await.unwrap();
    assert_eq!(page.iter().map(|u| u.id).collect::<Vec<_>>(), ids[..2]);
    let last = page.last().unwrap();
    let rest = store
        .list_users(Some((last.created_at, last.id)), None, 2)
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|u| u.id).collect::<Vec<_>>(), ids[2..]);
    // Case-insensitive, in email or display name, wildcards taken literally.
    let found = store.list_users(None, Some("SAMPLE"), 10).await.unwrap();
    assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), [ids[2]]);
    let percent = store.list_users(None, Some("100% 1"), 10).await.unwrap();
    assert_eq!(percent.iter().map(|u| u.id).collect::<Vec<_>>(), [ids[1]]);
    assert!(
        store
            .list_users(None, Some("_"), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn delete_user_removes_what_names_the_user(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut names = Vec::new();
    for email in ["gone@example.com", "stays@example.com"] {
        let user = insert_user(store, email).await;
        let (session, token_hash) = insert_session(store, user.id).await;
        let ticket = ticket(user.id, "verify-email", NOW);
        store.insert_ticket(&ticket).await.unwrap();
        store
            .record_event(&event(NOW, "signed-in", Some(user.id), Some(session.id)))
            .await
            .unwrap();
        let pat = PatRecord {
            id: Uuid::new_v4(),
            user_id: user.id,
            hash: random_hash(),
            created_at: NOW,
            expires_at: NOW + Duration::days(30),
            last_used_at: None,
            revoked_at: None,
            metadata: json!({}),
        };
        store.insert_pat(&pat).await.unwrap();
        names.push((user.id, session.id, token_hash, ticket.hash, pat.id));
    }
    let (gone, session, token, ticket, pat) = names[0].clone();
    assert!(store.delete_user(gone).await.unwrap());
    assert!(store.user_by_id(gone).await.unwrap().is_none());
    assert!(store.session(session).await.unwrap().is_none());
    assert!(
        store
            .session_by_refresh_token(&token)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.ticket(&ticket).await.unwrap().is_none());
    assert!(store.events(Some(gone), 10).await.unwrap().is_empty());
    assert!(store.pat(pat).await.unwrap().is_none());
    assert!(!store.delete_user(gone).await.unwrap(), "already gone");

    let (stays, session, token, ticket, pat) = names[1].clone();
    assert!(store.user_by_id(stays).await.unwrap().is_some());
    assert!(store.session(session).await.unwrap().is_some());
    assert!(
        store
            .session_by_refresh_token(&token)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.ticket(&ticket).await.unwrap().is_some());
    assert_eq!(store.events(Some(stays), 10).await.unwrap().len(), 1);
    assert!(store.pat(pat).await.unwrap().is_some());
}

crate::contract!(
    a_taken_email_conflicts_whatever_its_case,
    update_user_writes_only_what_it_names,
    set_password_hash_replaces_only_the_hash_it_was_given,
    set_user_disabled_answers_whether_the_user_exists,
    list_users_pages_in_creation_order_and_searches,
    delete_user_removes_what_names_the_user,
);
