//! The real `@nhost/nhost-js` SDK (pinned in tests/compat/nhost/package.json) in Node,
//! against a running Tessera on each store: sign up, sign in, a forced refresh through the
//! SDK's own refresh path, getUser, signOut, a refresh after sign-out failing,
//! createPAT / signInPAT with the session the SDK then holds, and a sign-in with an emailed
//! one-time code read from the server's outbox (nhost.test.mjs); anonymous sign-in and
//! deanonymize, a PKCE link through tokenExchange, password change and reset, email change
//! and verification (flows.test.mjs); the TOTP second factor (changeUserMfa,
//! verifyChangeUserMfa, the MFA ticket of signInEmailPassword, verifySignInMfaTotp, getUser:
//! mfa.test.mjs, codes from pyotp); passkeys (signUpWebauthn, signInWebauthn with and
//! without an email, addSecurityKey, elevateWebauthn and their verify calls, and the refusals
//! of a replayed credential, another origin and an email in use: webauthn.test.mjs, the
//! authenticator played by soft-authenticator.mjs on node:crypto); Tessera as an OpenID
//! provider through the SDK's oauth2* calls at /v1 (oauth2.test.mjs); and the README's list of
//! the SDK calls Tessera does not serve, checked against the SDK itself.

use std::path::PathBuf;
use std::process::Command;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, npm_ci};

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat/nhost")
}

/// The passkeys' relying party: the page of the app on localhost:3000 (not Tessera's own
/// origin, as an app served apart from its auth server), which the soft authenticator puts in
/// its client data.
const WEBAUTHN_RP_ID: &str = "localhost";
const WEBAUTHN_ORIGIN: &str = "http://localhost:3000";

/// The admin secret of the SDK's server (the OpenID provider's test registers its app).
const COMPAT_ADMIN_SECRET: &str = "the-sdk-compat-admin-secret-0123456789";

async fn nhost_js_sdk_works_against_tessera(backend: Backend) {
    npm_ci(&compat_dir());
    let app = TestApp::spawn_realtime_with(
        backend,
        &[
            ("TESSERA_ALLOWED_REDIRECT_URLS", "https://app.example.com"),
            ("TESSERA_CUSTOM_CLAIMS", r#"{"org":"metadata.org"}"#),
            ("TESSERA_WEBAUTHN_RP_ID", WEBAUTHN_RP_ID),
            ("TESSERA_WEBAUTHN_ORIGINS", WEBAUTHN_ORIGIN),
            ("TESSERA_OAUTH2_PROVIDER", "true"),
            ("TESSERA_ADMIN_SECRET", COMPAT_ADMIN_SECRET),
        ],
    )
    .await;
    let auth_url = format!("{}/v1", app.address);
    let outbox = app.outbox.path().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args([
                "--test",
                "--test-reporter=spec",
                "nhost.test.mjs",
                "flows.test.mjs",
                "mfa.test.mjs",
                "webauthn.test.mjs",
                "oauth2.test.mjs",
            ])
            .env("ADMIN_SECRET", COMPAT_ADMIN_SECRET)
            .env("TESSERA_URL", auth_url)
            .env("OUTBOX_DIR", &outbox)
            .env("TESSERA_OUTBOX_DIR", &outbox)
            .env("APP_URL", "https://app.example.com/welcome")
            .env("WEBAUTHN_RP_ID", WEBAUTHN_RP_ID)
            .env("WEBAUTHN_ORIGIN", WEBAUTHN_ORIGIN)
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
    assert!(
        report.contains("verifySignInMfaTotp: a wrong code is refused")
            && !report.contains("an earlier step failed"),
        "the MFA flow ran: {report}"
    );
    assert!(
        report.contains("oauth2*: an app signs a user in through the SDK calls"),
        "the OpenID provider test ran: {report}"
    );
    assert!(
        report.contains("elevateWebauthn + verifyElevateWebauthn")
            && report.contains("the same step-up assertion sent again is refused")
            && report.contains("the passkey now signs in to the password account"),
        "the passkey flow ran to its end: {report}"
    );
}

both_backends!(nhost_js_sdk_works_against_tessera);

/// The README's heading above the list of SDK calls Tessera does not serve.
const UNSERVED_HEADING: &str = "### SDK calls Tessera does not serve";

/// Every route the pinned SDK's auth client calls is served by Tessera (in its OpenAPI
/// document) or listed in the README as not served, and the README lists nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_lists_exactly_the_sdk_calls_tessera_does_not_serve() {
    npm_ci(&compat_dir());
    let output = Command::new("node")
        .arg("sdk-routes.mjs")
        .current_dir(compat_dir())
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let calls: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        calls.len() > 40,
        "the SDK's routes were read: {}",
        calls.len()
    );

    let app = TestApp::spawn(Backend::Sqlite).await;
    let document: serde_json::Value = app.get("/openapi.json").await.json().await.unwrap();
    let served = |method: &str, path: &str| {
        let operations = &document["paths"][path];
        let method = method.to_lowercase();
        // A HEAD of a GET route is answered by it.
        !operations[&method].is_null() || (method == "head" && !operations["get"].is_null())
    };
    let mut unserved: Vec<String> = calls
        .iter()
        .filter(|c| !served(c["method"].as_str().unwrap(), c["path"].as_str().unwrap()))
        .map(|c| {
            format!(
                "- `{}` (`{} {}`)",
                c["call"].as_str().unwrap(),
                c["method"].as_str().unwrap(),
                c["path"].as_str().unwrap()
            )
        })
        .collect();
    unserved.sort();
    println!("SDK calls Tessera does not serve:\n{}", unserved.join("\n"));

    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split(UNSERVED_HEADING)
        .nth(1)
        .expect("the README has the list");
    let mut listed: Vec<String> = section
        .lines()
        .skip_while(|l| !l.starts_with("- `"))
        .take_while(|l| l.starts_with("- `"))
        .map(|l| l.split(':').next().unwrap().trim().to_owned())
        .collect();
    listed.sort();
    assert_eq!(
        listed, unserved,
        "the README's list of unserved SDK calls is out of date"
    );
}
