//! The store contract: what each store method promises, pinned on both backends.
//!
//! Each test is written once, as an `async fn(Arc<dyn Store>)` in the file of its concept,
//! and `contract!` runs it as `<name>::postgres` (a fresh database on the Postgres server
//! of `DATABASE_URL`, or 127.0.0.1:5432) and `<name>::sqlite` (a fresh file). Times come
//! from the fixed instant [`NOW`]; nothing sleeps.

mod events;
mod generations;
mod keys;
mod limits;
mod liveness;
mod mfa;
mod oauth2;
mod passkeys;
mod pats;
mod providers;
mod rotation;
mod sessions;
mod tickets;
mod upkeep;
mod users;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use serde_json::json;
use tessera::config::Config;
use tessera::store::{
    NewRefreshToken, SecurityEventRecord, SessionRecord, Store, TicketRecord, UserRecord,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The instant every test reads as "now".
pub const NOW: OffsetDateTime = datetime!(2030-01-01 12:00 UTC);

/// Runs each named `async fn(Arc<dyn Store>)` once per backend.
#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::run($crate::Backend::Postgres, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::run($crate::Backend::Sqlite, super::$name).await
            }
        }
    )*};
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Runs `test` against a fresh, migrated store of `backend`, then drops the database.
pub async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::create(backend).await;
    let mut env = HashMap::from([
        ("DATABASE_URL".to_owned(), db.url.clone()),
        (
            "TESSERA_DATABASE_MAX_CONNECTIONS".to_owned(),
            "4".to_owned(),
        ),
        ("TESSERA_DATABASE_TIMEOUT".to_owned(), "5s".to_owned()),
    ]);
    if matches!(backend, Backend::Postgres) {
        // A Postgres configuration is refused without one.
        env.insert(
            "TESSERA_KEY_ENCRYPTION_KEY".to_owned(),
            "dGVzc2VyYS10ZXN0LWtleS1lbmNyeXB0aW9uLWtleSE=".to_owned(),
        );
    }
    let config = Config::from_lookup(&|var| env.get(var).cloned()).expect("a valid test config");
    let store = tessera::store::connect(&config.database)
        .await
        .expect("the test database");
    store.migrate().await.unwrap();
    test(store.clone()).await;
    store.close().await;
    drop(db);
}

fn admin_database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that belongs to one test: dropped (Postgres) or deleted (SQLite) with it,
/// also when the test fails.
struct TestDb {
    url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    async fn create(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => {
                let name = format!("tessera_store_{}", Uuid::new_v4().simple());
                let admin = admin_database_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .expect("Postgres must be running for the tests (see README)");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&name);
                TestDb {
                    url: url.to_string(),
                    postgres_name: Some(name),
                    _dir: None,
                }
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                TestDb {
                    url: format!("sqlite://{}", dir.path().join("tessera.db").display()),
                    postgres_name: None,
                    _dir: Some(dir),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on itself.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                if let Ok(mut conn) =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&admin_database_url()).await
                {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

// ---- fixtures

/// 32 random bytes, as a token or ticket hash.
pub fn random_hash() -> Vec<u8> {
    [Uuid::new_v4().into_bytes(), Uuid::new_v4().into_bytes()].concat()
}

/// An enabled, non-anonymous user with this email, created a day before [`NOW`].
pub fn user(email: &str) -> UserRecord {
    let mut user = UserRecord::placeholder(Uuid::new_v4(), NOW - Duration::days(1));
    user.email = Some(email.to_owned());
    user.password_hash = Some("$argon2id$old".to_owned());
    user
}

/// Inserts a fresh user and returns it.
pub async fn insert_user(store: &dyn Store, email: &str) -> UserRecord {
    let user = user(email);
    store.insert_user(&user).await.unwrap();
    user
}

/// A live session of `user_id` (created an hour before [`NOW`] with a password, stepped up
/// with a second factor half an hour before, sliding expiry a day after, absolute cap a
/// week after) and its first refresh token, not yet stored. Its `auth_time` differs from
/// its `created_at`, so a store reading one for the other is caught.
pub fn session(user_id: Uuid) -> (SessionRecord, NewRefreshToken) {
    let created = NOW - Duration::hours(1);
    let session = SessionRecord {
        id: Uuid::new_v4(),
        user_id,
        created_at: created,
        last_used_at: created,
        expires_at: NOW + Duration::days(1),
        absolute_expires_at: Some(NOW + Duration::days(7)),
        revoked_at: None,
        user_agent: "agent/1".to_owned(),
        ip: "192.0.2.1".to_owned(),
        auth_time: NOW - Duration::minutes(30),
        amr: vec!["pwd".to_owned(), "otp".to_owned(), "mfa".to_owned()],
    };
    let token = NewRefreshToken {
        id: Uuid::new_v4(),
        hash: random_hash(),
        created_at: created,
        expires_at: NOW + Duration::days(1),
        generation: 1,
    };
    (session, token)
}

/// Stores a live session of `user_id` and returns it with its token's hash.
pub async fn insert_session(store: &dyn Store, user_id: Uuid) -> (SessionRecord, Vec<u8>) {
    let (session, token) = session(user_id);
    store.create_session(&session, &token).await.unwrap();
    (session, token.hash)
}

/// A security event of `kind` at `at`.
pub fn event(
    at: OffsetDateTime,
    kind: &str,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
) -> SecurityEventRecord {
    SecurityEventRecord {
        occurred_at: at,
        kind: kind.to_owned(),
        user_id,
        session_id,
        ip: "192.0.2.1".to_owned(),
        user_agent: "agent/1".to_owned(),
        detail: json!({ "by": "test" }),
    }
}

/// An unused ticket of `user_id` for `purpose`, created at `created_at`, expiring an hour
/// after [`NOW`].
pub fn ticket(user_id: Uuid, purpose: &str, created_at: OffsetDateTime) -> TicketRecord {
    TicketRecord {
        id: Uuid::new_v4(),
        user_id,
        purpose: purpose.to_owned(),
        hash: random_hash(),
        created_at,
        expires_at: NOW + Duration::hours(1),
        used_at: None,
        redirect_to: Some("https://app.example/done".to_owned()),
        code_challenge: None,
        payload: json!({ "n": 1 }),
    }
}
