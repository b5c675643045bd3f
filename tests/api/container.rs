//! What the container image relies on, tested without a container engine: its health check
//! is `tessera healthcheck`, a subcommand that asks the running server's `/healthz`.

use std::process::Stdio;

use crate::process::{Server, tessera};

/// The Dockerfile's HEALTHCHECK runs exactly the subcommand tested below (a shell built
/// in, such as bash's /dev/tcp, does not exist in the runtime image's /bin/sh).
#[test]
fn the_dockerfile_health_check_is_the_subcommand() {
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let check = dockerfile
        .lines()
        .find(|l| l.starts_with("HEALTHCHECK"))
        .expect("a HEALTHCHECK");
    assert!(
        check.ends_with(r#"CMD ["tessera", "healthcheck"]"#),
        "{check}"
    );
}

#[test]
fn healthcheck_exits_zero_while_the_server_answers_and_non_zero_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(tessera(dir.path()));
    let port = server.address.rsplit(':').next().unwrap().to_owned();
    // The container listens on 0.0.0.0: the check asks the loopback address.
    let check = || {
        tessera(dir.path())
            .arg("healthcheck")
            .env("TESSERA_LISTEN", format!("0.0.0.0:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    };
    let healthy = check();
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    drop(server);
    let down = check();
    assert_eq!(down.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("healthz"), "{stderr}");
}
