//! Sessions granted to other apps (Tessera as an OAuth provider): built here like every
//! session, tagged as grants so that only `POST /oauth2/token` rotates their tokens.

use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{ClientInfo, Lineage, Presented, Sessions, TokenKind, cap, token_row_id};
use crate::domain::errors::AuthError;
use crate::store::{NewRefreshToken, SessionRecord};

/// The rows of a new grant's session, for the OAuth provider to store with its grant.
pub struct NewGrantSession {
    pub session: SessionRecord,
    pub token: NewRefreshToken,
    /// The first refresh token, in the clear.
    pub refresh_token: String,
}

impl Sessions {
    /// The rows of a new session granted to an app on the word of a user who authenticated
    /// at `auth_time` by `amr` (their own session's): it lives `lifetime` (the refresh
    /// lifetime with `offline_access`, else the access token's), under the session cap.
    pub fn grant_session(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
        auth_time: OffsetDateTime,
        amr: &[String],
        lifetime: Duration,
    ) -> NewGrantSession {
        let now = self.clock.now();
        let absolute = self.lifetimes.max_age.map(|age| now + age);
        let expires_at = cap(now + lifetime, absolute);
        let session = SessionRecord {
            id: Uuid::new_v4(),
            user_id,
            created_at: now,
            last_used_at: now,
            expires_at,
            absolute_expires_at: absolute,
            revoked_at: None,
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
            auth_time,
            amr: amr.to_vec(),
        };
        let lineage = Lineage::first_of(session.id, TokenKind::Grant);
        let minted = self.refresh_tokens.mint(lineage);
        NewGrantSession {
            token: NewRefreshToken {
                id: token_row_id(),
                hash: minted.hash,
                created_at: now,
                expires_at,
                generation: lineage.generation,
            },
            refresh_token: minted.token,
            session,
        }
    }

    /// The refresh lifetime (`TESSERA_REFRESH_TOKEN_TTL`).
    pub fn refresh_ttl(&self) -> Duration {
        self.lifetimes.refresh_ttl
    }

    /// The session a refresh token names, if it is a token of `kind` Tessera issued (its
    /// tag holds); no database work.
    pub fn session_named_by(&self, presented: &str, kind: TokenKind) -> Option<Uuid> {
        match self.refresh_tokens.parse(presented) {
            Some(Presented::Issued(lineage)) if lineage.kind == kind => Some(lineage.session_id),
            _ => None,
        }
    }

    /// Whether a session is live now (memory while trusted, else the store).
    pub async fn is_live(&self, session_id: Uuid) -> Result<bool, AuthError> {
        Ok(self.liveness.is_live(session_id, self.clock.now()).await?)
    }
}
