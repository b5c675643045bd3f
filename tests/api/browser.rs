//! The example browser app in Debian's headless Chromium (playwright-core, pinned in
//! tests/e2e/package.json) against a running Tessera, cookies only: sign-up sets cookies,
//! `document.cookie` shows the hint but not the tokens, a reload stays signed in, refresh
//! works through cookies, sign-out clears them, and a page on a foreign site can neither
//! refresh nor sign out the session; a reset link leads to the example's form with its
//! ticket in the fragment only, which no request carries.
//!
//! Passkeys in the same app, with a virtual authenticator of the DevTools protocol
//! (tests/e2e/passkeys.test.mjs): sign-up with a passkey and a later sign-in with no email
//! typed, two passkeys added to a password account from two devices, a step-up with a
//! passkey before a password change once the sign-in is older than the recent-auth window;
//! and the refusals: a signature made on a page of an origin Tessera does not allow, a
//! credential posted twice, a ceremony finished after its challenge expired, and another
//! account's passkey answering a step-up. Three servers: default settings, a short
//! recent-auth window, a short ceremony timeout (each short setting would make the other
//! tests race it).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, free_port, npm_ci};
use crate::oidc_provider::{OidcProvider, ProviderOptions};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A Tessera at http://localhost:PORT (so its RP ID is localhost) that allows `app_origin`,
/// with `extra` settings; its URL.
async fn localhost_tessera(
    backend: Backend,
    app_origin: &str,
    extra: &[(&str, &str)],
) -> (TestApp, String) {
    let port = free_port();
    let url = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let mut vars = vec![
        ("TESSERA_LISTEN", listen.as_str()),
        ("TESSERA_PUBLIC_URL", url.as_str()),
        ("TESSERA_ALLOWED_ORIGINS", app_origin),
        ("TESSERA_ALLOWED_REDIRECT_URLS", app_origin),
    ];
    vars.extend_from_slice(extra);
    (TestApp::spawn_realtime_with(backend, &vars).await, url)
}

async fn example_app_in_chromium(backend: Backend) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs Debian's chromium (apt-get install chromium); scripts/test installs it"
    );
    let e2e = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    npm_ci(&e2e);
    let app_port = free_port();
    let app_origin = format!("http://localhost:{app_port}");
    let (app, tessera_url) = localhost_tessera(backend, &app_origin, &[]).await;
    let outbox = app.outbox.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "browser.test.mjs"])
            .env("TESSERA_URL", tessera_url)
            .env("APP_PORT", app_port.to_string())
            .env("CHROMIUM", CHROMIUM)
            .env("OUTBOX_DIR", outbox)
            .current_dir(e2e)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the browser test failed:\n{report}"
    );
    drop(app);
}

/// `TESSERA_RECENT_AUTH_WINDOW` of the step-up server: the test signs up and adds a
/// passkey within it, then waits it out.
const STEP_UP_WINDOW_SECONDS: u64 = 4;
/// `TESSERA_WEBAUTHN_TIMEOUT` of the expiry server: the test finishes one ceremony within
/// it, and lets others outlive it.
const EXPIRY_TIMEOUT_SECONDS: u64 = 3;

async fn passkeys_in_chromium(backend: Backend) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs Debian's chromium (apt-get install chromium); scripts/test installs it"
    );
    let e2e = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    npm_ci(&e2e);
    let app_port = free_port();
    let app_origin = format!("http://localhost:{app_port}");
    let window = format!("{STEP_UP_WINDOW_SECONDS}s");
    let timeout = format!("{EXPIRY_TIMEOUT_SECONDS}s");
    let (app, tessera_url) = localhost_tessera(backend, &app_origin, &[]).await;
    let (step_up, step_up_url) = localhost_tessera(
        backend,
        &app_origin,
        &[("TESSERA_RECENT_AUTH_WINDOW", &window)],
    )
    .await;
    let (expiry, expiry_url) = localhost_tessera(
        backend,
        &app_origin,
        &[("TESSERA_WEBAUTHN_TIMEOUT", &timeout)],
    )
    .await;
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "passkeys.test.mjs"])
            .env("TESSERA_URL", tessera_url)
            .env("STEP_UP_TESSERA_URL", step_up_url)
            .env("STEP_UP_WINDOW_SECONDS", STEP_UP_WINDOW_SECONDS.to_string())
            .env("EXPIRY_TESSERA_URL", expiry_url)
            .env("EXPIRY_TIMEOUT_SECONDS", EXPIRY_TIMEOUT_SECONDS.to_string())
            .env("APP_PORT", app_port.to_string())
            .env("CHROMIUM", CHROMIUM)
            .current_dir(e2e)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the passkeys browser test failed:\n{report}"
    );
    // Each browser test and the counts, for --nocapture.
    eprintln!("{report}");
    drop((app, step_up, expiry));
}

/// `localhost_tessera` on a port chosen by the caller, who needs Tessera's URL before it
/// starts (a provider's redirect URI); its URL.
async fn localhost_tessera_on(
    backend: Backend,
    port: u16,
    app_origin: &str,
    extra: &[(&str, &str)],
) -> (TestApp, String) {
    let url = format!("http://localhost:{port}");
    let listen = format!("127.0.0.1:{port}");
    let mut vars = vec![
        ("TESSERA_LISTEN", listen.as_str()),
        ("TESSERA_PUBLIC_URL", url.as_str()),
        ("TESSERA_ALLOWED_ORIGINS", app_origin),
        ("TESSERA_ALLOWED_REDIRECT_URLS", app_origin),
    ];
    vars.extend_from_slice(extra);
    (TestApp::spawn_realtime_with(backend, &vars).await, url)
}

/// Sign-in with an OpenID Connect provider in Chromium (tests/e2e/providers.test.mjs): the
/// test provider (oidc-provider) at http://127.0.0.1:PORT, so another site than Tessera and
/// the app at http://localhost:PORT, configured twice in one Tessera: `acme` answers by
/// redirect, `acme-post` by `form_post` (a cross-site POST that carries no SameSite=Lax
/// cookie). One provider client holds both callbacks.
async fn providers_in_chromium(backend: Backend) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs Debian's chromium (apt-get install chromium); scripts/test installs it"
    );
    let e2e = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    npm_ci(&e2e);
    let app_port = free_port();
    let app_origin = format!("http://localhost:{app_port}");
    // Tessera's port first: the provider must know its callbacks, and Tessera its issuer.
    let tessera_port = free_port();
    let callback =
        |name: &str| format!("http://localhost:{tessera_port}/signin/provider/{name}/callback");
    let accounts = json!([
        {"sub": "alice", "email": "alice@example.test", "email_verified": true, "name": "Alice A"},
        {"sub": "bob", "email": "bob@example.test", "email_verified": true, "name": "Bob B"},
        {"sub": "carol", "email": "carol@example.test", "email_verified": true, "name": "Carol C"},
    ]);
    let mut options = ProviderOptions::new(&callback("acme"), accounts.clone());
    options.host = "127.0.0.1";
    options.redirect_uris.push(callback("acme-post"));
    let provider = OidcProvider::start(options).await;
    let client_id = provider.options().client_id.clone();
    let client_secret = provider.options().client_secret.clone();
    let (app, tessera_url) = localhost_tessera_on(
        backend,
        tessera_port,
        &app_origin,
        &[
            ("TESSERA_OIDC_ACME_ISSUER", &provider.issuer),
            ("TESSERA_OIDC_ACME_CLIENT_ID", &client_id),
            ("TESSERA_OIDC_ACME_CLIENT_SECRET", &client_secret),
            ("TESSERA_OIDC_ACME_POST_ISSUER", &provider.issuer),
            ("TESSERA_OIDC_ACME_POST_CLIENT_ID", &client_id),
            ("TESSERA_OIDC_ACME_POST_CLIENT_SECRET", &client_secret),
            ("TESSERA_OIDC_ACME_POST_RESPONSE_MODE", "form_post"),
        ],
    )
    .await;
    let issuer = provider.issuer.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "providers.test.mjs"])
            .env("TESSERA_URL", tessera_url)
            .env("PROVIDER_ISSUER", issuer)
            .env("PROVIDER_ACCOUNTS", accounts.to_string())
            .env("APP_PORT", app_port.to_string())
            .env("CHROMIUM", CHROMIUM)
            .current_dir(e2e)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the providers browser test failed:\n{report}\nthe provider's stderr:\n{}",
        provider.stderr()
    );
    let stderr = provider.stderr();
    assert!(
        !stderr.contains("server_error"),
        "the provider failed: {stderr}"
    );
    eprintln!("{report}");
    drop((app, provider));
}

both_backends!(
    example_app_in_chromium,
    passkeys_in_chromium,
    providers_in_chromium
);
