//! `tessera healthcheck`: asks the running server for `<base>/healthz` (the container
//! image's health check).

use crate::config::Config;

/// How long the health check waits for the server.
const HEALTHCHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `GET <base>/healthz` on the listen address (loopback when it is a wildcard address);
/// `Ok` only for a 200. A few lines of HTTP/1.0 rather than an HTTP client: the status line
/// is all it reads.
pub(super) async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut address = config.server.listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let path = format!("{}/healthz", config.server.base_path());
    let status = tokio::time::timeout(HEALTHCHECK_TIMEOUT, async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
            .await?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while head.len() < 64 && !head.ends_with(b"\r\n") && stream.read(&mut byte).await? == 1 {
            head.push(byte[0]);
        }
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&head).into_owned())
    })
    .await;
    let answer = match status {
        Ok(Ok(line)) => line,
        Ok(Err(err)) => anyhow::bail!("GET {path} on {address} failed: {err}"),
        Err(_) => anyhow::bail!("GET {path} on {address}: no answer within 5 s"),
    };
    match answer.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => anyhow::bail!("GET {path} on {address} answered {:?}", answer.trim()),
    }
}
