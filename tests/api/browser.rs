//! The example browser app in Debian's headless Chromium (playwright-core, pinned in
//! tests/e2e/package.json) against a running Tessera, cookies only: sign-up sets cookies,
//! `document.cookie` shows the hint but not the tokens, a reload stays signed in, refresh
//! works through cookies, sign-out clears them, and a page on a foreign site can neither
//! refresh nor sign out the session; a reset link leads to the example's form with its
//! ticket in the fragment only, which no request carries.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, free_port, npm_ci};

const CHROMIUM: &str = "/usr/bin/chromium";

async fn example_app_in_chromium(backend: Backend) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs Debian's chromium (apt-get install chromium); scripts/test installs it"
    );
    let e2e = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    npm_ci(&e2e);
    let (tessera_port, app_port) = (free_port(), free_port());
    let tessera_url = format!("http://localhost:{tessera_port}");
    let listen = format!("127.0.0.1:{tessera_port}");
    let app_origin = format!("http://localhost:{app_port}");
    let app = TestApp::spawn_realtime_with(
        backend,
        &[
            ("TESSERA_LISTEN", &listen),
            ("TESSERA_PUBLIC_URL", &tessera_url),
            ("TESSERA_ALLOWED_ORIGINS", &app_origin),
            ("TESSERA_ALLOWED_REDIRECT_URLS", &app_origin),
        ],
    )
    .await;
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

both_backends!(example_app_in_chromium);
