//! Tessera as an OAuth 2.1 provider: clients (a taken id refused by name, an update that
//! keeps the id, creation time and origin, a deletion that revokes the grants' sessions and
//! takes consents, requests and grants with it), consents replaced per user and client,
//! an authorization request approved once and only while unexpired, a code taken once
//! (also when two presentations race), a grant created as a session of its own unless its
//! code was reused meanwhile, a reused code revoking its grant, a user's live grants, a
//! user withdrawing what a client had, and the prune of requests past their deadline. Every
//! revocation is announced to the liveness view.

use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use tessera::store::{
    AuthorizationRequestRecord, Change, ChangeSink, CodeTake, ConsentRecord, EventFilter,
    NewRefreshToken, OAuthClientRecord, OAuthGrantRecord, SessionRecord, Store, StoreError,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{NOW, event, insert_session, insert_user, random_hash, session};

/// A sink that records the changes announced to it.
#[derive(Default)]
struct Recorder(Mutex<Vec<Change>>);

impl ChangeSink for Recorder {
    fn changed(&self, change: Change) {
        self.0.lock().unwrap().push(change);
    }
    fn synced(&self, _: Instant) {}
    fn reset(&self) {}
    fn lost(&self) {}
}

impl Recorder {
    fn on(store: &dyn Store) -> Arc<Recorder> {
        let recorder = Arc::new(Recorder::default());
        let sink: Weak<dyn ChangeSink> = Arc::downgrade(&recorder) as Weak<dyn ChangeSink>;
        store.changes().subscribe(sink);
        recorder
    }

    fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A confidential client registered by an administrator at `created_at`; its redirect URI
/// holds a comma and a query, to catch a list encoding that splits on them.
fn client(id: &str, created_at: OffsetDateTime) -> OAuthClientRecord {
    OAuthClientRecord {
        id: id.to_owned(),
        name: format!("App {id}"),
        secret_hash: Some(random_hash()),
        redirect_uris: vec![
            "https://app.example/callback?a=1,2".to_owned(),
            "http://127.0.0.1:8080/cb".to_owned(),
        ],
        post_logout_redirect_uris: vec!["https://app.example/bye".to_owned()],
        scopes: vec![
            "openid".to_owned(),
            "email".to_owned(),
            "profile".to_owned(),
        ],
        first_party: false,
        dynamic: false,
        created_at,
        updated_at: created_at,
    }
}

async fn insert_client(store: &dyn Store, id: &str) -> OAuthClientRecord {
    let client = client(id, NOW - Duration::days(1));
    store.insert_client(&client).await.unwrap();
    client
}

/// An unapproved request of `client_id`, created at [`NOW`], expiring 10 minutes after.
fn request(client_id: &str) -> AuthorizationRequestRecord {
    AuthorizationRequestRecord {
        id: Uuid::new_v4(),
        client_id: client_id.to_owned(),
        redirect_uri: "https://app.example/callback?a=1,2".to_owned(),
        scopes: vec!["openid".to_owned(), "email".to_owned()],
        state: Some("state-1".to_owned()),
        nonce: Some("nonce-1".to_owned()),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        browser_hash: Some(random_hash()),
        created_at: NOW,
        expires_at: NOW + Duration::minutes(10),
        user_id: None,
        auth_time: None,
        amr: Vec::new(),
        code_hash: None,
        code_expires_at: None,
        redeemed_at: None,
        session_id: None,
        reused_at: None,
    }
}

/// `request` as approved by `user_id` at [`NOW`], its code valid for a minute.
fn approved(request: &AuthorizationRequestRecord, user_id: Uuid) -> AuthorizationRequestRecord {
    AuthorizationRequestRecord {
        user_id: Some(user_id),
        auth_time: Some(NOW - Duration::minutes(30)),
        amr: vec!["pwd".to_owned(), "otp".to_owned()],
        code_hash: Some(random_hash()),
        code_expires_at: Some(NOW + Duration::minutes(1)),
        ..request.clone()
    }
}

/// Stores a request of `client_id` and approves it for `user_id`; returns it as approved.
async fn approved_request(
    store: &dyn Store,
    client_id: &str,
    user_id: Uuid,
) -> AuthorizationRequestRecord {
    let request = request(client_id);
    store.insert_authorization_request(&request).await.unwrap();
    let approved = approved(&request, user_id);
    assert!(
        store
            .approve_authorization_request(&approved, NOW)
            .await
            .unwrap()
    );
    approved
}

/// A grant of `user_id` to `client_id` (its session as the fixtures make one), not stored.
fn grant(user_id: Uuid, client_id: &str) -> (SessionRecord, NewRefreshToken, OAuthGrantRecord) {
    let (session, token) = session(user_id);
    let grant = OAuthGrantRecord {
        session_id: session.id,
        client_id: client_id.to_owned(),
        user_id,
        scopes: vec!["openid".to_owned(), "email".to_owned()],
        created_at: session.created_at,
    };
    (session, token, grant)
}

/// Stores a grant (with no request) and returns it.
async fn insert_grant(store: &dyn Store, user_id: Uuid, client_id: &str) -> OAuthGrantRecord {
    let (session, token, grant) = grant(user_id, client_id);
    assert!(
        store
            .create_grant(&session, &token, &grant, None)
            .await
            .unwrap()
    );
    grant
}

fn consent(user_id: Uuid, client_id: &str, granted_at: OffsetDateTime) -> ConsentRecord {
    ConsentRecord {
        user_id,
        client_id: client_id.to_owned(),
        scopes: vec!["openid".to_owned(), "profile".to_owned()],
        granted_at,
    }
}

/// The events of `kind`, newest first.
async fn events_of(store: &dyn Store, kind: &str) -> Vec<tessera::store::SecurityEventRecord> {
    store
        .search_events(&EventFilter {
            kind: Some(kind.to_owned()),
            limit: 100,
            ..EventFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|(_, event)| event)
        .collect()
}

/// The session is revoked at `at` and no longer live.
async fn assert_revoked(store: &dyn Store, session_id: Uuid, at: OffsetDateTime) {
    let found = store.session(session_id).await.unwrap().expect("kept");
    assert_eq!(found.revoked_at, Some(at), "revoked at the event's time");
    assert!(!store.session_is_live(session_id, NOW).await.unwrap());
}

pub async fn clients_are_stored_listed_updated_and_unique(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let mut younger = client("younger", NOW - Duration::hours(1));
    younger.secret_hash = None;
    younger.redirect_uris = vec!["com.example.app:/cb".to_owned()];
    younger.post_logout_redirect_uris = Vec::new();
    younger.first_party = true;
    younger.dynamic = true;
    store.insert_client(&younger).await.unwrap();
    let older = client("older", NOW - Duration::days(2));
    store.insert_client(&older).await.unwrap();

    assert_eq!(
        store.client("younger").await.unwrap(),
        Some(younger.clone())
    );
    assert_eq!(store.client("older").await.unwrap(), Some(older.clone()));
    assert_eq!(store.client("none").await.unwrap(), None);
    assert_eq!(
        store.clients().await.unwrap(),
        vec![older.clone(), younger.clone()],
        "oldest first"
    );

    let mut twin = client("older", NOW);
    twin.name = "Impostor".to_owned();
    match store.insert_client(&twin).await {
        Err(StoreError::Conflict(name)) => assert_eq!(name, "oauth2_clients_pkey"),
        other => panic!("a conflict, not {other:?}"),
    }
    assert_eq!(store.client("older").await.unwrap(), Some(older.clone()));

    let changed = OAuthClientRecord {
        name: "Renamed".to_owned(),
        secret_hash: None,
        redirect_uris: vec!["https://new.example/cb".to_owned()],
        post_logout_redirect_uris: Vec::new(),
        scopes: vec!["openid".to_owned()],
        first_party: true,
        // Neither of these is replaced.
        dynamic: true,
        created_at: NOW,
        updated_at: NOW,
        ..older.clone()
    };
    assert!(store.update_client(&changed).await.unwrap());
    assert_eq!(
        store.client("older").await.unwrap(),
        Some(OAuthClientRecord {
            dynamic: false,
            created_at: older.created_at,
            ..changed.clone()
        }),
        "every field but the id, creation time and origin"
    );
    let ghost = client("ghost", NOW);
    assert!(!store.update_client(&ghost).await.unwrap());
    assert_eq!(store.client("ghost").await.unwrap(), None);
}

pub async fn consents_are_replaced_per_user_and_client(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let ada = insert_user(store, "ada@example.com").await;
    let bob = insert_user(store, "bob@example.com").await;
    insert_client(store, "a").await;
    insert_client(store, "b").await;

    let to_b = consent(ada.id, "b", NOW - Duration::hours(2));
    store.upsert_consent(&to_b).await.unwrap();
    let to_a = consent(ada.id, "a", NOW - Duration::hours(1));
    store.upsert_consent(&to_a).await.unwrap();
    store
        .upsert_consent(&consent(bob.id, "a", NOW))
        .await
        .unwrap();
    assert_eq!(
        store.consent(ada.id, "a").await.unwrap(),
        Some(to_a.clone())
    );
    assert_eq!(
        store.consents_of(ada.id).await.unwrap(),
        vec![to_b.clone(), to_a.clone()],
        "oldest first"
    );

    let again = ConsentRecord {
        scopes: vec![
            "openid".to_owned(),
            "email".to_owned(),
            "profile".to_owned(),
        ],
        granted_at: NOW,
        ..to_b.clone()
    };
    store.upsert_consent(&again).await.unwrap();
    assert_eq!(
        store.consents_of(ada.id).await.unwrap(),
        vec![to_a, again],
        "replaced, not added"
    );
    assert_eq!(store.consent(bob.id, "b").await.unwrap(), None);
}

pub async fn deleting_a_client_revokes_its_grants_and_takes_what_hangs_on_it(
    store: Arc<dyn Store>,
) {
    let store = store.as_ref();
    let recorder = Recorder::on(store);
    let ada = insert_user(store, "ada@example.com").await;
    let bob = insert_user(store, "bob@example.com").await;
    insert_client(store, "doomed").await;
    insert_client(store, "kept").await;
    let ada_grant = insert_grant(store, ada.id, "doomed").await;
    let bob_grant = insert_grant(store, bob.id, "doomed").await;
    let kept_grant = insert_grant(store, ada.id, "kept").await;
    let (plain, _) = insert_session(store, ada.id).await;
    store
        .upsert_consent(&consent(ada.id, "doomed", NOW))
        .await
        .unwrap();
    store
        .upsert_consent(&consent(ada.id, "kept", NOW))
        .await
        .unwrap();
    let pending = approved_request(store, "doomed", ada.id).await;
    let kept_request = request("kept");
    store
        .insert_authorization_request(&kept_request)
        .await
        .unwrap();
    recorder.take();

    let at = NOW + Duration::minutes(5);
    let deleted = event(at, "oauth2-client-deleted", None, None);
    assert!(store.delete_client("doomed", &deleted).await.unwrap());

    assert_eq!(store.client("doomed").await.unwrap(), None);
    for grant in [&ada_grant, &bob_grant] {
        assert_revoked(store, grant.session_id, at).await;
        assert_eq!(store.grant(grant.session_id).await.unwrap(), None);
    }
    let mut announced = recorder.take();
    announced.sort_by_key(|c| format!("{c:?}"));
    let mut expected = vec![
        Change::Session(ada_grant.session_id),
        Change::Session(bob_grant.session_id),
    ];
    expected.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(announced, expected, "each revoked session is announced");
    assert_eq!(store.consent(ada.id, "doomed").await.unwrap(), None);
    assert_eq!(store.authorization_request(pending.id).await.unwrap(), None);
    assert_eq!(
        events_of(store, "oauth2-client-deleted").await,
        vec![deleted]
    );

    // What belongs to another client, and a session that is no grant, stand.
    assert!(store.session_is_live(plain.id, NOW).await.unwrap());
    assert!(
        store
            .session_is_live(kept_grant.session_id, NOW)
            .await
            .unwrap()
    );
    assert_eq!(
        store.grant(kept_grant.session_id).await.unwrap(),
        Some(kept_grant)
    );
    assert!(store.consent(ada.id, "kept").await.unwrap().is_some());
    assert_eq!(
        store.authorization_request(kept_request.id).await.unwrap(),
        Some(kept_request)
    );

    let again = event(at, "oauth2-client-deleted", None, None);
    assert!(!store.delete_client("doomed", &again).await.unwrap());
    assert_eq!(
        events_of(store, "oauth2-client-deleted").await.len(),
        1,
        "no event for a client that is not there"
    );
    assert!(recorder.take().is_empty());
}

pub async fn a_request_is_approved_once_and_only_while_unexpired(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let ada = insert_user(store, "ada@example.com").await;
    let bob = insert_user(store, "bob@example.com").await;
    insert_client(store, "app").await;
    let request = request("app");
    store.insert_authorization_request(&request).await.unwrap();
    assert_eq!(
        store.authorization_request(request.id).await.unwrap(),
        Some(request.clone()),
        "every field comes back as stored"
    );
    assert_eq!(
        store.authorization_request(Uuid::new_v4()).await.unwrap(),
        None
    );

    let by_ada = approved(&request, ada.id);
    assert!(
        store
            .approve_authorization_request(&by_ada, NOW)
            .await
            .unwrap()
    );
    assert_eq!(
        store.authorization_request(request.id).await.unwrap(),
        Some(by_ada.clone()),
        "the approval's fields are set"
    );
    let by_bob = approved(&request, bob.id);
    assert!(
        !store
            .approve_authorization_request(&by_bob, NOW)
            .await
            .unwrap(),
        "approved once"
    );
    assert_eq!(
        store.authorization_request(request.id).await.unwrap(),
        Some(by_ada)
    );

    let late = self::request("app");
    store.insert_authorization_request(&late).await.unwrap();
    assert!(
        !store
            .approve_authorization_request(&approved(&late, ada.id), late.expires_at)
            .await
            .unwrap(),
        "not at its expiry"
    );
    assert_eq!(
        store.authorization_request(late.id).await.unwrap(),
        Some(late)
    );
}

pub async fn a_code_is_taken_once(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let ada = insert_user(store, "ada@example.com").await;
    insert_client(store, "app").await;
    let approved = approved_request(store, "app", ada.id).await;
    let code = approved.code_hash.clone().unwrap();

    let first = NOW + Duration::seconds(10);
    let redeemed = AuthorizationRequestRecord {
        redeemed_at: Some(first),
        ..approved.clone()
    };
    assert_eq!(
        store.take_authorization_code(&code, first).await.unwrap(),
        CodeTake::Taken(redeemed.clone())
    );
    // Expiry is not the store's to judge: a late presentation still finds the request.
    let late = NOW + Duration::hours(1);
    assert_eq!(
        store.take_authorization_code(&code, late).await.unwrap(),
        CodeTake::AlreadyRedeemed(redeemed.clone()),
        "as it was: redeemed at the first presentation"
    );
    assert_eq!(
        store
            .take_authorization_code(&random_hash(), first)
            .await
            .unwrap(),
        CodeTake::Unknown
    );
}

pub async fn of_two_presentations_at_once_one_takes_the_code(store: Arc<dyn Store>) {
    let ada = insert_user(store.as_ref(), "ada@example.com").await;
    insert_client(store.as_ref(), "app").await;
    for _ in 0..5 {
        let approved = approved_request(store.as_ref(), "app", ada.id).await;
        let code = approved.code_hash.clone().unwrap();
        let (one, other) = tokio::join!(
            store.take_authorization_code(&code, NOW),
            store.take_authorization_code(&code, NOW)
        );
        let takes = [one.unwrap(), other.unwrap()];
        let taken = takes
            .iter()
            .filter(|t| matches!(t, CodeTake::Taken(_)))
            .count();
        let redeemed = takes
            .iter()
            .filter(|t| matches!(t, CodeTake::AlreadyRedeemed(_)))
            .count();
        assert_eq!((taken, redeemed), (1, 1), "{takes:?}");
    }
}

pub async fn a_grant_is_a_session_unless_its_code_was_reused(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let ada = insert_user(store, "ada@example.com").await;
    insert_client(store, "app").await;
    let approved = approved_request(store, "app", ada.id).await;
    let code = approved.code_hash.clone().unwrap();
    store.take_authorization_code(&code, NOW).await.unwrap();

    let (session, token, grant) = grant(ada.id, "app");
    assert!(
        store
            .create_grant(&session, &token, &grant, Some(approved.id))
            .await
            .unwrap()
    );
    assert_eq!(
        store.session_by_refresh_token(&token.hash).await.unwrap(),
        Some(session.clone()),
        "the session as `create_session` stores it"
    );
    assert!(
        store
            .refresh_token_is_current(&token.hash, NOW)
            .await
            .unwrap()
    );
    assert_eq!(store.grant(session.id).await.unwrap(), Some(grant));
    let recorded = store
        .authorization_request(approved.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.session_id, Some(session.id), "kept on the request");
    let (plain, _) = insert_session(store, ada.id).await;
    assert_eq!(store.grant(plain.id).await.unwrap(), None, "no grant");

    // A code reused before its exchange finished: nothing is created.
    let raced = approved_request(store, "app", ada.id).await;
    store
        .take_authorization_code(raced.code_hash.as_ref().unwrap(), NOW)
        .await
        .unwrap();
    let reused = event(NOW, "authorization-code-reused", Some(ada.id), None);
    assert_eq!(
        store.mark_code_reused(raced.id, &reused).await.unwrap(),
        None,
        "no session to revoke yet"
    );
    let (late, late_token, late_grant) = self::grant(ada.id, "app");
    assert!(
        !store
            .create_grant(&late, &late_token, &late_grant, Some(raced.id))
            .await
            .unwrap()
    );
    assert_eq!(store.session(late.id).await.unwrap(), None);
    assert_eq!(
        store
            .session_by_refresh_token(&late_token.hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.grant(late.id).await.unwrap(), None);
    let raced = store
        .authorization_request(raced.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (raced.session_id, raced.reused_at),
        (None, Some(NOW)),
        "marked reused, with no session"
    );
}

pub async fn a_reused_code_revokes_its_grant(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let recorder = Recorder::on(store);
    let ada = insert_user(store, "ada@example.com").await;
    insert_client(store, "app").await;
    let approved = approved_request(store, "app", ada.id).await;
    let (session, token, grant) = grant(ada.id, "app");
    assert!(
        store
            .create_grant(&session, &token, &grant, Some(approved.id))
            .await
            .unwrap()
    );
    recorder.take();

    let at = NOW + Duration::minutes(1);
    // The event as the domain makes it, without the user or session: filled from the row.
    let reused = event(at, "authorization-code-reused", None, None);
    assert_eq!(
        store.mark_code_reused(approved.id, &reused).await.unwrap(),
        Some(session.id)
    );
    assert_revoked(store, session.id, at).await;
    assert_eq!(recorder.take(), vec![Change::Session(session.id)]);
    let recorded = events_of(store, "authorization-code-reused").await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0].user_id, recorded[0].session_id),
        (Some(ada.id), Some(session.id))
    );
    assert_eq!(recorded[0].occurred_at, at);
    let marked = store
        .authorization_request(approved.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(marked.reused_at, Some(at));

    // Presented yet again: the session is revoked already, nothing more to record.
    let again = event(at, "authorization-code-reused", None, None);
    assert_eq!(
        store.mark_code_reused(approved.id, &again).await.unwrap(),
        None
    );
    assert_eq!(events_of(store, "authorization-code-reused").await.len(), 1);
    assert!(recorder.take().is_empty());
    assert_eq!(
        store
            .mark_code_reused(Uuid::new_v4(), &again)
            .await
            .unwrap(),
        None,
        "no such request"
    );
}

pub async fn live_grants_are_the_unrevoked_unexpired_ones_oldest_first(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let ada = insert_user(store, "ada@example.com").await;
    let bob = insert_user(store, "bob@example.com").await;
    insert_client(store, "a").await;
    insert_client(store, "b").await;

    let mut made = Vec::new();
    for (client_id, age, expires_at, cap) in [
        (
            "b",
            3,
            NOW + Duration::days(1),
            Some(NOW + Duration::days(7)),
        ),
        ("a", 5, NOW + Duration::days(1), None),
        ("a", 4, NOW, Some(NOW + Duration::days(7))),
        ("a", 2, NOW + Duration::days(1), Some(NOW)),
        (
            "a",
            1,
            NOW + Duration::days(1),
            Some(NOW + Duration::days(7)),
        ),
    ] {
        let (mut session, token, mut grant) = grant(ada.id, client_id);
        session.created_at = NOW - Duration::hours(age);
        session.expires_at = expires_at;
        session.absolute_expires_at = cap;
        grant.created_at = session.created_at;
        assert!(
            store
                .create_grant(&session, &token, &grant, None)
                .await
                .unwrap()
        );
        made.push(grant);
    }
    let revoked = insert_grant(store, ada.id, "b").await;
    let ended = event(
        NOW,
        "session-revoked",
        Some(ada.id),
        Some(revoked.session_id),
    );
    assert!(
        store
            .revoke_session(revoked.session_id, ada.id, "user", &ended)
            .await
            .unwrap()
    );
    insert_grant(store, bob.id, "a").await;

    assert_eq!(
        store.live_grants_of(ada.id, NOW).await.unwrap(),
        vec![made[1].clone(), made[0].clone(), made[4].clone()],
        "not revoked, expired or past its cap; oldest first"
    );
}

pub async fn revoking_a_clients_grants_revokes_them_and_the_consent(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let recorder = Recorder::on(store);
    let ada = insert_user(store, "ada@example.com").await;
    let bob = insert_user(store, "bob@example.com").await;
    insert_client(store, "app").await;
    insert_client(store, "other").await;
    let first = insert_grant(store, ada.id, "app").await;
    let second = insert_grant(store, ada.id, "app").await;
    let other = insert_grant(store, ada.id, "other").await;
    let bobs = insert_grant(store, bob.id, "app").await;
    store
        .upsert_consent(&consent(ada.id, "app", NOW))
        .await
        .unwrap();
    store
        .upsert_consent(&consent(ada.id, "other", NOW))
        .await
        .unwrap();
    store
        .upsert_consent(&consent(bob.id, "app", NOW))
        .await
        .unwrap();
    recorder.take();

    let at = NOW + Duration::minutes(2);
    let withdrawn = event(at, "oauth2-grant-revoked", Some(ada.id), None);
    assert!(
        store
            .revoke_client_grants(ada.id, "app", &withdrawn)
            .await
            .unwrap()
    );
    for grant in [&first, &second] {
        assert_revoked(store, grant.session_id, at).await;
    }
    let mut announced = recorder.take();
    announced.sort_by_key(|c| format!("{c:?}"));
    let mut expected = vec![
        Change::Session(first.session_id),
        Change::Session(second.session_id),
    ];
    expected.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(announced, expected);
    assert_eq!(store.consent(ada.id, "app").await.unwrap(), None);
    assert_eq!(
        events_of(store, "oauth2-grant-revoked").await,
        vec![withdrawn.clone()]
    );
    // The user's other client, and the other user, keep theirs.
    assert_eq!(
        store.live_grants_of(ada.id, NOW).await.unwrap(),
        vec![other.clone()]
    );
    assert_eq!(
        store.live_grants_of(bob.id, NOW).await.unwrap(),
        vec![bobs.clone()]
    );
    assert!(store.consent(ada.id, "other").await.unwrap().is_some());
    assert!(store.consent(bob.id, "app").await.unwrap().is_some());

    assert!(
        !store
            .revoke_client_grants(ada.id, "app", &withdrawn)
            .await
            .unwrap(),
        "nothing left to withdraw"
    );
    assert_eq!(events_of(store, "oauth2-grant-revoked").await.len(), 1);
    assert!(recorder.take().is_empty());

    // A consent alone is something to withdraw.
    store
        .upsert_consent(&consent(ada.id, "app", NOW))
        .await
        .unwrap();
    assert!(
        store
            .revoke_client_grants(ada.id, "app", &withdrawn)
            .await
            .unwrap()
    );
    assert_eq!(store.consent(ada.id, "app").await.unwrap(), None);
    assert_eq!(events_of(store, "oauth2-grant-revoked").await.len(), 2);
}

pub async fn prune_deletes_the_requests_past_their_deadline(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let ada = insert_user(store, "ada@example.com").await;
    insert_client(store, "app").await;
    let redeemed_before = NOW - Duration::days(1);
    let base = request("app");
    let done = approved(&base, ada.id);
    let cases = [
        // (request, pruned?)
        (
            AuthorizationRequestRecord {
                expires_at: NOW - Duration::seconds(1),
                ..base.clone()
            },
            true,
        ),
        (
            AuthorizationRequestRecord {
                expires_at: NOW,
                ..base.clone()
            },
            false,
        ),
        (base.clone(), false),
        // Approved: its own expiry no longer counts, the code's does.
        (
            AuthorizationRequestRecord {
                expires_at: NOW - Duration::minutes(5),
                code_expires_at: Some(NOW - Duration::seconds(1)),
                ..done.clone()
            },
            true,
        ),
        (
            AuthorizationRequestRecord {
                expires_at: NOW - Duration::minutes(5),
                code_expires_at: Some(NOW + Duration::seconds(30)),
                ..done.clone()
            },
            false,
        ),
        // Redeemed: kept a day, whatever its expiries.
        (
            AuthorizationRequestRecord {
                expires_at: NOW - Duration::days(2),
                code_expires_at: Some(NOW - Duration::days(2)),
                redeemed_at: Some(redeemed_before - Duration::seconds(1)),
                ..done.clone()
            },
            true,
        ),
        (
            AuthorizationRequestRecord {
                expires_at: NOW - Duration::days(1),
                code_expires_at: Some(NOW - Duration::hours(20)),
                redeemed_at: Some(redeemed_before + Duration::seconds(1)),
                ..done.clone()
            },
            false,
        ),
    ];
    // Each its own id and code.
    let cases: Vec<_> = cases
        .into_iter()
        .map(|(request, pruned)| {
            let request = AuthorizationRequestRecord {
                id: Uuid::new_v4(),
                code_hash: request.code_hash.as_ref().map(|_| random_hash()),
                ..request
            };
            (request, pruned)
        })
        .collect();
    for (request, _) in &cases {
        store.insert_authorization_request(request).await.unwrap();
    }
    let pruned = cases.iter().filter(|(_, pruned)| *pruned).count() as u64;
    assert_eq!(
        store
            .prune_authorization_requests(NOW, redeemed_before)
            .await
            .unwrap(),
        pruned
    );
    for (request, pruned) in &cases {
        let found = store.authorization_request(request.id).await.unwrap();
        assert_eq!(found.is_none(), *pruned, "{request:?}");
    }
    assert_eq!(
        store
            .prune_authorization_requests(NOW, redeemed_before)
            .await
            .unwrap(),
        0
    );
}

pub async fn a_deleted_user_takes_their_consents_requests_and_grants(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let ada = insert_user(store, "ada@example.com").await;
    let bob = insert_user(store, "bob@example.com").await;
    insert_client(store, "app").await;
    let approved = approved_request(store, "app", ada.id).await;
    let grant = insert_grant(store, ada.id, "app").await;
    store
        .upsert_consent(&consent(ada.id, "app", NOW))
        .await
        .unwrap();
    let bobs = insert_grant(store, bob.id, "app").await;
    store
        .upsert_consent(&consent(bob.id, "app", NOW))
        .await
        .unwrap();

    assert!(store.delete_user(ada.id).await.unwrap());
    assert_eq!(
        store.authorization_request(approved.id).await.unwrap(),
        None
    );
    assert_eq!(store.grant(grant.session_id).await.unwrap(), None);
    assert_eq!(store.consents_of(ada.id).await.unwrap(), Vec::new());
    assert!(
        store.client("app").await.unwrap().is_some(),
        "the client stays"
    );
    assert_eq!(store.grant(bobs.session_id).await.unwrap(), Some(bobs));
    assert!(store.consent(bob.id, "app").await.unwrap().is_some());
}

crate::contract!(
    clients_are_stored_listed_updated_and_unique,
    consents_are_replaced_per_user_and_client,
    deleting_a_client_revokes_its_grants_and_takes_what_hangs_on_it,
    a_request_is_approved_once_and_only_while_unexpired,
    a_code_is_taken_once,
    of_two_presentations_at_once_one_takes_the_code,
    a_grant_is_a_session_unless_its_code_was_reused,
    a_reused_code_revokes_its_grant,
    live_grants_are_the_unrevoked_unexpired_ones_oldest_first,
    revoking_a_clients_grants_revokes_them_and_the_consent,
    prune_deletes_the_requests_past_their_deadline,
    a_deleted_user_takes_their_consents_requests_and_grants,
);
