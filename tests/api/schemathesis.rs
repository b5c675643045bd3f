//! An OpenAPI-driven fuzz run: schemathesis (from PyPI, pinned in scripts/install-test-deps)
//! generates requests for every operation of `GET /openapi.json` and checks that no answer
//! is a 5xx and every answer matches the document. Bounded: 25 examples per operation and
//! phase, with a fixed seed so a failure reproduces.

use std::process::Command;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, free_port};

const SECRET: &str = "schemathesis-admin-secret-32-characters";

async fn schemathesis_finds_no_server_error_and_no_schema_mismatch(backend: Backend) {
    let port = free_port();
    let (listen, public) = (
        format!("127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}"),
    );
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TESSERA_LISTEN", &listen),
            ("TESSERA_PUBLIC_URL", &public),
            ("TESSERA_ADMIN_SECRET", SECRET),
            // The OAuth provider's routes are fuzzed too.
            ("TESSERA_OAUTH2_PROVIDER", "true"),
        ],
    )
    .await;
    let schema = app.url("/openapi.json");
    let output = tokio::task::spawn_blocking(move || {
        // Through the interpreter, so a fresh pip install works without a PATH rehash.
        Command::new("python3")
            .args(["-c", "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; schemathesis()"])
            .args(["run", &schema, "--checks", "not_a_server_error,response_schema_conformance"])
            .args(["--max-examples", "25", "--seed", "20261123", "--request-timeout", "10"])
            .args(["--header", &format!("x-tessera-admin-secret: {SECRET}")])
            .env("NO_COLOR", "1")
            // schemathesis keeps a cache in its working directory: not in the repository.
            .current_dir(std::env::temp_dir())
            .output()
            .expect("schemathesis is installed by scripts/install-test-deps")
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(" passed"), "{report}");
}

both_backends!(schemathesis_finds_no_server_error_and_no_schema_mismatch);
