//! What an app's grant gives and how it ends: `userinfo`, the user's authorised apps (and
//! their revocation by the user or an administrator), and RP-initiated logout.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

use super::jwt::user_claims;
use super::{OAuthError, OAuthProvider, is_client_id};
use crate::domain::errors::AuthError;
use crate::domain::sessions::{ClientInfo, event};

/// The claims `userinfo` answers: `sub`, then the user's claims by scope.
pub type UserInfo = Map<String, Value>;

/// An app the user has authorised: a consent, live grants, or both.
#[derive(Debug, Clone)]
pub struct AuthorisedApp {
    pub client_id: String,
    pub name: String,
    /// The scopes consented to (or, for a first-party app, those of its grants).
    pub scopes: Vec<String>,
    /// When consent was last given (or the first live grant was issued).
    pub granted_at: OffsetDateTime,
    /// Live grants (sessions) the app holds.
    pub active_grants: usize,
}

/// What RP-initiated logout did and where it sends the browser.
#[derive(Debug, Clone)]
pub struct EndSession {
    /// The app's registered post-logout URI (with `state`); `None`: a page on Tessera.
    pub redirect: Option<Url>,
    /// Whether a grant was ended.
    pub signed_out: bool,
    /// The user a valid `id_token_hint` named: a Tessera session of this user in the same
    /// browser may end too (never another user's, so a forged logout link harms nobody).
    pub user_id: Option<Uuid>,
}

impl OAuthProvider {
    /// `/oauth2/userinfo`: the claims of the user an app's access token is for, while its
    /// grant is live.
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo, OAuthError> {
        let token = self
            .verify_access_token(access_token)
            .ok_or_else(OAuthError::invalid_token)?;
        // The grant's liveness and its user in one lookup, from memory while it can be
        // trusted (as for Tessera's own `/user`).
        let user = self
            .sessions
            .liveness()
            .live_user(token.session_id, self.clock.now())
            .await
            .map_err(AuthError::from)?
            .filter(|u| u.id == token.sub && !u.disabled)
            .ok_or_else(OAuthError::invalid_token)?;
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(user.id));
        claims.extend(user_claims(user.as_ref(), &token.scopes));
        Ok(claims)
    }

    /// The apps `user_id` has authorised, oldest first.
    pub async fn authorised_apps(&self, user_id: Uuid) -> Result<Vec<AuthorisedApp>, OAuthError> {
        let now = self.clock.now();
        let grants = self.store.live_grants_of(user_id, now).await?;
        let mut apps: Vec<AuthorisedApp> = Vec::new();
        for consent in self.store.consents_of(user_id).await? {
            apps.push(AuthorisedApp {
                client_id: consent.client_id,
                name: String::new(),
                scopes: consent.scopes,
                granted_at: consent.granted_at,
                active_grants: 0,
            });
        }
        for grant in grants {
            match apps.iter_mut().find(|a| a.client_id == grant.client_id) {
                Some(app) => app.active_grants += 1,
                None => apps.push(AuthorisedApp {
                    client_id: grant.client_id,
                    name: String::new(),
                    scopes: grant.scopes,
                    granted_at: grant.created_at,
                    active_grants: 1,
                }),
            }
        }
        for app in &mut apps {
            if let Some(client) = self.find_client(&app.client_id).await? {
                app.name = client.name;
            }
        }
        apps.sort_by_key(|a| a.granted_at);
        Ok(apps)
    }

    /// Withdraws what `user_id` gave an app: its grants end at once and consent will be
    /// asked again. `by`: `user` or `admin`, for the security event.
    pub async fn revoke_app(
        &self,
        user_id: Uuid,
        client_id: &str,
        by: &str,
        client: &ClientInfo,
    ) -> Result<(), OAuthError> {
        let event = event(
            self.clock.now(),
            "oauth2-grant-revoked",
            Some(user_id),
            None,
            client,
            json!({ "clientId": client_id, "by": by }),
        );
        if is_client_id(client_id)
            && self
                .store
                .revoke_client_grants(user_id, client_id, &event)
                .await?
        {
            Ok(())
        } else {
            Err(OAuthError::not_found(
                "The user has not authorised this app.",
            ))
        }
    }

    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With a valid
    /// `id_token_hint` (expired is fine) the grant it names ends; the browser then goes to
    /// `post_logout_redirect_uri` if the app registered it exactly, else to a page.
    pub async fn end_session(
        &self,
        id_token_hint: Option<&str>,
        client_id: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
        client: &ClientInfo,
    ) -> Result<EndSession, OAuthError> {
        let hint = id_token_hint.and_then(|t| self.verify_id_token_hint(t));
        if let (Some((aud, _)), Some(client_id)) = (&hint, client_id)
            && aud != client_id
        {
            return Err(OAuthError::invalid_request(
                "client_id differs from the audience of id_token_hint.",
            ));
        }
        let client_id = hint.as_ref().map(|(aud, _)| aud.as_str()).or(client_id);
        let mut signed_out = false;
        let mut user_id = None;
        if let Some((aud, session_id)) = &hint
            && let Some(grant) = self
                .store
                .grant(*session_id)
                .await?
                .filter(|g| &g.client_id == aud)
        {
            let event = event(
                self.clock.now(),
                "session-revoked",
                Some(grant.user_id),
                Some(*session_id),
                client,
                json!({ "reason": "rp-logout", "by": "client", "clientId": aud }),
            );
            signed_out = self
                .store
                .revoke_session(*session_id, grant.user_id, "rp-logout", &event)
                .await?;
            user_id = Some(grant.user_id);
        }
        let registered = match (client_id, post_logout_redirect_uri) {
            (Some(id), Some(uri)) => self
                .find_client(id)
                .await?
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|u| u == uri)),
            _ => false,
        };
        if let (true, Some(uri)) = (registered, post_logout_redirect_uri)
            && let Ok(mut url) = Url::parse(uri)
        {
            if let Some(state) = state {
                url.query_pairs_mut().append_pair("state", state);
            }
            return Ok(EndSession {
                redirect: Some(url),
                signed_out,
                user_id,
            });
        }
        if post_logout_redirect_uri.is_some() {
            return Err(OAuthError::invalid_request(
                "post_logout_redirect_uri is not one the app registered (or the request does not say which app: send id_token_hint or client_id).",
            ));
        }
        Ok(EndSession {
            redirect: None,
            signed_out,
            user_id,
        })
    }
}
