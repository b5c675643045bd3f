//! Custody of the private signing keys: never in the database in clear unless the operator
//! says so. The embedded default (SQLite) makes its own key-encryption key, owner-only, next
//! to its database; `TESSERA_KEY_ENCRYPTION_KEY` wins over it; keys stored in clear by an
//! earlier release are encrypted in place. (The Postgres refusal without a key, and the
//! modes of a data directory the binary creates, are checked in `process.rs`.)

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::pkcs8::DecodePrivateKey;
use serde_json::json;
use tessera::config::Config;
use tessera::domain::keys::material;
use tessera::domain::tokens::Expiry;
use tessera::startup::Application;
use tessera::store::{KeyInsertion, KeyRecord};
use tessera::support::clock::{Clock, ManualClock};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{
    Backend, PASSWORD, TEST_KEY_ENCRYPTION_KEY, TestApp, TestDb, test_env, unique_email,
};
use crate::keys::{issue, kids, verify_with_jwks};

/// The key-encryption key file of the embedded default, in the database's directory.
const KEK_FILE: &str = "key-encryption-key";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The directory of a SQLite test database.
fn data_dir(db: &TestDb) -> PathBuf {
    Path::new(db.url().strip_prefix("sqlite://").unwrap())
        .parent()
        .unwrap()
        .to_owned()
}

fn is_pkcs8(bytes: &[u8]) -> bool {
    p256::SecretKey::from_pkcs8_der(bytes).is_ok() || p256::SecretKey::from_slice(bytes).is_ok()
}

/// Builds a server on `db` with the test variables plus `vars`, without `remove`; the
/// start-up error as the one line the binary would print, if it does not start.
async fn try_start(db_url: &str, vars: &[(&str, &str)], remove: &[&str]) -> Result<(), String> {
    let mut env = test_env(db_url);
    for var in remove {
        env.remove(*var);
    }
    for (k, v) in vars {
        env.insert((*k).to_owned(), (*v).to_owned());
    }
    let config = Config::from_lookup(&|v| env.get(v).cloned()).map_err(|e| e.to_string())?;
    match Application::build(config, Arc::new(ManualClock::new())).await {
        Ok(_) => Ok(()),
        Err(err) => Err(format!("{err:#}")),
    }
}

async fn stored_private_keys_are_sealed_and_a_restart_verifies_old_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.state.tokens.keys().rotate().await.unwrap();
    let token = issue(&app);
    let stored = app.store.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 2);
    for key in &stored {
        assert_eq!(key.encryption, "aes-256-gcm", "{}", key.kid);
        assert!(
            !is_pkcs8(&key.private_key),
            "the stored bytes of {} are no usable private key",
            key.kid
        );
    }
    let before = kids(&app).await;
    let (db, clock) = (app.db.clone(), app.clock.clone());
    app.stop().await;

    // Same database, same key-encryption key (the variable on Postgres, the key file on
    // SQLite): every key opens and old tokens verify.
    let restarted = TestApp::start(backend, db, &[], false, clock).await;
    assert_eq!(kids(&restarted).await, before);
    assert!(verify_with_jwks(&restarted, &token).await.is_ok());
    assert!(
        restarted
            .state
            .tokens
            .verify(&token, restarted.clock.now(), Expiry::Enforce)
            .is_ok()
    );
}

/// A token as an earlier release signed it, with the key it kept in clear.
fn sign_with(pkcs8: &[u8], kid: &str, now: OffsetDateTime) -> String {
    use p256::ecdsa::signature::Signer;
    let header = json!({ "alg": "ES256", "typ": "JWT", "kid": kid });
    let iat = now.unix_timestamp();
    let claims = json!({
        "sid": Uuid::new_v4(), "sub": Uuid::new_v4(), "iss": "http://localhost:4000",
        "aud": "tessera", "iat": iat, "exp": iat + 3600,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = p256::ecdsa::SigningKey::from_pkcs8_der(pkcs8).unwrap();
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    let signature = signature.normalize_s().unwrap_or(signature);
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

async fn plaintext_keys_of_an_earlier_release_are_encrypted_in_place(backend: Backend) {
    let db = Arc::new(TestDb::create(backend).await);
    let clock = ManualClock::new();
    let now = clock.now();
    let pkcs8 = material::generate_pkcs8();
    let (x, y) = material::coordinates(&material::key_pair(&pkcs8).unwrap());
    let kid = material::thumbprint(&x, &y);
    {
        // The database as an earlier release left it: one key, stored in clear.
        let env = test_env(db.url());
        let config = Config::from_lookup(&|v| env.get(v).cloned()).unwrap();
        let store = tessera::store::connect(&config.database).await.unwrap();
        store.migrate().await.unwrap();
        let inserted = store
            .insert_signing_key(&KeyInsertion {
                expected_newest: None,
                retire_previous: None,
                key: KeyRecord {
                    public_jwk: material::public_jwk(&kid, &x, &y),
                    kid: kid.clone(),
                    private_key: pkcs8.clone(),
                    encryption: "none".into(),
                    origin: "generated".into(),
                    created_at: now,
                    published_at: now,
                    activates_at: now,
                    retires_at: None,
                    expires_at: None,
                    revoked_at: None,
                },
            })
            .await
            .unwrap();
        assert!(inserted);
        store.close().await;
    }
    let old_token = sign_with(&pkcs8, &kid, now);

    let app = TestApp::start(backend, db, &[], false, clock).await;
    let stored = app.store.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 1, "the same key, not a new one");
    assert_eq!(stored[0].kid, kid);
    assert_eq!(stored[0].encryption, "aes-256-gcm", "encrypted in place");
    assert!(!is_pkcs8(&stored[0].private_key));
    assert!(
        app.state
            .tokens
            .verify(&old_token, now, Expiry::Enforce)
            .is_ok(),
        "tokens it signed before keep verifying"
    );
    assert!(verify_with_jwks(&app, &old_token).await.is_ok());
    let header = jsonwebtoken::decode_header(issue(&app)).unwrap();
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()), "and it signs on");
}

both_backends!(
    stored_private_keys_are_sealed_and_a_restart_verifies_old_tokens,
    plaintext_keys_of_an_earlier_release_are_encrypted_in_place,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_default_makes_its_own_owner_only_key_file() {
    // No TESSERA_KEY_ENCRYPTION_KEY: the SQLite test servers start as `cargo run` does.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = data_dir(&app.db);
    let kek = dir.join(KEK_FILE);
    assert!(kek.exists(), "{} is created at first start", kek.display());
    assert_eq!(mode(&kek), 0o600, "the key file is owner-only");
    let text = std::fs::read_to_string(&kek).unwrap();
    let key: [u8; 32] = STANDARD
        .decode(text.trim())
        .expect("base64, as TESSERA_KEY_ENCRYPTION_KEY")
        .try_into()
        .expect("32 bytes");
    for name in ["tessera.db", "tessera.db-wal", "tessera.db-shm"] {
        let path = dir.join(name);
        if name == "tessera.db" || path.exists() {
            assert_eq!(mode(&path), 0o600, "{name} is owner-only");
        }
    }
    // The stored key opens with the file's key, and with nothing else.
    let record = &app.store.signing_keys().await.unwrap()[0];
    assert_eq!(record.encryption, "aes-256-gcm");
    let pkcs8 = tessera::support::sealing::open(&key, record.kid.as_bytes(), &record.private_key)
        .expect("sealed under the key in the file");
    assert!(is_pkcs8(&pkcs8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_others_can_read_or_of_the_wrong_length_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
    let kek = dir.path().join(KEK_FILE);
    let shown = kek.display().to_string();

    std::fs::write(&kek, format!("{}\n", STANDARD.encode([7u8; 32]))).unwrap();
    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o644)).unwrap();
    let line = try_start(&url, &[], &[])
        .await
        .expect_err("a key file others can read stops start-up");
    assert!(line.contains(&shown) && line.contains("0644"), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");

    std::fs::set_permissions(&kek, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&kek, "c2hvcnQ=\n").unwrap();
    let line = try_start(&url, &[], &[])
        .await
        .expect_err("a key file of the wrong length stops start-up");
    assert!(line.contains(&shown) && line.contains("32 bytes"), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_variable_wins_over_the_key_file_and_a_lost_key_is_named() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEY_ENCRYPTION_KEY)],
    )
    .await;
    let kek = data_dir(&app.db).join(KEK_FILE);
    assert!(!kek.exists(), "no key file when the variable is set");
    assert_eq!(
        app.store.signing_keys().await.unwrap()[0].encryption,
        "aes-256-gcm"
    );
    let db = app.db.clone();
    app.stop().await;

    // Without the variable the keys cannot be opened: start-up stops, naming both places
    // the key could come from, and makes no new key file that could never open them.
    let line = try_start(db.url(), &[], &["TESSERA_KEY_ENCRYPTION_KEY"])
        .await
        .expect_err("encrypted keys without their key stop start-up");
    assert!(
        line.contains("TESSERA_KEY_ENCRYPTION_KEY") && line.contains(&kek.display().to_string()),
        "{line}"
    );
    assert!(!kek.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_development_outbox_is_owner_only() {
    let root = tempfile::tempdir().unwrap();
    let outbox = root.path().join("outbox");
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("TESSERA_REQUIRE_EMAIL_VERIFICATION", "true"),
            ("TESSERA_OUTBOX_DIR", outbox.to_str().unwrap()),
        ],
    )
    .await;
    app.post_json(
        "/signup/email-password",
        &json!({ "email": unique_email(), "password": PASSWORD }),
    )
    .await;
    let mut files = Vec::new();
    for _ in 0..100 {
        files = std::fs::read_dir(&outbox)
            .map(|dir| dir.flatten().collect())
            .unwrap_or_default();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files.len(), 1, "one message");
    assert_eq!(mode(&outbox), 0o700, "the outbox directory is owner-only");
    assert_eq!(mode(&files[0].path()), 0o600, "a message is owner-only");
}
