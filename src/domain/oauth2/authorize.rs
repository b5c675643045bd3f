//! `/oauth2/authorize` and the login step after it.
//!
//! 1. The app sends the browser to `/oauth2/authorize`. Until the client and its redirect
//!    URI are known good, nothing is sent back to the app: an error is a page on Tessera
//!    (an attacker cannot use Tessera to bounce a browser to a URI of their choosing).
//!    After that, errors go back to the redirect URI with `error`, `state` and `iss`.
//! 2. A valid request is stored and the browser goes to the login page
//!    (`TESSERA_OAUTH2_LOGIN_URL`, default the page Tessera ships) with `?request_id=`,
//!    carrying a browser-binding cookie: the shipped pages act only for the browser that
//!    began the request.
//! 3. A signed-in user approves (`POST /oauth2/login` with their access token, as Nhost's
//!    API; or the shipped consent page). The request gets a single-use code, valid for
//!    `TESSERA_OAUTH2_CODE_TTL`, and the browser goes back to the app with `code`, `state`
//!    and `iss` (RFC 9207, so the app can tell which server answered).

use serde_json::json;
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

use super::{OAuthError, OAuthProvider, hash_secret, split_scopes};
use crate::domain::sessions::{ClientInfo, event};
use crate::store::{AuthorizationRequestRecord, ConsentRecord, OAuthClientRecord};

/// Longest `state` and `nonce` kept.
const MAX_STATE_CHARS: usize = 1024;

/// The query of `/oauth2/authorize` (or its form, for POST), as sent.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub response_mode: Option<String>,
    /// Request objects (JAR) are not supported; their presence is an error.
    pub request: Option<String>,
    pub request_uri: Option<String>,
}

/// Where `/oauth2/authorize` sends the browser.
#[derive(Debug, Clone)]
pub enum AuthorizeOutcome {
    /// Nothing may go back to the app (unknown client, a redirect URI it did not
    /// register): a page on Tessera says what is wrong.
    ErrorPage {
        code: &'static str,
        description: String,
    },
    /// Back to the app with an error.
    Redirect(Url),
    /// To the login page, setting the browser-binding cookie to `browser_secret`.
    Login {
        location: Url,
        browser_secret: String,
    },
}

/// A request waiting for the user, as the login page shows it.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    pub id: Uuid,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub redirect_uri: String,
    /// Consent is not asked for this client.
    pub first_party: bool,
    pub expires_at: OffsetDateTime,
}

/// Who approves a request: a user signed in to Tessera, as their session says.
#[derive(Debug, Clone)]
pub struct Approval {
    pub user_id: Uuid,
    pub auth_time: OffsetDateTime,
    pub amr: Vec<String>,
}

impl OAuthProvider {
    /// `/oauth2/authorize`. `browser_secret`: the binding cookie the browser already has.
    pub async fn authorize(
        &self,
        params: AuthorizeParams,
        browser_secret: Option<&str>,
    ) -> Result<AuthorizeOutcome, OAuthError> {
        let page = |code: &'static str, description: &str| {
            Ok(AuthorizeOutcome::ErrorPage {
                code,
                description: description.to_owned(),
            })
        };
        let Some(client_id) = params.client_id.as_deref() else {
            return page(
                "invalid_request",
                "The request names no client (client_id).",
            );
        };
        let Some(client) = self.find_client(client_id).await? else {
            return page(
                "invalid_client",
                "No app is registered with this client_id.",
            );
        };
        let Some(redirect_uri) = params.redirect_uri.clone() else {
            return page("invalid_request", "The request has no redirect_uri.");
        };
        if !client.redirect_uris.contains(&redirect_uri) {
            return page(
                "invalid_request",
                "The redirect_uri is not one this app registered (they are compared exactly).",
            );
        }
        let Ok(target) = Url::parse(&redirect_uri) else {
            return page("invalid_request", "The redirect_uri is not a URL.");
        };
        // A state too long to keep goes back unchanged in the error, never cut short (a
        // client compares it byte for byte).
        let state = params.state.clone();
        let back = |code: &str, description: &str| {
            Ok(AuthorizeOutcome::Redirect(self.error_redirect(
                &target,
                code,
                description,
                state.as_deref(),
            )))
        };
        if state.as_deref().is_some_and(|s| s.len() > MAX_STATE_CHARS) {
            return back("invalid_request", "The state is longer than 1024 bytes.");
        }
        if params.response_type.as_deref() != Some("code") {
            return back(
                "unsupported_response_type",
                "Only response_type=code is supported (OAuth 2.1: no implicit flow).",
            );
        }
        if params.request.is_some() {
            return back(
                "request_not_supported",
                "Request objects are not supported.",
            );
        }
        if params.request_uri.is_some() {
            return back(
                "request_uri_not_supported",
                "Request objects are not supported.",
            );
        }
        if params
            .response_mode
            .as_deref()
            .is_some_and(|m| m != "query")
        {
            return back("invalid_request", "Only response_mode=query is supported.");
        }
        let Some(challenge) = params.code_challenge.clone() else {
            return back(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256.",
            );
        };
        if params.code_challenge_method.as_deref() != Some("S256") {
            return back(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted).",
            );
        }
        if challenge.len() != 43 || !is_base64url(&challenge) {
            return back(
                "invalid_request",
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters).",
            );
        }
        let scopes = split_scopes(params.scope.as_deref().unwrap_or_default());
        if scopes.is_empty() {
            return back("invalid_scope", "The request asks for no scope.");
        }
        if scopes.iter().any(|s| !client.scopes.contains(s)) {
            return back(
                "invalid_scope",
                "The request asks for a scope this app is not allowed.",
            );
        }
        if params
            .nonce
            .as_deref()
            .is_some_and(|n| n.len() > MAX_STATE_CHARS)
        {
            return back(
                "invalid_request",
                "The nonce is longer than 1024 characters.",
            );
        }
        if params
            .prompt
            .as_deref()
            .is_some_and(|p| p.split(' ').any(|p| p == "none"))
        {
            // Tessera shows a page to every authorization (the user signs in or approves
            // there), so it cannot answer without one.
            return back(
                "login_required",
                "prompt=none cannot be answered: the user must sign in.",
            );
        }
        let browser_secret = match browser_secret {
            Some(secret) if secret.len() == 43 && is_base64url(secret) => secret.to_owned(),
            _ => self.secret(),
        };
        let now = self.clock.now();
        let request = AuthorizationRequestRecord {
            id: Uuid::new_v4(),
            client_id: client.id.clone(),
            redirect_uri,
            scopes,
            state,
            nonce: params.nonce,
            code_challenge: challenge,
            browser_hash: Some(hash_secret(&browser_secret)),
            created_at: now,
            expires_at: now + self.config.request_ttl,
            user_id: None,
            auth_time: None,
            amr: Vec::new(),
            code_hash: None,
            code_expires_at: None,
            redeemed_at: None,
            session_id: None,
            reused_at: None,
        };
        self.store.insert_authorization_request(&request).await?;
        let mut location = self.config.login_url.clone();
        location
            .query_pairs_mut()
            .append_pair("request_id", &request.id.to_string());
        Ok(AuthorizeOutcome::Login {
            location,
            browser_secret,
        })
    }

    /// The request `id` while it waits for the user (`GET /oauth2/login`). With
    /// `browser_secret` (the shipped pages), only for the browser that began it.
    pub async fn pending_request(
        &self,
        id: Uuid,
        browser_secret: Option<&str>,
    ) -> Result<PendingRequest, OAuthError> {
        let (request, client) = self.waiting(id, browser_secret).await?;
        Ok(PendingRequest {
            id: request.id,
            client_id: client.id,
            client_name: client.name,
            scopes: request.scopes,
            redirect_uri: request.redirect_uri,
            first_party: client.first_party,
            expires_at: request.expires_at,
        })
    }

    /// Whether `user_id` must still be asked to consent to the request: not for a
    /// first-party client, nor when an earlier consent covers every scope asked.
    pub async fn needs_consent(
        &self,
        pending: &PendingRequest,
        user_id: Uuid,
    ) -> Result<bool, OAuthError> {
        if pending.first_party {
            return Ok(false);
        }
        let consent = self.store.consent(user_id, &pending.client_id).await?;
        Ok(!consent.is_some_and(|c| pending.scopes.iter().all(|s| c.scopes.contains(s))))
    }

    /// The user approves request `id` (having consented, where consent is asked): the
    /// request gets its code, the consent is remembered, and the answer is where the
    /// browser goes back to the app.
    pub async fn approve(
        &self,
        id: Uuid,
        approval: Approval,
        browser_secret: Option<&str>,
        client_info: &ClientInfo,
    ) -> Result<Url, OAuthError> {
        let (request, client) = self.waiting(id, browser_secret).await?;
        let user = self
            .store
            .user_by_id(approval.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| OAuthError::new("access_denied", 403, "The account is disabled."))?;
        if user.is_anonymous {
            return Err(OAuthError::new(
                "access_denied",
                403,
                "An anonymous user cannot sign in to other apps; sign up first.",
            ));
        }
        let now = self.clock.now();
        let code = self.secret();
        let approved = AuthorizationRequestRecord {
            user_id: Some(user.id),
            auth_time: Some(approval.auth_time),
            amr: approval.amr,
            code_hash: Some(hash_secret(&code)),
            code_expires_at: Some(now + self.config.code_ttl),
            ..request.clone()
        };
        if !self
            .store
            .approve_authorization_request(&approved, now)
            .await?
        {
            return Err(gone());
        }
        if !client.first_party {
            let mut scopes = self
                .store
                .consent(user.id, &client.id)
                .await?
                .map(|c| c.scopes)
                .unwrap_or_default();
            for scope in &request.scopes {
                if !scopes.contains(scope) {
                    scopes.push(scope.clone());
                }
            }
            self.store
                .upsert_consent(&ConsentRecord {
                    user_id: user.id,
                    client_id: client.id.clone(),
                    scopes,
                    granted_at: now,
                })
                .await?;
        }
        let event = event(
            now,
            "oauth2-authorized",
            Some(user.id),
            None,
            client_info,
            json!({ "clientId": client.id, "scopes": request.scopes }),
        );
        self.store.record_event(&event).await?;
        let mut location = Url::parse(&request.redirect_uri)
            .map_err(|_| OAuthError::invalid_request("The redirect URI is not a URL."))?;
        {
            let mut query = location.query_pairs_mut();
            query.append_pair("code", &code);
            if let Some(state) = &request.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &self.issuer);
        }
        Ok(location)
    }

    /// The user declines request `id`: back to the app with `access_denied`.
    pub async fn deny(&self, id: Uuid, browser_secret: Option<&str>) -> Result<Url, OAuthError> {
        let (request, _) = self.waiting(id, browser_secret).await?;
        let target = Url::parse(&request.redirect_uri)
            .map_err(|_| OAuthError::invalid_request("The redirect URI is not a URL."))?;
        Ok(self.error_redirect(
            &target,
            "access_denied",
            "The user declined.",
            request.state.as_deref(),
        ))
    }

    /// A request still waiting for the user (unapproved, unexpired), with its client.
    async fn waiting(
        &self,
        id: Uuid,
        browser_secret: Option<&str>,
    ) -> Result<(AuthorizationRequestRecord, OAuthClientRecord), OAuthError> {
        let now = self.clock.now();
        let request = self
            .store
            .authorization_request(id)
            .await?
            .filter(|r| r.code_hash.is_none() && r.expires_at > now)
            .ok_or_else(gone)?;
        if let Some(secret) = browser_secret
            && request.browser_hash.as_deref() != Some(hash_secret(secret).as_slice())
        {
            return Err(gone());
        }
        let client = self
            .find_client(&request.client_id)
            .await?
            .ok_or_else(gone)?;
        Ok((request, client))
    }

    /// `target` with `error`, `error_description`, `state` and `iss`.
    fn error_redirect(
        &self,
        target: &Url,
        code: &str,
        description: &str,
        state: Option<&str>,
    ) -> Url {
        let mut url = target.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("error", code);
            query.append_pair("error_description", description);
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &self.issuer);
        }
        url
    }
}

/// The request is unknown, expired, already approved, or another browser's.
fn gone() -> OAuthError {
    OAuthError::new(
        "invalid_request",
        400,
        "This sign-in request is unknown, expired or already answered; start again from the app.",
    )
}

fn is_base64url(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
