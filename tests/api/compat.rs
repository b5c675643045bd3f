//! The real `@nhost/nhost-js` SDK (pinned in tests/compat/nhost/package.json) in Node,
//! against a running Tessera on each store: sign up, sign in, a forced refresh through the
//! SDK's own refresh path, getUser, signOut, and a refresh after sign-out failing.

use std::path::PathBuf;
use std::process::Command;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat/nhost")
}

/// Installs the pinned SDK once (`npm ci`), unless CI already did.
fn install_sdk() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let dir = compat_dir();
        if dir.join("node_modules/@nhost/nhost-js").exists() {
            return;
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed for the Nhost SDK compatibility test (Node.js and npm)");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    });
}

async fn nhost_js_sdk_works_against_tessera(backend: Backend) {
    install_sdk();
    let app = TestApp::spawn_realtime(backend).await;
    let auth_url = format!("{}/v1", app.address);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "nhost.test.mjs"])
            .env("TESSERA_URL", auth_url)
            .current_dir(compat_dir())
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
        "nhost-js against Tessera failed:\n{report}"
    );
    assert!(report.contains("pass"), "{report}");
}

both_backends!(nhost_js_sdk_works_against_tessera);
