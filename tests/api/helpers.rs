//! `TestApp`: a real Tessera on 127.0.0.1:0 against a database of its own.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::{Response, StatusCode};
use serde_json::Value;
use tessera::config::Config;
use tessera::http::AppState;
use tessera::startup::Application;
use tessera::store::Store;
use tessera::support::clock::{Clock, ManualClock, SystemClock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::proxy::Proxy;

/// When `TESSERA_TEST_AUDIT_DIR` is set (scripts/test sets it), every log line of every
/// in-process server, at TRACE level, goes to `<dir>/logs-<pid>.jsonl`, and the secrets
/// the tests handle go to `<dir>/secrets-<pid>.txt`; `tests/log_audit.rs` then checks
/// that no secret reached a log line.
pub fn init_audit_logging() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let Some(dir) = std::env::var_os("TESSERA_TEST_AUDIT_DIR") else {
            return;
        };
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(
            std::path::Path::new(&dir).join(format!("logs-{}.jsonl", std::process::id())),
        )
        .unwrap();
        // The servers' own cap (webauthn-rs) as in production; the tests' software
        // authenticator prints what it signs at trace, and the test browsers' cookie jar
        // (cookie_store, of the test-side reqwest) every cookie it keeps at debug: neither
        // is the server's log.
        let filter = tracing_subscriber::EnvFilter::new(format!(
            "trace,hyper=info,hyper_util=info,h2=info,rustls=info,tokio=info,runtime=info,reqwest=info,sqlx=debug,governor=info,lettre=debug,webauthn_authenticator_rs=info,cookie_store=info,{}",
            tessera::support::telemetry::CAPPED
        ));
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::sync::Mutex::new(file))
            .try_init();
        // The key-encryption key of the Postgres servers must never be logged either.
        audit_secret(TEST_KEY_ENCRYPTION_KEY);
    });
}

/// Records a secret a test saw (a token, ticket, code or password) for the log audit.
pub fn audit_secret(secret: &str) {
    use std::io::Write;
    let Some(dir) = std::env::var_os("TESSERA_TEST_AUDIT_DIR") else {
        return;
    };
    if secret.len() < 8 {
        return;
    }
    let path = std::path::Path::new(&dir).join(format!("secrets-{}.txt", std::process::id()));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(file, "{secret}");
    }
}

/// Records the tokens of a Session body for the log audit.
pub fn audit_session(session: &Value) {
    for field in ["accessToken", "refreshToken"] {
        if let Some(token) = session[field].as_str() {
            audit_secret(token);
        }
    }
}

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Runs each named `async fn(Backend)` once per backend, as `<name>::postgres` and
/// `<name>::sqlite`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
        }
    )*};
}

/// The Postgres server tests create their databases on.
pub fn admin_database_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that belongs to one test and is dropped with it.
pub enum TestDb {
    Postgres {
        name: String,
        url: String,
    },
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
}

impl TestDb {
    /// A fresh, empty database.
    pub async fn create(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => {
                let name = format!("tessera_test_{}", Uuid::new_v4().simple());
                let admin = admin_database_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .expect("Postgres must be running for the tests (see README)");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let url = replace_database(&admin, &name);
                TestDb::Postgres { name, url }
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("tessera.db").display());
                TestDb::Sqlite { _dir: dir, url }
            }
        }
    }

    /// The `DATABASE_URL` Tessera should use.
    pub fn url(&self) -> &str {
        match self {
            TestDb::Postgres { url, .. } | TestDb::Sqlite { url, .. } => url,
        }
    }
}

/// `url` with its database name replaced.
pub fn replace_database(url: &str, name: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_path(name);
    url.to_string()
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            let name = name.clone();
            // Drop runs inside the test's runtime, which cannot block on itself.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    if let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&admin_database_url())
                            .await
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
}

/// The key-encryption key every Postgres test server starts with (a Postgres deployment
/// refuses to start without one). SQLite servers get none: the embedded default makes its
/// own key file next to the database, which is what the SQLite runs exercise.
pub const TEST_KEY_ENCRYPTION_KEY: &str = "dGVzc2VyYS10ZXN0LWtleS1lbmNyeXB0aW9uLWtleSE=";

/// The variables every test server starts with: a free port, and argon2 parameters small
/// enough for tests (set through configuration, as any operator could).
pub fn test_env(database_url: &str) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", database_url),
        ("TESSERA_LISTEN", "127.0.0.1:0"),
        ("TESSERA_ARGON2_MEMORY_KIB", "64"),
        ("TESSERA_ARGON2_ITERATIONS", "1"),
        ("TESSERA_DATABASE_TIMEOUT", "2s"),
        ("TESSERA_DATABASE_MAX_CONNECTIONS", "5"),
        // Per-IP limits would throttle a suite that sends everything from 127.0.0.1; the
        // rate-limit tests turn them back on (and check the defaults).
        ("TESSERA_RATE_LIMIT_SIGNIN", "0"),
        ("TESSERA_RATE_LIMIT_SIGNUP", "0"),
        ("TESSERA_RATE_LIMIT_REFRESH", "0"),
        ("TESSERA_RATE_LIMIT_EMAIL", "0"),
        ("TESSERA_RATE_LIMIT_VERIFY", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if database_url.starts_with("postgres") {
        env.insert(
            "TESSERA_KEY_ENCRYPTION_KEY".into(),
            TEST_KEY_ENCRYPTION_KEY.into(),
        );
    }
    env
}

/// A running Tessera and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub state: AppState,
    /// The server's store, to read and arrange data behind the API's back.
    pub store: Arc<dyn Store>,
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    // Declared last: dropped after the server has stopped.
    pub proxy: Option<Proxy>,
    pub db: Arc<TestDb>,
    pub outbox: tempfile::TempDir,
}

impl TestApp {
    /// A server with the default test configuration.
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, &[]).await
    }

    /// A server with extra variables on top of the test defaults.
    pub async fn spawn_with(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
        let db = Arc::new(TestDb::create(backend).await);
        Self::start(backend, db, vars, false, ManualClock::new()).await
    }

    /// A server whose Postgres connection goes through a proxy the test controls.
    pub async fn spawn_behind_proxy(vars: &[(&str, &str)]) -> TestApp {
        let db = Arc::new(TestDb::create(Backend::Postgres).await);
        Self::start(Backend::Postgres, db, vars, true, ManualClock::new()).await
    }

    /// A server on the system clock, for clients that look at real time (SDKs), with extra
    /// variables.
    pub async fn spawn_realtime_with(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
        let db = Arc::new(TestDb::create(backend).await);
        Self::start_with(
            backend,
            db,
            vars,
            false,
            ManualClock::new(),
            Arc::new(SystemClock),
        )
        .await
    }

    /// Another server on the same database (a second replica, or a restart).
    pub async fn start(
        backend: Backend,
        db: Arc<TestDb>,
        vars: &[(&str, &str)],
        through_proxy: bool,
        clock: ManualClock,
    ) -> TestApp {
        let server_clock = Arc::new(clock.clone());
        Self::start_with(backend, db, vars, through_proxy, clock, server_clock).await
    }

    async fn start_with(
        backend: Backend,
        db: Arc<TestDb>,
        vars: &[(&str, &str)],
        through_proxy: bool,
        clock: ManualClock,
        server_clock: Arc<dyn Clock>,
    ) -> TestApp {
        let mut env = test_env(db.url());
        let proxy = if through_proxy {
            let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
            let url = url::Url::parse(db.url()).unwrap();
            let mut proxied = url.clone();
            proxied.set_port(Some(proxy.address.port())).unwrap();
            env.insert("DATABASE_URL".into(), proxied.to_string());
            Some(proxy)
        } else {
            None
        };
        // Without SMTP, messages are written to an outbox directory: one per test.
        let outbox = tempfile::tempdir().unwrap();
        env.insert(
            "TESSERA_OUTBOX_DIR".into(),
            outbox.path().display().to_string(),
        );
        for (k, v) in vars {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        init_audit_logging();
        let names: Vec<String> = env.keys().cloned().collect();
        let config = Config::from_lookup_and_names(&|var| env.get(var).cloned(), &names)
            .expect("valid test config");
        let application = Application::build(config, server_clock)
            .await
            .expect("server starts");
        let address = format!("http://{}", application.local_addr());
        let state = application.state().clone();
        let store = application.store().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until(async {
            let _ = rx.await;
        }));
        TestApp {
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            clock,
            state,
            store,
            backend,
            shutdown: Some(tx),
            server: Some(server),
            proxy,
            db,
            outbox,
        }
    }

    /// The upkeep's retention for this server's configuration.
    pub fn retention(&self) -> tessera::domain::upkeep::Retention {
        let config = &self.state.config;
        tessera::domain::upkeep::Retention::of(
            &config.retention,
            &config.sessions,
            &config.rate_limits,
        )
    }

    /// `address` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// POST a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Asserts that `response` is an error in the envelope `{status, error, message}` with this status and
/// code, and returns its body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    assert!(
        response.headers().contains_key("x-request-id"),
        "every response carries x-request-id"
    );
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    body
}

/// Sends raw bytes as an HTTP/1.1 request and reads the response: (status, head, body).
/// For requests reqwest will not send, such as a head that promises a body never sent.
pub async fn raw_http(address: &str, request: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            if let Some(end) = find(&buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|l| l.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    break;
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no complete response within 10s");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The password test accounts use.
pub const PASSWORD: &str = "correct-Horse-battery-9";

/// An email address no other test uses.
pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

impl TestApp {
    /// Signs up a fresh account and returns its session.
    pub async fn sign_up(&self, email: &str) -> Value {
        let response = self
            .post_json(
                "/signup/email-password",
                &serde_json::json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "sign-up");
        let body: Value = response.json().await.unwrap();
        audit_session(&body["session"]);
        body["session"].clone()
    }

    /// Signs in and returns the session.
    pub async fn sign_in(&self, email: &str) -> Value {
        let response = self
            .post_json(
                "/signin/email-password",
                &serde_json::json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "sign-in");
        let body: Value = response.json().await.unwrap();
        audit_session(&body["session"]);
        body["session"].clone()
    }

    /// `POST /token` with a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/token",
            &serde_json::json!({ "refreshToken": refresh_token }),
        )
        .await
    }

    /// `POST /token/verify` with an access token in the body.
    pub async fn verify(&self, access_token: &str) -> StatusCode {
        self.post_json(
            "/token/verify",
            &serde_json::json!({ "token": access_token }),
        )
        .await
        .status()
    }

    /// One integer from a SQL query on the test's own database (counts, mostly).
    pub async fn scalar(&self, sql: &'static str, bind: Uuid) -> i64 {
        match self.backend {
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(self.db.url()).await.unwrap();
                let value = sqlx::query_scalar::<_, i64>(sql)
                    .bind(bind)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                value
            }
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(self.db.url()).await.unwrap();
                let sql = sqlx::AssertSqlSafe(sql.replace("$1", "?1"));
                let value = sqlx::query_scalar::<_, i64>(sql)
                    .bind(bind)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                value
            }
        }
    }
}

/// The `sid` claim of an access token (read without verification: tests only).
pub fn sid(access_token: &str) -> Uuid {
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(access_token)
        .map(|data| data.claims)
        .unwrap();
    claims["sid"].as_str().unwrap().parse().unwrap()
}

/// Sends the same JSON POST on `n` connections so that the requests arrive together:
/// every request is written but its last byte, then all last bytes go out at once.
/// Returns (status, body) per request.
pub async fn simultaneous_posts(
    address: &str,
    path: &str,
    body: &Value,
    n: usize,
) -> Vec<(u16, Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (head, last) = request.as_bytes().split_at(request.len() - 1);
    let mut streams = Vec::new();
    for _ in 0..n {
        let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(head).await.unwrap();
        streams.push(stream);
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    for stream in &mut streams {
        stream.write_all(last).await.unwrap();
    }
    let mut results = Vec::new();
    for mut stream in streams {
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        results.push((status, serde_json::from_str(body).unwrap_or(Value::Null)));
    }
    results
}

/// Installs the pinned Node packages of a test directory (`npm ci`), once per run, unless
/// they are there already (CI installs them up front).
pub fn npm_ci(dir: &std::path::Path) {
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if dir.join("node_modules/.package-lock.json").exists() {
        return;
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .expect("Node.js and npm are needed for the SDK and browser tests (see README)");
    assert!(status.success(), "npm ci failed in {}", dir.display());
}

/// A port that was free a moment ago (for servers whose URL must be known before start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
