//! [`Verifier`]: the JWKS cache, the rules, and the session-liveness check, built once and
//! shared (it is cheap to clone).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use url::Url;

use crate::core::{Rules, VerifyError, header_kid, verify_with_key};
use crate::jwks::RemoteJwks;
use crate::{ACCESS_COOKIE, Claims};

/// Verifies Tessera access tokens; clone it freely.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    jwks: RemoteJwks,
    rules: Rules,
    verify_url: String,
    http: reqwest::Client,
    cookie_name: String,
    clock: Box<dyn Fn() -> i64 + Send + Sync>,
}

/// Why a verifier could not be built from discovery.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cannot fetch {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the discovery document's issuer `{found}` is not `{expected}`")]
    IssuerMismatch { expected: String, found: String },
    #[error("invalid URL: {0}")]
    Url(String),
}

/// Options for a [`Verifier`].
pub struct VerifierBuilder {
    jwks_url: String,
    issuer: String,
    audience: String,
    tessera_url: Option<String>,
    leeway: Duration,
    cooldown: Duration,
    timeout: Duration,
    cookie_name: String,
    clock: Option<Box<dyn Fn() -> i64 + Send + Sync>>,
}

impl VerifierBuilder {
    /// Seconds of clock difference tolerated on `exp` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Minimum time between two refetches caused by unknown kids (default 30 s).
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Timeout of each request to Tessera (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Tessera's public URL, for the session check (default: the JWKS URL without
    /// `/.well-known/jwks.json`).
    pub fn tessera_url(mut self, url: impl Into<String>) -> Self {
        self.tessera_url = Some(url.into());
        self
    }

    /// The access cookie's name when Tessera's is not `__Host-tessera-token`
    /// (`tessera-token` with `TESSERA_COOKIE_DOMAIN` or `TESSERA_COOKIE_SECURE=false`).
    /// Only this one name is read.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// A clock in Unix seconds (tests).
    pub fn clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// The verifier.
    pub fn build(self) -> Verifier {
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with default TLS");
        let base = self.tessera_url.unwrap_or_else(|| {
            self.jwks_url
                .trim_end_matches("/.well-known/jwks.json")
                .to_owned()
        });
        let leeway = self.leeway.as_secs();
        Verifier {
            inner: Arc::new(Inner {
                jwks: RemoteJwks::new(self.jwks_url, http.clone(), self.cooldown),
                rules: Rules {
                    issuer: self.issuer,
                    audience: self.audience,
                    exp_leeway: leeway,
                    iat_leeway: leeway,
                    check_exp: true,
                },
                verify_url: format!("{}/token/verify", base.trim_end_matches('/')),
                http,
                cookie_name: self.cookie_name,
                clock: self.clock.unwrap_or_else(|| {
                    Box::new(|| {
                        SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs() as i64)
                    })
                }),
            }),
        }
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

impl Verifier {
    /// A verifier for tokens from `issuer` for `audience`, with keys from `jwks_url`.
    pub fn builder(
        jwks_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> VerifierBuilder {
        VerifierBuilder {
            jwks_url: jwks_url.into(),
            issuer: issuer.into(),
            audience: audience.into(),
            tessera_url: None,
            leeway: Duration::from_secs(60),
            cooldown: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            cookie_name: ACCESS_COOKIE.to_owned(),
            clock: None,
        }
    }

    /// A verifier built from Tessera's discovery document at
    /// `<issuer>/.well-known/openid-configuration`, whose `issuer` must equal `issuer`.
    pub async fn discover(
        issuer: &str,
        audience: impl Into<String>,
    ) -> Result<Verifier, DiscoveryError> {
        let issuer = issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        Url::parse(&url).map_err(|e| DiscoveryError::Url(e.to_string()))?;
        let fetch_error = |reason: String| DiscoveryError::Fetch {
            url: url.clone(),
            reason,
        };
        let document: Discovery = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| fetch_error(e.to_string()))?
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| fetch_error(e.to_string()))?
            .json()
            .await
            .map_err(|e| fetch_error(e.to_string()))?;
        if document.issuer != issuer {
            return Err(DiscoveryError::IssuerMismatch {
                expected: issuer.to_owned(),
                found: document.issuer,
            });
        }
        Ok(Verifier::builder(document.jwks_uri, issuer, audience)
            .tessera_url(issuer)
            .build())
    }

    /// Verifies a token: signature by a key of the JWKS, claims and expiry.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let kid = header_kid(token)?;
        let key = self.inner.jwks.key(&kid).await?;
        verify_with_key(token, &key, &self.inner.rules, (self.inner.clock)())
    }

    /// Verifies a token and asks Tessera whether its session is still live
    /// (`POST /token/verify`): for routes where a signed-out token must stop at once.
    pub async fn verify_live(&self, token: &str) -> Result<Claims, VerifyError> {
        let claims = self.verify(token).await?;
        let response = self
            .inner
            .http
            .post(&self.inner.verify_url)
            .json(&serde_json::json!({ "token": token }))
            .send()
            .await
            .map_err(|e| VerifyError::Unavailable(e.to_string()))?;
        match response.status().as_u16() {
            200 => Ok(claims),
            401 => Err(VerifyError::SessionEnded),
            status => Err(VerifyError::Unavailable(format!(
                "token/verify answered {status}"
            ))),
        }
    }

    /// The token of a request: `Authorization: Bearer` first, then the access cookie.
    pub fn token_from(
        &self,
        authorization: Option<&str>,
        cookies: &mut dyn Iterator<Item = &str>,
    ) -> Option<String> {
        crate::token_from_headers(authorization, cookies, &self.inner.cookie_name)
    }
}
