//! A JWKS fetched over HTTP and cached.
//!
//! Freshness follows the response's `Cache-Control: max-age`, kept between
//! [`MIN_CACHE`] and [`MAX_CACHE`] ([`DEFAULT_CACHE`] without one). An unknown `kid` makes
//! one refetch, and then no other for `cooldown`: a flood of made-up kids costs Tessera at
//! most one request per cooldown. Concurrent refetches share one request. When Tessera
//! cannot be reached, the keys already known keep working.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::core::VerifyError;

/// The shortest cache lifetime honoured, whatever `max-age` says.
pub const MIN_CACHE: Duration = Duration::from_secs(30);
/// The longest cache lifetime honoured.
pub const MAX_CACHE: Duration = Duration::from_secs(86_400);
/// The cache lifetime when the response has no `max-age`.
pub const DEFAULT_CACHE: Duration = Duration::from_secs(300);
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

#[derive(Default)]
struct Cached {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
    lifetime: Duration,
    /// When an unknown kid last caused a refetch.
    forced_at: Option<Instant>,
}

/// A cached remote key set.
pub struct RemoteJwks {
    url: String,
    http: reqwest::Client,
    cooldown: Duration,
    cache: RwLock<Cached>,
    /// Held while fetching: concurrent callers wait for the one request in flight.
    fetching: Mutex<()>,
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: Option<String>,
    crv: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    kid: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// The usable keys of a JWKS: P-256 signing keys with 32-byte coordinates and a kid.
fn parse(body: &[u8]) -> Result<HashMap<String, Arc<DecodingKey>>, String> {
    let set: JwkSet = serde_json::from_slice(body).map_err(|e| format!("JWKS is not JSON: {e}"))?;
    let mut keys = HashMap::new();
    for jwk in set.keys {
        let usable = jwk.kty.as_deref() == Some("EC")
            && jwk.crv.as_deref() == Some("P-256")
            && jwk.alg.as_deref().is_none_or(|a| a == "ES256")
            && jwk.use_.as_deref().is_none_or(|u| u == "sig");
        let (Some(kid), Some(x), Some(y)) = (jwk.kid, jwk.x, jwk.y) else {
            continue;
        };
        if !usable || x.len() != 43 || y.len() != 43 {
            continue;
        }
        if let Ok(key) = DecodingKey::from_ec_components(&x, &y) {
            keys.insert(kid, Arc::new(key));
        }
    }
    Ok(keys)
}

/// `max-age` from a `Cache-Control` value.
fn max_age(cache_control: Option<&str>) -> Option<Duration> {
    cache_control?
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|n| n.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

impl RemoteJwks {
    /// A key set at `url`, not fetched yet.
    pub fn new(url: String, http: reqwest::Client, cooldown: Duration) -> Self {
        Self {
            url,
            http,
            cooldown,
            cache: RwLock::new(Cached::default()),
            fetching: Mutex::new(()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cached> {
        self.cache.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The key for `kid`, fetching the JWKS when the cache is stale, or once per
    /// cooldown when the kid is unknown.
    pub async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, VerifyError> {
        let (fresh, known) = {
            let cache = self.read();
            let fresh = cache
                .fetched_at
                .is_some_and(|at| at.elapsed() < cache.lifetime);
            (fresh, cache.keys.get(kid).cloned())
        };
        match (fresh, known) {
            (true, Some(key)) => return Ok(key),
            (false, _) => self.refresh(false).await,
            (true, None) => self.refresh(true).await,
        }
        self.read().keys.get(kid).cloned().ok_or_else(|| {
            if self.read().keys.is_empty() {
                VerifyError::Unavailable("no keys could be fetched from the JWKS".into())
            } else {
                VerifyError::UnknownKey
            }
        })
    }

    /// Refetches unless another caller just did; `forced` (an unknown kid) is limited to
    /// once per cooldown.
    async fn refresh(&self, forced: bool) {
        let started = Instant::now();
        let _fetching = self.fetching.lock().await;
        {
            let cache = self.read();
            if cache.fetched_at.is_some_and(|at| at >= started) {
                return; // fetched while we waited
            }
            if forced
                && cache
                    .forced_at
                    .is_some_and(|at| at.elapsed() < self.cooldown)
            {
                return;
            }
        }
        if forced {
            self.write().forced_at = Some(Instant::now());
        }
        match self.fetch().await {
            Ok((keys, lifetime)) => {
                let mut cache = self.write();
                cache.keys = keys;
                cache.lifetime = lifetime;
                cache.fetched_at = Some(Instant::now());
            }
            Err(err) => {
                tracing::warn!(url = %self.url, error = %err, "cannot fetch the JWKS; keeping the keys already known");
                // Do not retry on every request while Tessera is unreachable.
                let mut cache = self.write();
                cache.fetched_at = Some(Instant::now());
                cache.lifetime = MIN_CACHE.min(self.cooldown.max(Duration::from_secs(1)));
            }
        }
    }

    async fn fetch(&self) -> Result<(HashMap<String, Arc<DecodingKey>>, Duration), String> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let lifetime = max_age(
            response
                .headers()
                .get(reqwest::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
        )
        .unwrap_or(DEFAULT_CACHE)
        .clamp(MIN_CACHE, MAX_CACHE);
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err("JWKS too large".into());
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_JWKS_BYTES {
            return Err("JWKS too large".into());
        }
        Ok((parse(&body)?, lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age(Some("public, max-age=600")),
            Some(Duration::from_secs(600))
        );
        assert_eq!(max_age(Some("no-store")), None);
        assert_eq!(max_age(None), None);
    }

    #[test]
    fn only_p256_signing_keys_with_full_coordinates_are_kept() {
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
        let body = serde_json::json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": "good", "alg": "ES256", "use": "sig" },
            { "kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": "enc", "use": "enc" },
            { "kty": "EC", "crv": "P-384", "x": x, "y": y, "kid": "p384" },
            { "kty": "RSA", "n": "AQAB", "e": "AQAB", "kid": "rsa" },
            { "kty": "EC", "crv": "P-256", "x": &x[1..], "y": y, "kid": "trimmed" },
            { "kty": "EC", "crv": "P-256", "x": x, "y": y },
        ]});
        let keys = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["good"]);
    }
}
