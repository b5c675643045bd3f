//! Signing keys: the insertion race guard, revocation, expiry; the shared server secret.

use std::sync::Arc;

use serde_json::json;
use tessera::store::{KeyInsertion, KeyRecord, KeyRevocation, RevocationOutcome, Store};
use time::{Duration, OffsetDateTime};

use crate::{NOW, event};

fn key(kid: &str, activates_at: OffsetDateTime) -> KeyRecord {
    KeyRecord {
        kid: kid.to_owned(),
        public_jwk: json!({ "kty": "EC", "kid": kid }),
        private_key: format!("private {kid}").into_bytes(),
        encryption: "none".to_owned(),
        origin: "generated".to_owned(),
        created_at: activates_at,
        published_at: activates_at,
        activates_at,
        retires_at: None,
        expires_at: None,
        revoked_at: None,
    }
}

fn insertion(expected: Option<&str>, key: KeyRecord) -> KeyInsertion {
    KeyInsertion {
        expected_newest: expected.map(str::to_owned),
        key,
        retire_previous: Some((NOW + Duration::days(1), NOW + Duration::days(2))),
    }
}

pub async fn insert_signing_key_adds_only_after_the_newest_key_the_caller_saw(
    store: Arc<dyn Store>,
) {
    let first = key("k1", NOW - Duration::days(10));
    assert!(
        store
            .insert_signing_key(&insertion(None, first.clone()))
            .await
            .unwrap()
    );
    // A replica that also saw an empty key set lost the race.
    let rival = key("k1-rival", NOW - Duration::days(10));
    assert!(
        !store
            .insert_signing_key(&insertion(None, rival))
            .await
            .unwrap()
    );
    // One that saw a key that is no longer the newest, too.
    let second = key("k2", NOW);
    assert!(
        store
            .insert_signing_key(&insertion(Some("k1"), second.clone()))
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_signing_key(&insertion(Some("k1"), key("k3", NOW)))
            .await
            .unwrap()
    );
    // A kid that exists already is refused even when the guard matches.
    assert!(
        !store
            .insert_signing_key(&insertion(Some("k2"), key("k1", NOW)))
            .await
            .unwrap()
    );

    let keys = store.signing_keys().await.unwrap();
    let retired = KeyRecord {
        retires_at: Some(NOW + Duration::days(1)),
        expires_at: Some(NOW + Duration::days(2)),
        ..first
    };
    assert_eq!(
        keys,
        [retired, second],
        "the previous newest retired, oldest first"
    );
}

pub async fn revoke_signing_key_erases_the_key_and_tells_what_it_found(store: Arc<dyn Store>) {
    let signing = key("signing", NOW - Duration::days(1));
    store
        .insert_signing_key(&insertion(None, signing))
        .await
        .unwrap();
    let replacement = key("replacement", NOW);
    let revocation = KeyRevocation {
        kid: "signing".into(),
        revoked_at: NOW,
        replacement: Some(replacement.clone()),
        unretire: None,
        event: event(NOW, "signing-key-revoked", None, None),
    };
    assert_eq!(
        store.revoke_signing_key(&revocation).await.unwrap(),
        RevocationOutcome::Revoked
    );
    let keys = store.signing_keys().await.unwrap();
    let revoked = keys.iter().find(|k| k.kid == "signing").unwrap();
    assert_eq!(revoked.revoked_at, Some(NOW));
    assert!(revoked.private_key.is_empty(), "the private key is erased");
    assert!(keys.contains(&replacement));
    assert_eq!(store.revoked_signing_keys().await.unwrap(), ["signing"]);
    assert_eq!(
        store.events(None, 10).await.unwrap(),
        std::slice::from_ref(&revocation.event)
    );

    let again = KeyRevocation {
        revoked_at: NOW + Duration::hours(1),
        replacement: None,
        ..revocation
    };
    assert_eq!(
        store.revoke_signing_key(&again).await.unwrap(),
        RevocationOutcome::AlreadyRevoked(NOW)
    );
    let unknown = KeyRevocation {
        kid: "unknown".into(),
        ..again
    };
    assert_eq!(
        store.revoke_signing_key(&unknown).await.unwrap(),
        RevocationOutcome::NotFound
    );
}

pub async fn expired_keys_go_but_revoked_ones_stay_as_tombstones(store: Arc<dyn Store>) {
    let mut expired = key("expired", NOW - Duration::days(3));
    expired.expires_at = Some(NOW);
    let mut expiring_later = key("later", NOW - Duration::days(2));
    expiring_later.expires_at = Some(NOW + Duration::seconds(1));
    let mut tombstone = key("tombstone", NOW - Duration::days(1));
    tombstone.expires_at = Some(NOW - Duration::days(1));
    let mut newest = None;
    for key in [expired, expiring_later, tombstone] {
        let kid = key.kid.clone();
        assert!(
            store
                .insert_signing_key(&KeyInsertion {
                    expected_newest: newest.clone(),
                    key,
                    retire_previous: None,
                })
                .await
                .unwrap()
        );
        newest = Some(kid);
    }
    let revocation = KeyRevocation {
        kid: "tombstone".into(),
        revoked_at: NOW - Duration::hours(1),
        replacement: None,
        unretire: None,
        event: event(NOW, "signing-key-revoked", None, None),
    };
    store.revoke_signing_key(&revocation).await.unwrap();

    assert_eq!(store.delete_expired_signing_keys(NOW).await.unwrap(), 1);
    let kids: Vec<String> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["later", "tombstone"]);
}

pub async fn the_first_server_secret_stored_wins(store: Arc<dyn Store>) {
    let first = store.server_secret("cookies", b"first", NOW).await.unwrap();
    assert_eq!(first, b"first");
    let second = store
        .server_secret("cookies", b"second", NOW)
        .await
        .unwrap();
    assert_eq!(second, b"first", "a later start agrees on the stored one");
    let other = store.server_secret("devices", b"other", NOW).await.unwrap();
    assert_eq!(other, b"other");
}

crate::contract!(
    insert_signing_key_adds_only_after_the_newest_key_the_caller_saw,
    revoke_signing_key_erases_the_key_and_tells_what_it_found,
    expired_keys_go_but_revoked_ones_stay_as_tombstones,
    the_first_server_secret_stored_wins,
);
