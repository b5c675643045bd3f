//! Tessera as an OAuth 2.1 / OpenID Connect provider: other apps ("clients") sign their
//! users in through Tessera with the authorization code flow and PKCE.
//!
//! - `clients.rs`: registering apps (administrators, and RFC 7591 registration);
//! - `authorize.rs`: `/oauth2/authorize` and the login step (who approves, consent);
//! - `exchange.rs`: `/oauth2/token` (codes and refresh tokens) and client authentication;
//!   `revocation.rs`: revocation and introspection;
//! - `jwt.rs`: the tokens an app receives (ID tokens, RFC 9068 access tokens) and their
//!   checks; `grants.rs`: userinfo, the user's authorised apps, RP-initiated logout.
//!
//! A grant is a session of its own (`sessions::grant_session`), tied to its client by an
//! `oauth2_grants` row: its refresh tokens rotate with the same reuse detection as a Tessera
//! session's, and whatever ends a user's sessions (password change, disabling, sign-out
//! everywhere) ends the apps' grants too. Its refresh tokens are tagged as a grant's, so
//! `POST /token` refuses them, and an app's access tokens (`typ` `at+jwt`, `aud` = the
//! client) are refused wherever a Tessera access token is expected.

mod authorize;
mod clients;
mod exchange;
mod grants;
mod jwt;
mod revocation;

use std::borrow::Cow;
use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use self::authorize::{Approval, AuthorizeOutcome, AuthorizeParams, PendingRequest};
pub use self::clients::{ClientSpec, NewClient};
pub use self::exchange::{ClientAuth, TokenParams, TokenResponse};
pub use self::grants::{AuthorisedApp, EndSession, UserInfo};
pub use self::revocation::Introspection;
pub use crate::store::OAuthClientRecord;

use crate::config::{OAuthProviderConfig, TokenConfig};
use crate::domain::errors::AuthError;
use crate::domain::sessions::Sessions;
use crate::domain::tokens::TokenIssuer;
use crate::store::{Store, StoreError};
use crate::support::clock::Clock;

/// What went wrong, as OAuth says it (RFC 6749 section 5.2 and friends), or a failure
/// underneath (database, keys) that the HTTP layer maps as everywhere else.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// An OAuth error: its snake_case code, a description for developers (never a
    /// submitted value or a secret) and the HTTP status.
    #[error("{description}")]
    Protocol {
        code: &'static str,
        description: Cow<'static, str>,
        status: u16,
    },
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for OAuthError {
    fn from(err: StoreError) -> Self {
        Self::Auth(AuthError::Store(err))
    }
}

impl OAuthError {
    fn new(code: &'static str, status: u16, description: impl Into<Cow<'static, str>>) -> Self {
        Self::Protocol {
            code,
            description: description.into(),
            status,
        }
    }

    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_request", 400, description)
    }

    /// 401 `invalid_client`: unknown client, missing or wrong secret.
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_client", 401, description)
    }

    /// 400 `invalid_grant`: the code or refresh token is not good for this client.
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_grant", 400, description)
    }

    /// 400 `invalid_scope`.
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_scope", 400, description)
    }

    /// 401 `invalid_token` (userinfo).
    pub fn invalid_token() -> Self {
        Self::new(
            "invalid_token",
            401,
            "The access token is missing, invalid or expired, or its grant has ended.",
        )
    }

    /// 404 `not_found` (client management, authorised apps).
    pub fn not_found(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new("not_found", 404, description)
    }
}

/// The provider: every `/oauth2/*` operation.
pub struct OAuthProvider {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sessions: Arc<Sessions>,
    tokens: Arc<TokenIssuer>,
    config: OAuthProviderConfig,
    /// `iss` of every token (`TESSERA_ISSUER`).
    issuer: String,
    rng: SystemRandom,
}

impl OAuthProvider {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        sessions: Arc<Sessions>,
        tokens: Arc<TokenIssuer>,
        config: &OAuthProviderConfig,
        token_config: &TokenConfig,
    ) -> Self {
        Self {
            store,
            clock,
            sessions,
            tokens,
            config: config.clone(),
            issuer: token_config.issuer.clone(),
            rng: SystemRandom::new(),
        }
    }

    /// Whether the `/oauth2/*` routes are served.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Whether dynamic registration is on (an initial access token is configured).
    pub fn registration_enabled(&self) -> bool {
        self.config.registration_token.is_some()
    }

    /// Every scope a client may be allowed.
    pub fn scopes(&self) -> Vec<String> {
        self.config.scopes()
    }

    /// The client of `id`; `None` without asking the store for anything that cannot be a
    /// client id (client ids are UUIDs Tessera made: a NUL or any other junk a caller
    /// sends never reaches the database).
    async fn find_client(&self, id: &str) -> Result<Option<OAuthClientRecord>, StoreError> {
        if !is_client_id(id) {
            return Ok(None);
        }
        self.store.client(id).await
    }

    /// A new random secret: 256 bits in base64url (43 characters).
    fn secret(&self) -> String {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).expect("the OS random generator");
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

/// SHA-256 of a secret (client secrets, codes, the browser cookie): each is 256 random
/// bits, so a fast hash is enough, and a database dump holds nothing usable.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    digest(&SHA256, secret.as_bytes()).as_ref().to_vec()
}

/// Whether `id` has the shape of a client id (a UUID, as Tessera makes them).
fn is_client_id(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::parse_str(id).is_ok()
}

/// A space-separated scope parameter, split; duplicates dropped, order kept.
fn split_scopes(raw: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw.split(' ').filter(|s| !s.is_empty()) {
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    scopes
}
