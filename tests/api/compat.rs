//! The real `@nhost/nhost-js` SDK (pinned in tests/compat/nhost/package.json) in Node,
//! against a running Tessera on each store: sign up, sign in, a forced refresh through the
//! SDK's own refresh path, getUser, signOut, and a refresh after sign-out failing; and a
//! sign-in with an emailed one-time code, which the script reads from the server's outbox
//! directory (no SMTP is configured, so messages land there).

use std::path::PathBuf;
use std::process::Command;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, npm_ci};

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat/nhost")
}

async fn nhost_js_sdk_works_against_tessera(backend: Backend) {
    npm_ci(&compat_dir());
    let app = TestApp::spawn_realtime(backend).await;
    let auth_url = format!("{}/v1", app.address);
    let outbox = app.outbox.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-reporter=spec", "nhost.test.mjs"])
            .env("TESSERA_URL", auth_url)
            .env("TESSERA_OUTBOX_DIR", outbox)
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
    assert!(
        !report.contains("skipped 1") && report.contains("one-time code"),
        "the email-code test ran: {report}"
    );
}

both_backends!(nhost_js_sdk_works_against_tessera);
