//! Connections at the socket level: idle ones are closed (before the first request,
//! between requests, and HTTP/2 after its preface), and a cap on open connections makes
//! new ones wait without hurting the ones in flight. Raw sockets, no HTTP client.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection; `None` if it is still open after `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| received)
}

/// Reads one complete response with an empty or `Content-Length` body.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(n > 0, "closed before answering");
        received.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .to_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("content-length: ").map(str::to_owned))
                .and_then(|l| l.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

async fn idle_connections_are_closed(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_IDLE_TIMEOUT", "1s")]).await;
    let limit = Duration::from_secs(8);

    let mut silent = connect(&app).await;
    assert!(
        closed_within(&mut silent, limit).await.is_some(),
        "a connection that sends nothing is closed"
    );

    let mut kept_alive = connect(&app).await;
    kept_alive.write_all(HEALTHZ).await.unwrap();
    assert!(
        read_response(&mut kept_alive)
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        closed_within(&mut kept_alive, limit).await.is_some(),
        "an idle keep-alive connection is closed"
    );

    let mut h2 = connect(&app).await;
    // The HTTP/2 preface and an empty SETTINGS frame, then nothing.
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    assert!(
        closed_within(&mut h2, limit).await.is_some(),
        "an idle HTTP/2 connection is closed"
    );
}

async fn connections_over_the_cap_wait_without_hurting_the_others(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("TESSERA_MAX_CONNECTIONS", "2")]).await;
    let mut first = connect(&app).await;
    let mut second = connect(&app).await;
    for stream in [&mut first, &mut second] {
        stream.write_all(HEALTHZ).await.unwrap();
        assert!(read_response(stream).await.starts_with("HTTP/1.1 200"));
    }
    // A third connection is not served while both are open...
    let mut third = connect(&app).await;
    third.write_all(HEALTHZ).await.unwrap();
    let mut chunk = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(700), third.read(&mut chunk)).await;
    assert!(early.is_err(), "the third connection waits");
    // ...the open ones keep working...
    first.write_all(HEALTHZ).await.unwrap();
    assert!(read_response(&mut first).await.starts_with("HTTP/1.1 200"));
    // ...and once one closes, the third is served.
    drop(second);
    assert!(read_response(&mut third).await.starts_with("HTTP/1.1 200"));
}

both_backends!(
    idle_connections_are_closed,
    connections_over_the_cap_wait_without_hurting_the_others,
);
