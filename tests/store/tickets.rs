//! Tickets: single use, purpose and expiry, counted tries, replacement.

use std::sync::Arc;

use tessera::store::Store;
use time::Duration;

use crate::{NOW, insert_user, ticket};

pub async fn consume_ticket_redeems_once_for_its_purpose_before_expiry(store: Arc<dyn Store>) {
    let user = insert_user(store.as_ref(), "ticket@example.com").await;
    let stored = ticket(user.id, "password-reset", NOW);
    store.insert_ticket(&stored).await.unwrap();
    assert_eq!(
        store.ticket(&stored.hash).await.unwrap(),
        Some(stored.clone())
    );

    assert!(
        store
            .consume_ticket(&stored.hash, "verify-email", NOW)
            .await
            .unwrap()
            .is_none(),
        "another purpose"
    );
    assert!(
        store
            .consume_ticket(&stored.hash, "password-reset", stored.expires_at)
            .await
            .unwrap()
            .is_none(),
        "at its expiry"
    );
    let redeemed = store
        .consume_ticket(&stored.hash, "password-reset", NOW)
        .await
        .unwrap()
        .expect("a live ticket");
    assert_eq!(redeemed.id, stored.id);
    assert_eq!(redeemed.used_at, Some(NOW));
    assert_eq!(redeemed.payload, stored.payload);
    assert!(
        store
            .consume_ticket(&stored.hash, "password-reset", NOW)
            .await
            .unwrap()
            .is_none(),
        "redeemed twice"
    );
    assert_eq!(
        store.ticket(&stored.hash).await.unwrap().unwrap().used_at,
        Some(NOW),
        "a used ticket is still found by hash"
    );
}

pub async fn attempt_ticket_counts_tries_on_the_newest_up_to_the_cap(store: Arc<dyn Store>) {
    let user = insert_user(store.as_ref(), "otp@example.com").await;
    let older = ticket(user.id, "email-otp", NOW - Duration::minutes(2));
    let newest = ticket(user.id, "email-otp", NOW - Duration::minutes(1));
    store.insert_ticket(&older).await.unwrap();
    store.insert_ticket(&newest).await.unwrap();

    for expected in 1..=3 {
        let (tried, attempts) = store
            .attempt_ticket(user.id, "email-otp", NOW, 3)
            .await
            .unwrap()
            .expect("tries left");
        assert_eq!(tried.id, newest.id, "the newest ticket");
        assert_eq!(attempts, expected);
    }
    assert!(
        store
            .attempt_ticket(user.id, "email-otp", NOW, 3)
            .await
            .unwrap()
            .is_none(),
        "past the cap"
    );
    assert!(
        store
            .attempt_ticket(user.id, "signin-link", NOW, 3)
            .await
            .unwrap()
            .is_none(),
        "no ticket of that purpose"
    );
    assert!(
        store
            .attempt_ticket(user.id, "email-otp", newest.expires_at, 10)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
}

pub async fn replace_ticket_spends_the_older_ones_of_its_purpose(store: Arc<dyn Store>) {
    let user = insert_user(store.as_ref(), "replace@example.com").await;
    let first = ticket(user.id, "email-otp", NOW - Duration::minutes(3));
    let second = ticket(user.id, "email-otp", NOW - Duration::minutes(2));
    let other_purpose = ticket(user.id, "verify-email", NOW - Duration::minutes(2));
    let other = insert_user(store.as_ref(), "replace-other@example.com").await;
    let other_user = ticket(other.id, "email-otp", NOW - Duration::minutes(2));
    for ticket in [&first, &second, &other_purpose, &other_user] {
        store.insert_ticket(ticket).await.unwrap();
    }

    let replacement = ticket(user.id, "email-otp", NOW);
    assert_eq!(store.replace_ticket(&replacement).await.unwrap(), 2);
    for spent in [&first, &second] {
        assert_eq!(
            store.ticket(&spent.hash).await.unwrap().unwrap().used_at,
            Some(NOW)
        );
        assert!(
            store
                .consume_ticket(&spent.hash, "email-otp", NOW)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(
        store
            .consume_ticket(&other_purpose.hash, "verify-email", NOW)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .consume_ticket(&other_user.hash, "email-otp", NOW)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .consume_ticket(&replacement.hash, "email-otp", NOW)
            .await
            .unwrap()
            .is_some()
    );
}

crate::contract!(
    consume_ticket_redeems_once_for_its_purpose_before_expiry,
    attempt_ticket_counts_tries_on_the_newest_up_to_the_cap,
    replace_ticket_spends_the_older_ones_of_its_purpose,
);
