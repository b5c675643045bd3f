//! `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662): what an app
//! may do with the tokens it holds, and only with its own.

use serde_json::json;
use uuid::Uuid;

use super::exchange::ClientAuth;
use super::{OAuthError, OAuthProvider};
use crate::domain::sessions::{ClientInfo, TokenKind, event, hash_refresh_token};

/// What introspection says of a token (RFC 7662); `None`: `{"active": false}`.
#[derive(Debug, Clone)]
pub struct Introspection {
    pub token_type: &'static str,
    pub client_id: String,
    pub sub: Uuid,
    pub scope: String,
    pub iat: Option<i64>,
    pub exp: i64,
    pub session_id: Uuid,
}

impl OAuthProvider {
    /// `POST /oauth2/revoke`: a refresh or access token of this client ends its grant
    /// (RFC 7009: an unknown or foreign token is not an error).
    pub async fn revoke(
        &self,
        auth: &ClientAuth,
        token: &str,
        client_info: &ClientInfo,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate_client(auth, client_info).await?;
        let session_id = match self.sessions.session_named_by(token, TokenKind::Grant) {
            Some(id) => Some(id),
            None => self.verify_access_token(token).map(|t| t.session_id),
        };
        let Some(session_id) = session_id else {
            return Ok(());
        };
        let Some(grant) = self
            .store
            .grant(session_id)
            .await?
            .filter(|g| g.client_id == client.id)
        else {
            return Ok(());
        };
        let event = event(
            self.clock.now(),
            "session-revoked",
            Some(grant.user_id),
            Some(session_id),
            client_info,
            json!({ "reason": "oauth2-revoked", "by": "client", "clientId": client.id }),
        );
        self.store
            .revoke_session(session_id, grant.user_id, "oauth2-revoked", &event)
            .await?;
        Ok(())
    }

    /// `POST /oauth2/introspect`, for confidential clients, about their own tokens.
    pub async fn introspect(
        &self,
        auth: &ClientAuth,
        token: &str,
        client_info: &ClientInfo,
    ) -> Result<Option<Introspection>, OAuthError> {
        let client = self.authenticate_client(auth, client_info).await?;
        if client.secret_hash.is_none() {
            return Err(OAuthError::invalid_client(
                "Introspection is for confidential clients.",
            ));
        }
        let now = self.clock.now();
        if let Some(session_id) = self.sessions.session_named_by(token, TokenKind::Grant) {
            let Some(grant) = self
                .store
                .grant(session_id)
                .await?
                .filter(|g| g.client_id == client.id)
            else {
                return Ok(None);
            };
            if !self
                .store
                .refresh_token_is_current(&hash_refresh_token(token), now)
                .await?
            {
                return Ok(None);
            }
            let session = self.store.session(session_id).await?;
            return Ok(session.map(|session| Introspection {
                token_type: "refresh_token",
                client_id: client.id.clone(),
                sub: grant.user_id,
                scope: grant.scopes.join(" "),
                iat: None,
                exp: session.expires_at.unix_timestamp(),
                session_id,
            }));
        }
        let Some(access) = self
            .verify_access_token(token)
            .filter(|t| t.client_id == client.id)
        else {
            return Ok(None);
        };
        if !self.sessions.is_live(access.session_id).await? {
            return Ok(None);
        }
        Ok(Some(Introspection {
            token_type: "Bearer",
            client_id: access.client_id,
            sub: access.sub,
            scope: access.scopes.join(" "),
            iat: Some(access.iat),
            exp: access.exp,
            session_id: access.session_id,
        }))
    }
}
