//! `POST /signout`: which session a credential names, and when it may end them all.

use serde_json::json;
use uuid::Uuid;

use super::{ClientInfo, Presented, Sessions, TokenKind, event, hash_refresh_token};
use crate::domain::errors::AuthError;
use crate::domain::tokens::Expiry;

impl Sessions {
    /// `POST /signout`: ends the session named by a refresh token or, failing that, by an
    /// access token whose signature, `iss` and `aud` verify (its `exp` may be past). Finding
    /// nothing is not an error.
    ///
    /// With `all`, every session of that user, but only on the word of a live credential
    /// presented with the request: a current refresh token of a live session, or an
    /// unexpired access token of a live session, of that same user. Anyone who once saw an
    /// old token could otherwise sign the user out everywhere, for ever. A dead credential
    /// still ends the one session it names (as without `all`); the answer is then
    /// `SignOutAllNeedsLiveCredential`, so that the client knows the others live on.
    pub async fn sign_out(
        &self,
        refresh_token: Option<&str>,
        access_token: Option<&str>,
        all: bool,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        // Each credential that names a session: (session, user, live). Liveness is only
        // looked up when `all` needs it.
        let mut named: Vec<(Uuid, Uuid, bool)> = Vec::new();
        // Only a Tessera session's refresh token: an app's grant token names nothing here
        // (the app ends its own grant at `/oauth2/revoke`), so an app, or whoever stole its
        // token, can never sign the user out of Tessera, let alone everywhere.
        if let Some(token) = refresh_token
            && let Some(kind) = self.refresh_tokens.parse(token)
            && !matches!(kind, Presented::Issued(lineage) if lineage.kind == TokenKind::Grant)
        {
            let hash = hash_refresh_token(token);
            if let Some(session) = self.store.session_by_refresh_token(&hash).await? {
                let live = all && self.store.refresh_token_is_current(&hash, now).await?;
                named.push((session.id, session.user_id, live));
            } else if let Presented::Issued(lineage) = kind
                && let Some(session) = self.store.session(lineage.session_id).await?
            {
                // An earlier generation, whose row is gone: it still names its session
                // (its tag proves Tessera issued it for that session), as every token of
                // a session always could. Never a live credential.
                named.push((session.id, session.user_id, false));
            }
        }
        if (named.is_empty() || all)
            && let Some(token) = access_token
            && let Ok(claims) = self.tokens.verify(token, now, Expiry::Ignore)
        {
            let live = all
                && self.tokens.verify(token, now, Expiry::Enforce).is_ok()
                && self.liveness.is_live(claims.sid, now).await?;
            named.push((claims.sid, claims.sub, live));
        }
        let Some(&(session_id, user_id, _)) = named.first() else {
            return if all {
                Err(AuthError::SignOutAllNeedsLiveCredential)
            } else {
                Ok(())
            };
        };
        let everywhere = all && named.iter().any(|&(_, user, live)| live && user == user_id);
        let reason = if everywhere { "signout-all" } else { "signout" };
        let event = event(
            now,
            "session-revoked",
            Some(user_id),
            Some(session_id),
            client,
            json!({ "reason": reason, "by": "user" }),
        );
        if everywhere {
            self.store
                .revoke_user_sessions(user_id, None, reason, &event)
                .await?;
        } else {
            self.store
                .revoke_session(session_id, user_id, reason, &event)
                .await?;
        }
        if all && !everywhere {
            return Err(AuthError::SignOutAllNeedsLiveCredential);
        }
        Ok(())
    }
}
