//! Social and enterprise sign-in: OpenID Connect providers and GitHub.
//!
//! - The browser flow ([`flows`]): `GET /signin/provider/{p}` checks `redirectTo` (before
//!   anything is sent to the provider), keeps the flow in the database under the hash of a
//!   random `state`, binds it to the browser with a short-lived cookie (SameSite=Lax, so it
//!   comes back with the provider's cross-site redirect) and redirects to the provider with
//!   `state`, a `nonce` and a PKCE challenge of Tessera's own. The callback takes the flow
//!   (once: a replayed `state` finds nothing), checks the cookie, trades the provider's code
//!   and verifies what comes back, then sends the browser to `redirectTo` with a one-time
//!   `code` for `POST /token/exchange` (the app's own PKCE), or with `error` and
//!   `errorDescription`. No token ever travels in a URL.
//! - Accounts ([`accounts`]): an identity is (provider, subject). A known identity signs
//!   its account in. A new one is linked to the account of the same email only when the
//!   provider says the email is verified (and if that account's own email was unverified,
//!   the mailbox's holder takes it over: see `EmailLinks::claim_mailbox`); with an
//!   unverified email it is refused (`account-exists`), never linked silently. Else it
//!   signs up a new account when sign-up is open. An explicit link needs a signed-in user
//!   with a recent authentication (`POST /link/idtoken`, or the browser flow begun by
//!   `POST /user/providers/{p}/link`, which links only when the app that began it trades
//!   the code with its verifier). Unlinking the last way to sign in is refused.
//! - ID tokens an app already holds (`POST /signin/idtoken`): verified like the callback's,
//!   with the nonce checked as the hex SHA-256 of the one the app sends.

mod accounts;
mod flows;
mod github;
mod http_client;
mod oidc;

use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;

use crate::config::ProvidersConfig;
use crate::domain::errors::AuthError;
use crate::domain::links::EmailLinks;
use crate::domain::mfa::SecondFactor;
use crate::domain::sessions::Sessions;
use crate::domain::signup_policy::SignUpPolicy;
use crate::store::Store;
use crate::support::clock::Clock;
use github::Github;
use http_client::ProviderHttp;
use oidc::OidcProvider;

pub use flows::{Callback, FlowFailure, ProviderStart, Started};
pub use oidc::NonceCheck;

/// How long a browser has to come back from the provider.
pub const FLOW_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Who signed in at a provider, as the provider says.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderUser {
    /// The provider's stable id of the user: `sub`, GitHub's numeric id.
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider says it verified `email`.
    pub email_verified: bool,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub locale: Option<String>,
}

/// A configured provider.
enum Provider {
    Oidc(Box<OidcProvider>),
    Github(Box<Github>),
}

/// Sign-in with providers.
pub struct Providers {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    providers: Vec<(String, Provider)>,
    links: Arc<EmailLinks>,
    mfa: Arc<SecondFactor>,
    sessions: Arc<Sessions>,
    policy: SignUpPolicy,
    rng: SystemRandom,
}

impl Providers {
    /// The providers of `config`; their callbacks are under the public URL of `links`'
    /// policy, whose sign-up rules they follow.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: &ProvidersConfig,
        mfa: Arc<SecondFactor>,
        links: Arc<EmailLinks>,
    ) -> anyhow::Result<Self> {
        let policy = links.policy().clone();
        let http = ProviderHttp::new()?;
        let callback = |name: &str| callback_url(policy.public_url(), name);
        let mut providers: Vec<(String, Provider)> = config
            .oidc
            .iter()
            .map(|p| {
                let provider =
                    OidcProvider::new(p.clone(), callback(&p.name), http.clone(), clock.clone());
                (p.name.clone(), Provider::Oidc(Box::new(provider)))
            })
            .collect();
        if let Some(github) = &config.github {
            let name = crate::config::GITHUB_PROVIDER;
            let provider = Github::new(github.clone(), callback(name), http.clone());
            providers.push((name.to_owned(), Provider::Github(Box::new(provider))));
        }
        Ok(Self {
            sessions: mfa.sessions().clone(),
            store,
            clock,
            providers,
            links,
            mfa,
            policy,
            rng: SystemRandom::new(),
        })
    }

    /// The names of the configured providers.
    pub fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn provider(&self, name: &str) -> Result<&Provider, AuthError> {
        self.providers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .ok_or(AuthError::UnknownProvider)
    }

    /// 32 random bytes, base64url: a `state`, a nonce, a PKCE verifier, a cookie value.
    fn random(&self) -> String {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).expect("the OS random generator");
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

/// `<public URL>/signin/provider/<name>/callback`: the redirect URI registered at the
/// provider.
pub fn callback_url(public_url: &Url, name: &str) -> Url {
    let mut url = public_url.clone();
    let path = format!(
        "{}/signin/provider/{name}/callback",
        url.path().trim_end_matches('/')
    );
    url.set_path(&path);
    url.set_query(None);
    url
}

/// SHA-256 of a secret, as stored.
fn hash(secret: &str) -> Vec<u8> {
    digest(&SHA256, secret.as_bytes()).as_ref().to_vec()
}

/// The hex SHA-256 of a nonce: what an ID token got for `POST /signin/idtoken` must carry
/// when the app sends `nonce` (the app gives the provider the hash, and Tessera the nonce).
pub fn nonce_hash(nonce: &str) -> String {
    digest(&SHA256, nonce.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two secrets without leaking, by timing, how much of them matched.
fn same_secret(a: &str, b: &str) -> bool {
    hash(a) == hash(b)
}
