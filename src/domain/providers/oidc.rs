//! One OpenID Connect provider, through openidconnect: discovery (cached, refreshed
//! hourly, kept when a refresh fails), the authorization request, the code exchange, and
//! the ID token's verification: signature by the provider's keys (refetched when a token
//! names a key Tessera does not have, at most every [`JWKS_COOLDOWN`]), `iss`, `aud`, `exp`
//! with [`CLOCK_SKEW`] of leeway, `iat` not in the future, and the nonce.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError,
};
use secrecy::ExposeSecret;
use tokio::sync::{Mutex, RwLock};
use url::Url;

use super::ProviderUser;
use super::http_client::ProviderHttp;
use crate::config::{OidcProviderConfig, ResponseMode};
use crate::domain::errors::AuthError;
use crate::support::clock::Clock;

/// How long discovery (endpoints and keys) is used before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches of the keys for tokens naming an unknown key: a
/// provider's new key is picked up at once, and forged `kid`s cannot make Tessera hammer
/// the provider.
const JWKS_COOLDOWN: Duration = Duration::from_secs(10);
/// How far the provider's clock may be from Tessera's (expiry and issue time).
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// A client of a discovered provider (its token and userinfo endpoints may be missing).
type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// What an ID token's `nonce` claim must be.
pub enum NonceCheck<'a> {
    /// Exactly this (the nonce Tessera sent in the authorization request).
    Equals(&'a str),
    /// The hex SHA-256 of the nonce the app sent with the token (`POST /signin/idtoken`),
    /// or no claim at all when the app sent none.
    HashOf(Option<&'a str>),
}

struct Discovered {
    metadata: CoreProviderMetadata,
    fetched_at: Instant,
    /// The last fetch of the keys for a token naming an unknown key.
    keys_refetched_at: Option<Instant>,
}

/// An OpenID Connect provider of the configuration.
pub struct OidcProvider {
    config: OidcProviderConfig,
    redirect_uri: RedirectUrl,
    http: ProviderHttp,
    clock: Arc<dyn Clock>,
    discovered: RwLock<Option<Discovered>>,
    /// One discovery or key fetch at a time.
    fetching: Mutex<()>,
}

impl OidcProvider {
    /// The provider of `config`, whose callback is `redirect_uri`. Nothing is fetched yet:
    /// a provider that is down does not stop Tessera from starting.
    pub fn new(
        config: OidcProviderConfig,
        redirect_uri: Url,
        http: ProviderHttp,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            redirect_uri: RedirectUrl::from_url(redirect_uri),
            http,
            clock,
            discovered: RwLock::new(None),
            fetching: Mutex::new(()),
        }
    }

    /// The provider's authorization URL for one flow.
    pub async fn authorize_url(
        &self,
        state: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<Url, AuthError> {
        let client = self.client(self.metadata(false).await?);
        let state = CsrfToken::new(state.to_owned());
        let nonce = Nonce::new(nonce.to_owned());
        let verifier = PkceCodeVerifier::new(pkce_verifier.to_owned());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || state,
                move || nonce,
            )
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
        for scope in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if self.config.response_mode == ResponseMode::FormPost {
            request = request.add_extra_param("response_mode", "form_post");
        }
        Ok(request.url().0)
    }

    /// Trades the callback's code for the provider's tokens and verifies the ID token.
    pub async fn exchange(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ProviderUser, AuthError> {
        let client = self.client(self.metadata(false).await?);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| AuthError::ProviderError("the provider has no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|err| match err {
                RequestTokenError::ServerResponse(answer) => AuthError::ProviderError(format!(
                    "the token endpoint answered {}",
                    answer.error()
                )),
                RequestTokenError::Request(_) => AuthError::ProviderUnavailable,
                // A parse error's text would quote the body, which may hold tokens.
                _ => AuthError::ProviderError("the token endpoint's answer is unreadable".into()),
            })?;
        use openidconnect::{OAuth2TokenResponse, TokenResponse};
        let id_token = response
            .id_token()
            .ok_or_else(|| AuthError::ProviderError("the provider sent no ID token".into()))?;
        let mut user = self.verify(id_token, NonceCheck::Equals(nonce)).await?;
        if user.email.is_none() {
            self.add_userinfo(&client, response.access_token().clone(), &mut user)
                .await;
        }
        Ok(user)
    }

    /// The email (and name) from the provider's userinfo endpoint, for providers whose ID
    /// tokens carry only `sub` when an access token is issued (Okta's, by default). The
    /// answer must be about the ID token's subject. A failure leaves `user` as it was: it
    /// then has no email, which only a known identity can sign in without.
    async fn add_userinfo(
        &self,
        client: &Client,
        access_token: openidconnect::AccessToken,
        user: &mut ProviderUser,
    ) {
        let subject = openidconnect::SubjectIdentifier::new(user.subject.clone());
        let Ok(request) = client.user_info(access_token, Some(subject)) else {
            return; // No userinfo endpoint.
        };
        let claims: Result<openidconnect::core::CoreUserInfoClaims, _> =
            request.request_async(&self.http).await;
        match claims {
            Ok(claims) => {
                user.email = claims.email().map(|e| e.as_str().to_owned());
                user.email_verified = claims.email_verified().unwrap_or(false);
                if user.name.is_none() {
                    user.name = claims
                        .name()
                        .and_then(|n| n.get(None))
                        .map(|n| n.as_str().to_owned());
                }
            }
            Err(_) => {
                tracing::warn!(provider = %self.config.name, "the provider's userinfo answer was refused");
            }
        }
    }

    /// Verifies an ID token an app got from the provider itself (`POST /signin/idtoken`).
    pub async fn verify_id_token(
        &self,
        raw: &str,
        nonce: NonceCheck<'_>,
    ) -> Result<ProviderUser, AuthError> {
        let token: CoreIdToken = raw
            .parse()
            .map_err(|_| AuthError::ProviderError("the ID token is malformed".into()))?;
        self.verify(&token, nonce).await
    }

    async fn verify(
        &self,
        token: &CoreIdToken,
        nonce: NonceCheck<'_>,
    ) -> Result<ProviderUser, AuthError> {
        match self.verify_with(token, &nonce, false).await {
            // A key Tessera does not know: the provider may have rotated. Fetch its keys
            // again (at most every JWKS_COOLDOWN) and try once more.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => self.verify_with(token, &nonce, true).await,
            other => other,
        }
        .map_err(|err| match err {
            ClaimsVerificationError::Other(text) if text == UNREACHABLE => {
                AuthError::ProviderUnavailable
            }
            err => {
                AuthError::ProviderError(format!("the ID token is not valid: {}", summary(&err)))
            }
        })
    }

    async fn verify_with(
        &self,
        token: &CoreIdToken,
        nonce: &NonceCheck<'_>,
        refetch_keys: bool,
    ) -> Result<ProviderUser, ClaimsVerificationError> {
        let metadata = self
            .metadata(refetch_keys)
            .await
            .map_err(|_| ClaimsVerificationError::Other(UNREACHABLE.into()))?;
        let algorithms = asymmetric(&metadata);
        let client = self.client(metadata);
        let now = self.clock.now();
        let leeway = time::Duration::try_from(CLOCK_SKEW).expect("a small duration");
        let lenient_now = chrono_time(now - leeway);
        let latest_issue = chrono_time(now + leeway);
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(algorithms)
            .set_time_fn(move || lenient_now)
            .set_issue_time_verifier_fn(move |iat| {
                if iat > latest_issue {
                    Err("issued in the future".to_owned())
                } else {
                    Ok(())
                }
            });
        let check_nonce = |claim: Option<&Nonce>| -> Result<(), String> {
            let claim = claim.map(|n| n.secret().as_str());
            let expected = match nonce {
                NonceCheck::Equals(sent) => Some(sent.to_string()),
                NonceCheck::HashOf(sent) => sent.map(super::nonce_hash),
            };
            match (claim, expected) {
                (None, None) => Ok(()),
                (Some(claim), Some(expected)) if super::same_secret(claim, &expected) => Ok(()),
                (Some(_), None) => Err("the token has a nonce but none was sent".into()),
                _ => Err("the nonce does not match".into()),
            }
        };
        let claims = token.claims(&verifier, check_nonce)?;
        Ok(ProviderUser {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            picture: claims
                .picture()
                .and_then(|p| p.get(None))
                .map(|p| p.as_str().to_owned()),
            locale: claims.locale().map(|l| l.as_str().to_owned()),
        })
    }

    /// A client of the discovered provider; it authenticates at the token endpoint as the
    /// provider supports (in the body for Apple, else with HTTP Basic).
    fn client(&self, metadata: CoreProviderMetadata) -> Client {
        use openidconnect::core::CoreClientAuthMethod as Method;
        let body_only = metadata
            .token_endpoint_auth_methods_supported()
            .is_some_and(|methods| {
                !methods.contains(&Method::ClientSecretBasic)
                    && methods.contains(&Method::ClientSecretPost)
            });
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(
                self.config.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(self.redirect_uri.clone());
        if body_only {
            client.set_auth_type(AuthType::RequestBody)
        } else {
            client
        }
    }

    /// The provider's discovery, fetched when there is none or it is older than
    /// [`DISCOVERY_TTL`]; with `refetch_keys`, its keys fetched again unless they were
    /// within [`JWKS_COOLDOWN`]. A failed refresh keeps what was there.
    async fn metadata(&self, refetch_keys: bool) -> Result<CoreProviderMetadata, AuthError> {
        if let Some(found) = self.fresh(refetch_keys).await {
            return Ok(found);
        }
        let _one_at_a_time = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(found) = self.fresh(refetch_keys).await {
            return Ok(found);
        }
        let stale = self
            .discovered
            .read()
            .await
            .as_ref()
            .map(|d| d.metadata.clone());
        let fetched = match (&stale, refetch_keys) {
            (Some(metadata), true) if !self.stale_discovery().await => {
                self.fetch_keys(metadata.clone()).await
            }
            _ => self.discover().await,
        };
        match fetched {
            Ok(metadata) => {
                let now = Instant::now();
                let mut discovered = self.discovered.write().await;
                let fetched_at = match (&*discovered, refetch_keys) {
                    (Some(d), true) => d.fetched_at,
                    _ => now,
                };
                *discovered = Some(Discovered {
                    metadata: metadata.clone(),
                    fetched_at,
                    keys_refetched_at: refetch_keys.then_some(now),
                });
                Ok(metadata)
            }
            Err(err) => {
                tracing::warn!(provider = %self.config.name, error = %err, "provider discovery failed");
                stale.ok_or(AuthError::ProviderUnavailable)
            }
        }
    }

    async fn fresh(&self, refetch_keys: bool) -> Option<CoreProviderMetadata> {
        let discovered = self.discovered.read().await;
        let found = discovered.as_ref()?;
        let keys_usable = !refetch_keys
            || found
                .keys_refetched_at
                .is_some_and(|at| at.elapsed() < JWKS_COOLDOWN);
        (found.fetched_at.elapsed() < DISCOVERY_TTL && keys_usable).then(|| found.metadata.clone())
    }

    async fn stale_discovery(&self) -> bool {
        self.discovered
            .read()
            .await
            .as_ref()
            .is_none_or(|d| d.fetched_at.elapsed() >= DISCOVERY_TTL)
    }

    async fn discover(&self) -> Result<CoreProviderMetadata, String> {
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| e.to_string())?;
        // Checks that the document's issuer is the configured one, and fetches the keys.
        CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| e.to_string())
    }

    async fn fetch_keys(
        &self,
        metadata: CoreProviderMetadata,
    ) -> Result<CoreProviderMetadata, String> {
        let keys = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| e.to_string())?;
        Ok(metadata.set_jwks(keys))
    }
}

/// The marker of a verification that failed because the provider was unreachable.
const UNREACHABLE: &str = "provider unreachable";

/// The provider's ID token algorithms, without the symmetric ones (keyed with the client
/// secret) and `none`: a token is signed with one of the provider's published keys.
fn asymmetric(metadata: &CoreProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as A;
    metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|alg| !matches!(alg, A::HmacSha256 | A::HmacSha384 | A::HmacSha512 | A::None))
        .cloned()
        .collect()
}

/// What failed, in words that quote nothing of the token.
fn summary(err: &ClaimsVerificationError) -> &'static str {
    match err {
        ClaimsVerificationError::Expired(_) => "expired or issued in the future",
        ClaimsVerificationError::InvalidAudience(_) => "issued for another client",
        ClaimsVerificationError::InvalidIssuer(_) => "issued by another issuer",
        ClaimsVerificationError::InvalidNonce(_) => "the nonce does not match",
        ClaimsVerificationError::SignatureVerification(_) => "its signature does not verify",
        _ => "refused",
    }
}

fn chrono_time(at: time::OffsetDateTime) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(at.unix_timestamp(), at.nanosecond())
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
}
