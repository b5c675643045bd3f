//! The `tessera` binary as users run it: configuration errors, a fresh directory with no
//! setup, restarts, and clean shutdown on SIGTERM/SIGINT.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::helpers::{Backend, TEST_KEY_ENCRYPTION_KEY, TestDb, test_env};
use crate::proxy::{Mode, Proxy};

const BIN: &str = env!("CARGO_BIN_EXE_tessera");

/// A command for the binary with an empty environment, run from `dir` (so no stray .env
/// or TESSERA_* variable of the developer's shell leaks in).
pub(crate) fn tessera(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir);
    command
}

/// A server process and the address it listens on.
pub(crate) struct Server {
    child: Child,
    pub(crate) address: String,
}

impl Server {
    /// Starts the binary on a free port and waits until it answers /healthz.
    pub(crate) fn start(mut command: Command) -> Server {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let child = command
            .env("TESSERA_LISTEN", &address)
            .env("TESSERA_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut server = Server { child, address };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(&server.address, "/healthz").map(|r| r.0) != Some(200) {
            if let Ok(Some(status)) = server.child.try_wait() {
                let mut stderr = String::new();
                server
                    .child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                panic!("tessera exited with {status}: {stderr}");
            }
            assert!(Instant::now() < deadline, "tessera did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
    }

    /// Waits for the process to exit and returns its exit code and stdout.
    fn wait(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut out = String::new();
                self.child
                    .stdout
                    .take()
                    .unwrap()
                    .read_to_string(&mut out)
                    .unwrap();
                return (status.code(), out);
            }
            assert!(Instant::now() < deadline, "tessera did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.1 GET: (status, body).
fn http_get(address: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    read_response(stream)
}

fn read_response(stream: TcpStream) -> Option<(u16, String)> {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).ok()?;
    let status = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let mut rest = String::new();
    reader.read_to_string(&mut rest).ok()?;
    let body = rest.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Some((status, body))
}

#[test]
fn invalid_configuration_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = tessera(dir.path())
        .env("TESSERA_ACCESS_TOKEN_TTL", "abc")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("TESSERA_ACCESS_TOKEN_TTL"), "{stderr}");
    assert!(
        stderr.contains("1h"),
        "an example of a valid value: {stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created half-configured"
    );
}

#[test]
fn secrets_in_bad_configuration_are_not_printed() {
    let dir = tempfile::tempdir().unwrap();
    let output = tessera(dir.path())
        .env("DATABASE_URL", "mysql://root:topsecretpw@db/tessera")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    assert!(!stderr.contains("topsecretpw"), "{stderr}");
}

#[test]
fn unreachable_postgres_stops_start_up_with_a_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let output = tessera(dir.path())
        .env(
            "DATABASE_URL",
            format!("postgres://postgres:pw@127.0.0.1:{port}/x"),
        )
        .env("TESSERA_KEY_ENCRYPTION_KEY", TEST_KEY_ENCRYPTION_KEY)
        .env("TESSERA_DATABASE_TIMEOUT", "1s")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(!stderr.contains(":pw@"), "{stderr}");
}

#[test]
fn a_fresh_directory_runs_on_sqlite_and_a_restart_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(tessera(dir.path()));
    let (status, body) = http_get(&server.address, "/healthz").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("sqlite"), "{body}");
    assert!(dir.path().join("data/tessera.db").exists());
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait().0, Some(0));

    let created = std::fs::metadata(dir.path().join("data/tessera.db"))
        .unwrap()
        .len();
    let server = Server::start(tessera(dir.path()));
    assert_eq!(http_get(&server.address, "/healthz").unwrap().0, 200);
    server.signal(Signal::SIGINT);
    assert_eq!(server.wait().0, Some(0));
    assert!(
        std::fs::metadata(dir.path().join("data/tessera.db"))
            .unwrap()
            .len()
            >= created
    );
}

#[test]
fn migrate_subcommand_applies_migrations_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = tessera(dir.path()).arg("migrate").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(dir.path().join("data/tessera.db").exists());
    let again = tessera(dir.path()).arg("migrate").output().unwrap();
    assert!(again.status.success(), "migrations are idempotent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    // The request in flight: a health check against a database that hangs, which takes
    // TESSERA_DATABASE_TIMEOUT (2s) to be answered with 503.
    let db = TestDb::create(Backend::Postgres).await;
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_port(Some(proxy.address.port())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = tessera(dir.path());
    for (k, v) in test_env(url.as_str()) {
        if k != "TESSERA_LISTEN" {
            command.env(k, v);
        }
    }
    let server = Server::start(command);
    proxy.set(Mode::Blackhole);

    let address = server.address.clone();
    let in_flight = std::thread::spawn(move || http_get(&address, "/healthz"));
    std::thread::sleep(Duration::from_millis(500));
    server.signal(Signal::SIGTERM);
    let (status, body) = in_flight
        .join()
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("service-unavailable"), "{body}");
    proxy.set(Mode::Down);
    let (code, logs) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{logs}");
    assert!(logs.contains("tessera stopped"), "{logs}");
}

#[test]
fn the_admin_cli_manages_users_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = tessera(dir.path())
            .args(args)
            .env("TESSERA_ARGON2_MEMORY_KIB", "64")
            .env("TESSERA_ARGON2_ITERATIONS", "1")
            .env("TESSERA_NEW_USER_PASSWORD", "correct-Horse-battery-9")
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        (output.status.success(), stdout, stderr)
    };
    let (ok, out, err) = run(&[
        "users",
        "create",
        "Ops@Example.com",
        "--verified",
        "--roles",
        "user,admin",
        "--default-role",
        "admin",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("ops@example.com")
            && out.contains("roles=user,admin")
            && out.contains("verified=true"),
        "{out}"
    );
    assert!(
        !out.contains("correct-Horse") && !err.contains("correct-Horse"),
        "the password is never printed"
    );
    // The first command also logs (to stdout) that it made the key-encryption key file.
    let id = out
        .lines()
        .find(|line| line.contains("ops@example.com"))
        .and_then(|line| line.split_whitespace().next())
        .unwrap()
        .to_owned();

    let (ok, out, _) = run(&["users", "list", "--search", "OPS@"]);
    assert!(ok && out.contains(&id), "{out}");
    let (ok, out, _) = run(&["users", "providers", "ops@example.com"]);
    assert!(
        ok && out.contains(&format!("{id} has no linked providers")),
        "{out}"
    );
    let (ok, out, _) = run(&["users", "set-roles", "ops@example.com", "--roles", "user"]);
    assert!(ok && out.contains("roles=user default=user"), "{out}");
    let (ok, out, _) = run(&["users", "disable", &id]);
    assert!(ok && out.contains("disabled=true"), "{out}");
    let (ok, out, _) = run(&["users", "enable", &id]);
    assert!(ok && out.contains("disabled=false"), "{out}");
    let (ok, out, _) = run(&["sessions", "revoke", "--user", &id]);
    assert!(ok && out.contains("revoked 0 sessions"), "{out}");
    let (ok, _, err) = run(&["sessions", "revoke", &uuid::Uuid::new_v4().to_string()]);
    assert!(
        !ok && err.trim_end().lines().count() == 1 && err.contains("no such session"),
        "{err}"
    );
    let (ok, out, _) = run(&["users", "delete", &id]);
    assert!(ok && out.contains(&format!("deleted {id}")), "{out}");
    let (ok, out, _) = run(&["users", "list"]);
    assert!(ok && !out.contains(&id), "{out}");
    let (ok, _, err) = run(&["users", "disable", "nobody@example.com"]);
    assert!(!ok && err.contains("no such user"), "{err}");
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_embedded_default_keeps_its_data_directory_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(tessera(dir.path()));
    let data = dir.path().join("data");
    assert_eq!(mode(&data), 0o700, "data/ is owner-only");
    // While the server runs, SQLite's write-ahead log and shared-memory files exist too.
    for name in [
        "tessera.db",
        "tessera.db-wal",
        "tessera.db-shm",
        "key-encryption-key",
    ] {
        assert_eq!(mode(&data.join(name)), 0o600, "data/{name} is owner-only");
    }
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait().0, Some(0));
}

/// Runs the binary and, if it is still running after `limit`, kills it: (exit code,
/// stderr), or `None` when it kept running.
fn run_briefly(mut command: Command, limit: Duration) -> Option<(Option<i32>, String)> {
    let mut child = command
        .env("TESSERA_LISTEN", format!("127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return Some((status.code(), stderr));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_a_key_encryption_key_refuses_to_start() {
    let db = TestDb::create(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = tessera(dir.path());
    for (k, v) in test_env(db.url()) {
        if k != "TESSERA_KEY_ENCRYPTION_KEY" && k != "TESSERA_LISTEN" {
            command.env(k, v);
        }
    }
    let (code, stderr) =
        tokio::task::spawn_blocking(move || run_briefly(command, Duration::from_secs(15)))
            .await
            .unwrap()
            .expect("tessera must not start on Postgres without a key-encryption key");
    assert_eq!(code, Some(2), "a configuration error: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("TESSERA_KEY_ENCRYPTION_KEY")
            && stderr.contains("TESSERA_ALLOW_PLAINTEXT_KEYS=true"),
        "{stderr}"
    );
    assert!(
        stderr.contains("openssl rand -base64 32"),
        "says how to make one: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowing_plaintext_keys_starts_postgres_and_warns_at_every_start() {
    let db = TestDb::create(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let mut command = tessera(dir.path());
        for (k, v) in test_env(db.url()) {
            if k != "TESSERA_KEY_ENCRYPTION_KEY" && k != "TESSERA_LISTEN" {
                command.env(k, v);
            }
        }
        command.env("TESSERA_ALLOW_PLAINTEXT_KEYS", "true");
        let (code, logs) = tokio::task::spawn_blocking(move || {
            let server = Server::start(command);
            server.signal(Signal::SIGTERM);
            server.wait()
        })
        .await
        .unwrap();
        assert_eq!(code, Some(0), "{logs}");
        let warning = logs
            .lines()
            .find(|line| line.contains("TESSERA_ALLOW_PLAINTEXT_KEYS"))
            .unwrap_or_else(|| panic!("a warning at every start: {logs}"));
        assert!(warning.contains("WARN"), "{warning}");
    }
    let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
    let encryption: Vec<String> = sqlx::query_scalar("SELECT encryption FROM signing_keys")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert_eq!(
        encryption,
        ["none"],
        "stored in clear, as the operator chose"
    );
}

#[test]
fn the_keys_cli_revokes_a_key_and_a_new_one_signs() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = tessera(dir.path()).args(args).output().unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        (output.status.success(), stdout, stderr)
    };
    // `keys list` prints a header line, then one line per key: kid, state, ...
    let states = |out: &str| -> Vec<(String, String)> {
        out.lines()
            .skip_while(|line| !line.starts_with("kid "))
            .skip(1)
            .map(|line| {
                let mut words = line.split_whitespace();
                let kid = words.next().unwrap().to_owned();
                (kid, words.next().unwrap().to_owned())
            })
            .collect()
    };
    let (ok, out, err) = run(&["keys", "list"]);
    assert!(ok, "{err}");
    let listed = states(&out);
    assert_eq!(listed.len(), 1, "{out}");
    let (leaked, state) = listed[0].clone();
    assert_eq!(state, "active", "{out}");

    let (ok, out, err) = run(&["keys", "revoke", &leaked]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("revoked key {leaked}")), "{out}");
    let listed = states(&out);
    let revoked = listed.iter().find(|(kid, _)| *kid == leaked).unwrap();
    assert_eq!(revoked.1, "revoked", "{out}");
    let signing = listed.iter().find(|(_, state)| state == "active").unwrap();
    assert_ne!(signing.0, leaked);
    assert!(
        out.contains(&format!("key {} signs now", signing.0)),
        "{out}"
    );

    let (ok, out, err) = run(&["keys", "revoke", &leaked]);
    assert!(ok, "{err}");
    assert!(out.contains("already revoked"), "{out}");
    let (ok, _, err) = run(&["keys", "revoke", "no-such-kid"]);
    assert!(!ok, "an unknown kid is an error");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("no such key"), "{err}");

    // The server started afterwards does not publish it.
    let server = Server::start(tessera(dir.path()));
    let (status, jwks) = http_get(&server.address, "/.well-known/jwks.json").unwrap();
    assert_eq!(status, 200);
    assert!(
        !jwks.contains(&leaked) && jwks.contains(&signing.0),
        "{jwks}"
    );
}

/// A minimal HTTP/1.1 POST of a form body, with extra header lines: (status, body).
fn http_post_form(address: &str, path: &str, headers: &str, form: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .ok()?;
    read_response(stream)
}

/// The value after `label` on the line that starts with it (`client id:      <value>`).
fn field(out: &str, label: &str) -> Option<String> {
    out.lines()
        .find_map(|line| line.strip_prefix(label))
        .map(|rest| rest.trim().to_owned())
}

#[test]
fn the_clients_cli_registers_an_app_whose_secret_authenticates_it() {
    use base64::Engine;

    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = tessera(dir.path())
            .args(args)
            .env("TESSERA_OAUTH2_PROVIDER", "true")
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        (output.status.success(), stdout, stderr)
    };
    let (ok, out, err) = run(&[
        "clients",
        "create",
        "--name",
        "Grafana",
        "--redirect-uri",
        "https://grafana.example.com/login/generic_oauth",
        "--post-logout-redirect-uri",
        "https://grafana.example.com/login",
        "--scopes",
        "openid,profile,email,offline_access",
        "--first-party",
    ]);
    assert!(ok, "{err}");
    let id = field(&out, "client id:").expect("the client id is printed");
    let secret = field(&out, "client secret:").expect("the secret is printed, once");
    assert_eq!(secret.len(), 43, "256 bits in base64url: {out}");
    assert!(out.contains("not asked (first-party)"), "{out}");

    let (ok, out, err) = run(&["clients", "list"]);
    assert!(ok, "{err}");
    let line = out.lines().find(|l| l.starts_with(&id)).expect("listed");
    assert!(
        line.contains("confidential") && line.contains("Grafana"),
        "{out}"
    );
    assert!(!out.contains(&secret), "a secret is shown only at creation");
    let (ok, out, _) = run(&["clients", "show", &id]);
    assert!(ok && !out.contains(&secret) && out.contains("openid profile email offline_access"));
    let (ok, _, err) = run(&[
        "clients",
        "create",
        "--name",
        "Bad",
        "--redirect-uri",
        "http://x.example.com/cb",
    ]);
    assert!(
        !ok && err.trim_end().lines().count() == 1 && err.contains("redirect URI"),
        "{err}"
    );

    // The app authenticates at the token endpoint's kin with the printed secret.
    let mut command = tessera(dir.path());
    command.env("TESSERA_OAUTH2_PROVIDER", "true");
    let server = Server::start(command);
    let basic = |id: &str, secret: &str| {
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        format!("Authorization: Basic {pair}\r\n")
    };
    let revoke = |headers: &str, form: &str| {
        http_post_form(&server.address, "/oauth2/revoke", headers, form).unwrap()
    };
    let (status, body) = revoke(&basic(&id, &secret), "token=not-a-token");
    assert_eq!(status, 200, "{body}");
    let (status, body) = revoke(
        "",
        &format!("token=x&client_id={id}&client_secret={secret}"),
    );
    assert_eq!(status, 200, "client_secret_post: {body}");
    let (status, body) = revoke(&basic(&id, "wrong-secret"), "token=not-a-token");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_client"), "{body}");

    // Rotating: the old secret stops at once, the new one works; the rest is kept.
    let (ok, out, err) = run(&["clients", "update", &id, "--rotate-secret"]);
    assert!(ok, "{err}");
    let rotated = field(&out, "client secret:").expect("the new secret is printed");
    assert_ne!(rotated, secret);
    assert!(
        out.contains("https://grafana.example.com/login/generic_oauth"),
        "{out}"
    );
    assert_eq!(revoke(&basic(&id, &secret), "token=x").0, 401);
    assert_eq!(revoke(&basic(&id, &rotated), "token=x").0, 200);
    let (ok, out, err) = run(&[
        "clients",
        "update",
        &id,
        "--name",
        "Grafana (ops)",
        "--first-party=false",
    ]);
    assert!(
        ok && out.contains("Grafana (ops)") && out.contains("consent:        asked"),
        "{err}{out}"
    );
    assert!(
        field(&out, "client secret:").is_none(),
        "no new secret without --rotate-secret"
    );

    let (ok, out, err) = run(&["clients", "delete", &id]);
    assert!(ok && out.contains(&format!("deleted client {id}")), "{err}");
    assert_eq!(
        revoke(&basic(&id, &rotated), "token=x").0,
        401,
        "a deleted client is unknown"
    );
    let (ok, out, _) = run(&["clients", "list"]);
    assert!(ok && !out.contains(&id), "{out}");
    let (ok, _, err) = run(&["clients", "delete", &id]);
    assert!(!ok && err.contains("no such client"), "{err}");
}
