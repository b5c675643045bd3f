//! Who is calling: the client IP (from the socket, or, when the peer is a proxy listed in
//! `TESSERA_TRUSTED_PROXIES`, from the one header that proxy sets: `Forwarded` by default,
//! `X-Forwarded-For` with `TESSERA_CLIENT_IP_HEADER=x-forwarded-for`) and the user agent.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::config::{ClientIpHeader, Config};
use crate::domain::sessions::ClientInfo;
use crate::http::AppState;
use crate::http::error::ApiError;

/// The calling client, for sessions and security events.
pub struct Client(pub ClientInfo);

impl<S> FromRequestParts<S> for Client
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| request_ip(info.0.ip(), &parts.headers, &state.config).to_string())
            .unwrap_or_default();
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        Ok(Client(ClientInfo::new(ip, user_agent)))
    }
}

/// The client's IP for a request from `peer`: the peer itself unless it is a trusted
/// proxy, then the chain of the one header the operator's proxy sets (the `for=`
/// parameters of `Forwarded`, RFC 7239, or `X-Forwarded-For`). The other header is the
/// client's own: a proxy that sets one passes the other through untouched.
pub fn request_ip(peer: IpAddr, headers: &HeaderMap, config: &Config) -> IpAddr {
    let values = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let chain = match config.server.client_ip_header {
        ClientIpHeader::Forwarded => forwarded_for(&values("forwarded")),
        ClientIpHeader::XForwardedFor => values("x-forwarded-for"),
    };
    client_ip(peer, &chain, &config.server.trusted_proxies)
}

/// The `for=` addresses of a `Forwarded` header as a comma-separated chain.
fn forwarded_for(forwarded: &str) -> String {
    forwarded
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.eq_ignore_ascii_case("for").then(|| {
                    let value = value.trim().trim_matches('"');
                    // "[2001:db8::1]:4711" or "192.0.2.60:8080" or "192.0.2.60".
                    match value.strip_prefix('[') {
                        Some(v6) => v6.split(']').next().unwrap_or_default().to_owned(),
                        None => value
                            .rsplit_once(':')
                            .filter(|(h, _)| !h.contains(':'))
                            .map_or(value, |(h, _)| h)
                            .to_owned(),
                    }
                })
            })
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The first address, from the right of the chain, that is not a trusted proxy. A peer
/// that is not trusted is the client, whatever headers it sends.
pub fn client_ip(peer: IpAddr, forwarded_for: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.rsplit(',').map(str::trim) {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_ip(ip("203.0.113.9"), "1.2.3.4", &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), "1.2.3.4", &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), "6.6.6.6, 1.2.3.4, 10.0.0.7", &trusted),
            ip("1.2.3.4"),
            "a client-supplied left part is ignored"
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), "garbage", &trusted),
            ip("10.0.0.2")
        );
    }
}
