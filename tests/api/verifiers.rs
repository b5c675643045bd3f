//! Third-party verifiers, as other services run them: a Node/Express service with `jose`
//! (`createRemoteJWKSet`), a Python/Flask service with PyJWT (`PyJWKClient`) and a Go
//! service with go-oidc (discovery), each given only Tessera's URL (tests/verifiers/). They verify tokens fresh from a running
//! Tessera, from the header or the cookie, and keep verifying across a key rotation: the
//! new key pre-published, then signing, while tokens of the old key are still accepted.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, free_port, npm_ci, unique_email};

fn verifiers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/verifiers")
}

/// A verifier service process, killed when dropped.
struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program args` in `dir` against Tessera and waits for `listening <port>`.
fn start(program: &str, args: &[&str], dir: PathBuf, tessera: &str) -> Service {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("TESSERA_URL", tessera)
        .env("PORT", "0")
        // jose and PyJWKClient refetch on an unknown kid at most every 30 s by default;
        // the test rotates within seconds, so it lifts that cooldown.
        .env("JWKS_COOLDOWN_SECONDS", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(port) = line.strip_prefix("listening ") {
                    break port.trim().to_owned();
                }
            }
            _ => panic!("{program} exited before listening"),
        }
    };
    // Keep draining stdout so the service never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Service {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn me(
    client: &reqwest::Client,
    service: &Service,
    token: &str,
    via_cookie: bool,
) -> (StatusCode, Value) {
    let request = client.get(format!("{}/me", service.url));
    let request = if via_cookie {
        request.header(
            "cookie",
            format!("theme=dark; __Host-tessera-token={token}"),
        )
    } else {
        request.bearer_auth(token)
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
    }
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `GET /me` with only this Cookie header.
async fn me_with_cookies(client: &reqwest::Client, service: &Service, cookies: &str) -> StatusCode {
    client
        .get(format!("{}/me", service.url))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap()
        .status()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// The whole story against one verifier service.
async fn verifies_across_a_rotation(backend: Backend, kind: VerifierKind) {
    // Short lifetimes so that the rotation happens within the test: the JWKS cache lasts
    // 1 s and a new key signs 2 s after it is published.
    // The public URL must be where the verifier can reach Tessera: discovery points there.
    let port = free_port();
    let (listen, public) = (
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    );
    let app = TestApp::spawn_realtime_with(
        backend,
        &[
            ("TESSERA_LISTEN", &listen),
            ("TESSERA_PUBLIC_URL", &public),
            ("TESSERA_JWKS_MAX_AGE", "1s"),
            ("TESSERA_KEY_PUBLISH_LEAD", "2s"),
        ],
    )
    .await;
    let service = launch(kind, &app.address);
    let client = reqwest::Client::new();
    let email = unique_email();
    let old = app.sign_up(&email).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, body) = me(&client, &service, &old, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kid"], kid(&old));
    let (status, _) = me(&client, &service, &old, true).await;
    assert_eq!(status, StatusCode::OK, "the access cookie works too");
    // Only the name Tessera sets counts: an unprefixed `tessera-token` could come from a
    // sibling subdomain, and a percent-encoded name is another name.
    for injected in [
        format!("tessera-token={old}"),
        format!("%5F%5FHost-tessera-token={old}"),
    ] {
        assert_eq!(
            me_with_cookies(&client, &service, &injected).await,
            StatusCode::UNAUTHORIZED,
            "{}",
            injected.split('=').next().unwrap()
        );
    }

    // Rotation: the new key is published at once and signs two seconds later.
    let keys = app.state.tokens.keys().clone();
    let rotation = keys.rotate().await.unwrap();
    let (status, _) = me(&client, &service, &old, false).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "old tokens keep working while the new key waits"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    keys.maintain().await.unwrap();
    let new = app.sign_in(&email).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid(&new), rotation.kid, "the new key signs now");

    let (status, body) = me(&client, &service, &new, false).await;
    assert_eq!(status, StatusCode::OK, "a token of the new key: {body}");
    assert_eq!(body["kid"], rotation.kid);
    let (status, _) = me(&client, &service, &old, false).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the old key's tokens until they expire"
    );
    let (status, _) = me(&client, &service, &new, true).await;
    assert_eq!(status, StatusCode::OK);

    // And it refuses what it must.
    let parts: Vec<&str> = new.split('.').collect();
    let none = format!(
        "{}.{}.",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"alg":"none","typ":"JWT"}"#
        ),
        parts[1]
    );
    for bad in [
        none,
        format!("{}.{}.{}", parts[0], parts[1], &parts[2][..40]),
        "garbage".to_owned(),
    ] {
        let (status, body) = me(&client, &service, &bad, false).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
}

/// The verifier services of tests/verifiers.
#[derive(Clone, Copy)]
enum VerifierKind {
    NodeJose,
    PythonPyjwt,
    GoOidc,
}

/// Starts one kind of verifier service (installing or building it first).
fn launch(kind: VerifierKind, tessera: &str) -> Service {
    match kind {
        VerifierKind::NodeJose => {
            npm_ci(&verifiers_dir().join("node"));
            start(
                "node",
                &["server.mjs"],
                verifiers_dir().join("node"),
                tessera,
            )
        }
        VerifierKind::PythonPyjwt => start(
            "python3",
            &["server.py"],
            verifiers_dir().join("python"),
            tessera,
        ),
        VerifierKind::GoOidc => start(&go_binary(), &[], verifiers_dir().join("go"), tessera),
    }
}

async fn node_jose(backend: Backend) {
    verifies_across_a_rotation(backend, VerifierKind::NodeJose).await
}

async fn python_pyjwt(backend: Backend) {
    verifies_across_a_rotation(backend, VerifierKind::PythonPyjwt).await
}

async fn go_oidc(backend: Backend) {
    verifies_across_a_rotation(backend, VerifierKind::GoOidc).await
}

both_backends!(node_jose, python_pyjwt, go_oidc);

/// Builds the go-oidc service offline from Debian's packages (once per run).
fn go_binary() -> String {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let output = Command::new("bash")
                .arg(verifiers_dir().join("go/build.sh"))
                .output()
                .expect("bash runs");
            assert!(
                output.status.success(),
                "go build failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout)
                .unwrap()
                .trim()
                .lines()
                .last()
                .unwrap()
                .to_owned()
        })
        .clone()
}
