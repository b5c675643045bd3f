//! The log audit: after the API suite ran with `TESSERA_TEST_AUDIT_DIR` set (scripts/test
//! does this), no log line of any in-process server contains a password, access token,
//! refresh token, ticket or code. Two nets:
//! - every secret the suite handled (recorded by the test helpers) is searched for;
//! - any JWT, and any stand-alone 43-character base64url string (the shape of refresh
//!   tokens, tickets and codes) other than a key id, is a finding even if unrecorded.

use std::path::PathBuf;

/// Passwords the suite sends, searched for literally.
const PASSWORDS: [&str; 6] = [
    "correct-Horse-battery-9",
    "another-Strong-passphrase-4",
    "Wrong-password-77",
    "wrong-Horse-battery-9",
    "Sh0rt!",
    "password123",
];

fn runs(text: &str) -> Vec<(usize, &str)> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is_b64(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// Secret-shaped strings in one log line.
fn findings(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, run) in runs(line) {
        let segments: Vec<&str> = run.split('.').collect();
        if segments.len() == 3
            && segments[0].starts_with("eyJ")
            && segments.iter().all(|s| s.len() >= 10)
        {
            found.push(format!("a JWT: {run:.40}"));
            continue;
        }
        for segment in segments {
            // Key ids are public (JWK thumbprints): in a `*kid` field or a kid parameter, or in the
            // path of an admin key route (`/admin/keys/{kid}/revoke`).
            let before = &line[..at];
            let is_key_id = before.ends_with("kid\":\"")
                || before.ends_with("kid=")
                || before.ends_with("/admin/keys/");
            if segment.len() == 43 && !is_key_id && segment.chars().any(|c| c.is_ascii_digit()) {
                found.push(format!("a token-shaped string: {segment:.12}..."));
            }
        }
    }
    found
}

#[test]
fn the_scanner_finds_what_it_must() {
    let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJlc2ln";
    assert_eq!(findings(&format!(r#"{{"msg":"got {jwt}"}}"#)).len(), 1);
    let token = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycH1";
    assert_eq!(token.len(), 43);
    assert_eq!(findings(&format!("refresh {token} done")).len(), 1);
    assert!(
        findings(&format!(r#"{{"kid":"{token}"}}"#)).is_empty(),
        "key ids are public"
    );
    assert!(
        findings(&format!(r#"{{"path":"/auth/admin/keys/{token}/revoke"}}"#)).is_empty(),
        "nor in an admin key route"
    );
    assert_eq!(
        findings(&format!(r#"{{"path":"/auth/verify/{token}"}}"#)).len(),
        1,
        "elsewhere in a path it is a finding"
    );
    assert!(findings(r#"{"request_id":"0ae16fcb-7406-4437-97b2-bff2b1ddb778"}"#).is_empty());
}

#[test]
#[ignore = "scripts/test runs it after the API suite, with TESSERA_TEST_AUDIT_DIR set"]
fn no_secret_reaches_a_log_line() {
    let dir =
        PathBuf::from(std::env::var("TESSERA_TEST_AUDIT_DIR").expect("run through scripts/test"));
    let mut logs = String::new();
    let mut secrets: Vec<String> = PASSWORDS.iter().map(|s| (*s).to_owned()).collect();
    for entry in std::fs::read_dir(&dir)
        .expect("the API suite wrote its logs")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        if name.starts_with("logs-") {
            logs.push_str(&text);
        } else if name.starts_with("secrets-") {
            secrets.extend(text.lines().filter(|s| s.len() >= 8).map(str::to_owned));
        }
    }
    let lines = logs.lines().count();
    assert!(
        lines > 1_000,
        "only {lines} log lines: did the API suite run with logging?"
    );
    assert!(
        secrets.len() > 100,
        "only {} recorded secrets",
        secrets.len()
    );
    let mut problems = Vec::new();
    for (number, line) in logs.lines().enumerate() {
        for secret in &secrets {
            if line.contains(secret.as_str()) {
                problems.push(format!(
                    "line {number}: a recorded secret ({:.6}...)",
                    secret
                ));
            }
        }
        for finding in findings(line) {
            problems.push(format!("line {number}: {finding}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} findings in {lines} lines, e.g.:\n{}",
        problems.len(),
        problems[..problems.len().min(20)].join("\n")
    );
    println!(
        "audited {lines} log lines against {} recorded secrets: clean",
        secrets.len()
    );
}
