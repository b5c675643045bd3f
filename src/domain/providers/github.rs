//! GitHub (and GitHub Enterprise Server), whose sign-in is OAuth 2.0 without OpenID
//! Connect: the authorization code flow with PKCE (through oauth2), then its REST API for
//! who signed in (`GET /user`) and their addresses (`GET /user/emails`, which says which
//! are verified). The identity is GitHub's numeric user id (a login can be renamed).

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use super::ProviderUser;
use super::http_client::{ProviderHttp, read_capped};
use crate::config::GithubConfig;
use crate::domain::errors::AuthError;

/// What Tessera asks of GitHub: the profile and the email addresses.
const SCOPES: [&str; 2] = ["read:user", "user:email"];

/// GitHub's sign-in.
pub struct Github {
    config: GithubConfig,
    redirect_uri: RedirectUrl,
    http: ProviderHttp,
}

#[derive(Deserialize)]
struct GithubUser {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
}

#[derive(Deserialize)]
struct GithubEmail {
    email: String,
    primary: bool,
    verified: bool,
}

/// GitHub's answer to a refused code: HTTP 200 with `{"error": ...}`.
#[derive(Deserialize)]
struct GithubError {
    error: String,
}

impl Github {
    pub fn new(config: GithubConfig, redirect_uri: Url, http: ProviderHttp) -> Self {
        Self {
            config,
            redirect_uri: RedirectUrl::from_url(redirect_uri),
            http,
        }
    }

    fn web(&self, path: &str) -> Url {
        join(&self.config.web_url, path)
    }

    /// GitHub's authorization URL for one flow.
    pub fn authorize_url(&self, state: &str, pkce_verifier: &str) -> Url {
        let state = CsrfToken::new(state.to_owned());
        let verifier = PkceCodeVerifier::new(pkce_verifier.to_owned());
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(self.web("login/oauth/authorize")))
            .set_redirect_uri(self.redirect_uri.clone());
        let mut request = client
            .authorize_url(move || state)
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier));
        for scope in SCOPES {
            request = request.add_scope(Scope::new(scope.into()));
        }
        request.url().0
    }

    /// Trades the callback's code for an access token, and reads who signed in.
    pub async fn exchange(
        &self,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<ProviderUser, AuthError> {
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.config.client_secret.expose_secret().to_owned(),
            ))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::from_url(self.web("login/oauth/access_token")))
            .set_redirect_uri(self.redirect_uri.clone());
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|err| match err {
                RequestTokenError::Request(_) => AuthError::ProviderUnavailable,
                RequestTokenError::ServerResponse(answer) => {
                    AuthError::ProviderError(format!("GitHub answered {}", answer.error()))
                }
                // GitHub refuses a code with HTTP 200 and `{"error": ...}`.
                RequestTokenError::Parse(_, body) => {
                    match serde_json::from_slice::<GithubError>(&body) {
                        Ok(refused) => AuthError::ProviderError(format!(
                            "GitHub answered {}",
                            printable(&refused.error)
                        )),
                        Err(_) => AuthError::ProviderError("GitHub's answer is unreadable".into()),
                    }
                }
                RequestTokenError::Other(_) => {
                    AuthError::ProviderError("GitHub's answer is unreadable".into())
                }
            })?;
        let access = token.access_token().secret();
        let user: GithubUser = self.api(access, "user").await?;
        let emails: Vec<GithubEmail> = self.api(access, "user/emails").await?;
        // The primary address if it is verified, else any verified one, else the primary
        // (unverified: it never links to an existing account).
        let chosen = emails
            .iter()
            .find(|e| e.primary && e.verified)
            .or_else(|| emails.iter().find(|e| e.verified))
            .or_else(|| emails.iter().find(|e| e.primary));
        Ok(ProviderUser {
            subject: user.id.to_string(),
            email: chosen.map(|e| e.email.clone()),
            email_verified: chosen.is_some_and(|e| e.verified),
            name: user.name.or(Some(user.login)),
            picture: user.avatar_url,
            locale: None,
        })
    }

    async fn api<T: serde::de::DeserializeOwned>(
        &self,
        access_token: &str,
        path: &str,
    ) -> Result<T, AuthError> {
        let response = self
            .http
            .client()
            .get(join(&self.config.api_url, path))
            .bearer_auth(access_token)
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|_| AuthError::ProviderUnavailable)?;
        let status = response.status();
        let body = read_capped(response)
            .await
            .map_err(|_| AuthError::ProviderUnavailable)?;
        if !status.is_success() {
            return Err(AuthError::ProviderError(format!(
                "GitHub's API answered {status} to /{path}"
            )));
        }
        serde_json::from_slice(&body).map_err(|_| {
            AuthError::ProviderError(format!("GitHub's API answer to /{path} is unreadable"))
        })
    }
}

/// `base` with `path` under it (`https://ghe.example.com/api/v3` + `user`).
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{path}", url.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}

/// A provider's error code as it may be shown: short, and printable ASCII only.
fn printable(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}
