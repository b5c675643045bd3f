//! The browser flow: from `GET /signin/provider/{p}` (or `POST /user/providers/{p}/link`)
//! to the provider, and from the provider's callback back to the app.

use serde_json::json;
use url::Url;
use uuid::Uuid;

use super::{FLOW_LIFETIME, Provider, Providers, hash};
use crate::domain::errors::AuthError;
use crate::domain::profile::NewProfile;
use crate::domain::redirects::with_param;
use crate::domain::sessions::ClientInfo;
use crate::store::ProviderFlowRecord;

/// What began a flow: the app's `redirectTo` and PKCE challenge, and the sign-up options.
#[derive(Debug, Default)]
pub struct ProviderStart {
    pub redirect_to: Option<String>,
    pub code_challenge: Option<String>,
    pub profile: NewProfile,
}

/// A flow begun: where to send the browser, and the flow cookie's value to set (the
/// browser's existing one is kept, so flows begun in two tabs both finish).
#[derive(Debug)]
pub struct Started {
    pub location: Url,
    pub cookie: String,
}

/// What the provider sent back to the callback.
#[derive(Debug, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A failed flow: the error, and the app's URL to report it to when it is known (it is
/// not when the `state` names no flow).
#[derive(Debug)]
pub struct FlowFailure {
    pub redirect_to: Option<Url>,
    pub error: AuthError,
}

impl FlowFailure {
    fn to_app(redirect_to: &Url, error: AuthError) -> Self {
        Self {
            redirect_to: Some(redirect_to.clone()),
            error,
        }
    }
}

impl From<AuthError> for FlowFailure {
    fn from(error: AuthError) -> Self {
        Self {
            redirect_to: None,
            error,
        }
    }
}

impl Providers {
    /// `GET /signin/provider/{p}`: checks the request and begins a sign-in flow. An unknown
    /// provider or a `redirectTo` that is not allowed are errors to the caller; after that,
    /// errors go to `redirectTo`.
    pub async fn start(
        &self,
        name: &str,
        request: ProviderStart,
        browser: Option<&str>,
    ) -> Result<Started, FlowFailure> {
        let provider = self.provider(name)?;
        let redirect_to = self.redirect(request.redirect_to.as_deref())?;
        let result = async {
            let challenge = check_challenge(request.code_challenge)?;
            // Checked now, so that a bad option is refused before the user signs in; kept
            // as asked, for a sign-up at the callback.
            let options = serde_json::to_value(&request.profile)
                .map_err(|e| AuthError::Internal(e.to_string()))?;
            request.profile.check(self.policy.roles())?;
            // The browser's cookie is kept: a flow in another tab stays bound to it.
            let cookie = browser
                .filter(|c| c.len() == 43)
                .map(str::to_owned)
                .unwrap_or_else(|| self.random());
            let flow = Flow {
                name,
                redirect_to: &redirect_to,
                challenge,
                link_user_id: None,
                options,
                browser: &cookie,
            };
            let location = self.begin(provider, flow).await?;
            Ok(Started { location, cookie })
        }
        .await;
        result.map_err(|error| FlowFailure::to_app(&redirect_to, error))
    }

    /// `POST /user/providers/{p}/link`: begins a flow that links an identity at `name` to
    /// the signed-in user, whose session must have authenticated recently. Answers the
    /// provider's URL for the app to send the browser to. The identity is linked when the
    /// app trades the callback's code with its verifier: a leaked URL links nothing.
    pub async fn start_link(
        &self,
        name: &str,
        user_id: Uuid,
        session_id: Uuid,
        redirect_to: Option<&str>,
        code_challenge: Option<String>,
    ) -> Result<Url, AuthError> {
        let provider = self.provider(name)?;
        self.require_recent(user_id, session_id).await?;
        let redirect_to = self.redirect(redirect_to)?;
        let challenge = check_challenge(code_challenge)?;
        // No browser cookie: this flow was begun by an API call, not by the browser; the
        // app's verifier binds it instead.
        let browser = self.random();
        let flow = Flow {
            name,
            redirect_to: &redirect_to,
            challenge,
            link_user_id: Some(user_id),
            options: json!({}),
            browser: &browser,
        };
        self.begin(provider, flow).await
    }

    fn redirect(&self, redirect_to: Option<&str>) -> Result<Url, AuthError> {
        let target = self.policy.redirect_target(redirect_to)?;
        Url::parse(&target).map_err(|_| AuthError::RedirectNotAllowed)
    }

    /// Keeps the flow and answers the provider's URL for it.
    async fn begin(&self, provider: &Provider, flow: Flow<'_>) -> Result<Url, AuthError> {
        let state = self.random();
        let nonce = self.random();
        let verifier = self.random();
        let location = match provider {
            Provider::Oidc(oidc) => oidc.authorize_url(&state, &nonce, &verifier).await?,
            Provider::Github(github) => github.authorize_url(&state, &verifier),
        };
        let now = self.clock.now();
        let record = ProviderFlowRecord {
            state_hash: hash(&state),
            provider: flow.name.to_owned(),
            browser_hash: hash(flow.browser),
            nonce,
            pkce_verifier: verifier,
            redirect_to: flow.redirect_to.to_string(),
            code_challenge: flow.challenge,
            link_user_id: flow.link_user_id,
            payload: json!({ "options": flow.options }),
            created_at: now,
            expires_at: now + FLOW_LIFETIME,
        };
        self.store.insert_provider_flow(&record).await?;
        Ok(location)
    }

    /// `GET`/`POST /signin/provider/{p}/callback`: finishes a flow. Answers where to send
    /// the browser: the app's `redirectTo` with `?code=...` for `POST /token/exchange`.
    pub async fn callback(
        &self,
        name: &str,
        callback: Callback,
        browser: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Url, FlowFailure> {
        let provider = self.provider(name)?;
        let state = callback.state.as_deref().unwrap_or_default();
        // Taken whatever happens next: a state is good for one callback.
        let flow = match state.len() {
            43 => {
                self.store
                    .take_provider_flow(&hash(state), self.clock.now())
                    .await
            }
            _ => Ok(None),
        }
        .map_err(AuthError::from)?
        .filter(|flow| flow.provider == name)
        .ok_or(AuthError::InvalidProviderState)?;
        let redirect_to =
            Url::parse(&flow.redirect_to).map_err(|_| AuthError::RedirectNotAllowed)?;
        let result = self
            .finish(provider, &flow, callback, browser, client)
            .await
            .map(|code| with_param(redirect_to.clone(), "code", &code));
        result.map_err(|error| {
            tracing::info!(provider = name, error = %error, "provider sign-in refused");
            FlowFailure::to_app(&redirect_to, error)
        })
    }

    async fn finish(
        &self,
        provider: &Provider,
        flow: &ProviderFlowRecord,
        callback: Callback,
        browser: Option<&str>,
        client: &ClientInfo,
    ) -> Result<String, AuthError> {
        // A sign-in flow finishes only in the browser that began it (a link flow is bound
        // by the app's verifier instead).
        let same_browser = browser.is_some_and(|b| hash(b) == flow.browser_hash);
        if flow.link_user_id.is_none() && !same_browser {
            return Err(AuthError::InvalidProviderState);
        }
        if let Some(error) = callback.error {
            return Err(provider_refusal(
                &error,
                callback.error_description.as_deref(),
            ));
        }
        let code = callback
            .code
            .filter(|c| !c.is_empty() && c.len() <= 2048)
            .ok_or_else(|| AuthError::ProviderError("the provider sent no code".into()))?;
        let user = match provider {
            Provider::Oidc(oidc) => {
                oidc.exchange(&code, &flow.pkce_verifier, &flow.nonce)
                    .await?
            }
            Provider::Github(github) => github.exchange(&code, &flow.pkce_verifier).await?,
        };
        match flow.link_user_id {
            Some(user_id) => {
                self.code_for_link(&flow.provider, user_id, &user, flow)
                    .await
            }
            None => {
                let options = flow.payload.get("options").cloned().unwrap_or_default();
                let account = self
                    .account_for(&flow.provider, &user, options, client)
                    .await?;
                self.code_for_sign_in(&flow.provider, account.id, flow)
                    .await
            }
        }
    }
}

/// What [`Providers::begin`] keeps of a flow.
struct Flow<'a> {
    name: &'a str,
    redirect_to: &'a Url,
    challenge: String,
    link_user_id: Option<Uuid>,
    options: serde_json::Value,
    browser: &'a str,
}

/// The app's PKCE challenge (S256: 43 base64url characters), required: the flow's result
/// reaches the app only as a code that the challenge's verifier can trade.
fn check_challenge(challenge: Option<String>) -> Result<String, AuthError> {
    challenge
        .filter(|c| c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)))
        .ok_or_else(|| {
            AuthError::InvalidRequest(
                "codeChallenge (PKCE S256) is required: the sign-in reaches the app as a code for POST /token/exchange".into(),
            )
        })
}

/// The provider's own error: `access_denied` is the user's cancel.
fn provider_refusal(error: &str, description: Option<&str>) -> AuthError {
    if error == "access_denied" {
        return AuthError::ProviderCancelled;
    }
    let printable = |text: &str| -> String {
        text.chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .take(200)
            .collect()
    };
    match description {
        Some(text) => {
            AuthError::ProviderError(format!("{} ({})", printable(error), printable(text)))
        }
        None => AuthError::ProviderError(printable(error)),
    }
}
