//! Personal access tokens (PATs), as Nhost's: `POST /pat` makes one for the signed-in
//! user, `POST /signin/pat` exchanges it for an ordinary session.
//!
//! A PAT is a long-lived bearer credential for scripts and CI, so:
//! - it is 32 bytes from the OS generator in base64url after the prefix `tpat_` (Nhost's
//!   PATs are bare UUIDs; the prefix lets secret scanners recognise a leaked one), shown
//!   once and stored only as its SHA-256;
//! - it expires at the time its creator chose, at most [`MAX_LIFETIME`] ahead;
//! - making one needs a recent sign-in, the rule of a password change without the current
//!   password ([`Sessions::recent_sign_in`]); a session started with a PAT never counts as
//!   one, so a PAT cannot mint its successors or change the password;
//! - it starts sessions and nothing else: a disabled user's PAT is refused, and revoking a
//!   PAT ends the sessions it started. Disabling the user, a password change or reset, the
//!   claim of an unverified account and the revert of an email change revoke them all
//!   ([`revoke_all`]); deleting the user deletes them.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::domain::errors::AuthError;
use crate::domain::profile;
use crate::domain::sessions::{self, AuthMethod, ClientInfo, IssuedSession, Sessions};
use crate::store::{PatRecord, Store, StoreError};
use crate::support::clock::Clock;

/// What every PAT starts with.
pub const PREFIX: &str = "tpat_";
/// Characters after the prefix: 32 random bytes in base64url.
const RANDOM_CHARS: usize = 43;
/// The furthest ahead a PAT may expire.
pub const MAX_LIFETIME: Duration = Duration::from_secs(365 * 86_400);
/// Live PATs one user may have at a time.
pub const MAX_PER_USER: usize = 50;

/// A PAT just made: the only time its token exists outside the client.
#[derive(Debug)]
pub struct CreatedPat {
    pub id: Uuid,
    pub token: String,
}

/// SHA-256 of a PAT, as stored in `personal_access_tokens.token_hash`.
fn hash(token: &str) -> Vec<u8> {
    digest(&SHA256, token.as_bytes()).as_ref().to_vec()
}

/// Whether a string can be a PAT at all (saves a database round trip).
fn well_formed(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|random| {
        random.len() == RANDOM_CHARS
            && random
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// `expiresAt`: an RFC 3339 time after `now` and at most [`MAX_LIFETIME`] after it.
fn expiry(expires_at: &str, now: OffsetDateTime) -> Result<OffsetDateTime, AuthError> {
    let invalid = |message: &str| AuthError::InvalidRequest(message.into());
    let at = OffsetDateTime::parse(expires_at, &Rfc3339)
        .map_err(|_| invalid("expiresAt must be an RFC 3339 date-time."))?;
    if at <= now {
        return Err(invalid("expiresAt must be in the future."));
    }
    if at > now + MAX_LIFETIME {
        return Err(invalid("expiresAt must be at most 365 days ahead."));
    }
    Ok(at)
}

/// Makes, exchanges, lists and revokes personal access tokens.
pub struct PersonalAccessTokens {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sessions: Arc<Sessions>,
    rng: SystemRandom,
}

impl PersonalAccessTokens {
    /// PATs over this store, starting sessions with `sessions`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, sessions: Arc<Sessions>) -> Self {
        Self {
            store,
            clock,
            sessions,
            rng: SystemRandom::new(),
        }
    }

    /// `POST /pat`: a new PAT for the user of `session_id`, which must have signed in
    /// recently.
    pub async fn create(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        expires_at: &str,
        metadata: Option<Value>,
        client: &ClientInfo,
    ) -> Result<CreatedPat, AuthError> {
        let now = self.clock.now();
        let expires_at = expiry(expires_at, now)?;
        let metadata = metadata.unwrap_or_else(|| json!({}));
        profile::check_metadata(&metadata)?;
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if !self
            .sessions
            .may_make_sensitive_change(&user, session_id)
            .await?
        {
            return Err(AuthError::ElevatedClaimRequired);
        }
        if self.store.live_pats(user_id, now).await?.len() >= MAX_PER_USER {
            return Err(AuthError::InvalidRequest(format!(
                "A user may have at most {MAX_PER_USER} personal access tokens; revoke one first."
            )));
        }
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).expect("the OS random generator");
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let pat = PatRecord {
            id: Uuid::new_v4(),
            user_id,
            hash: hash(&token),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            metadata,
        };
        self.store.insert_pat(&pat).await?;
        self.record(sessions::event(
            now,
            "pat-created",
            Some(user_id),
            Some(session_id),
            client,
            json!({ "patId": pat.id, "expiresAt": expires_at.unix_timestamp() }),
        ))
        .await;
        Ok(CreatedPat { id: pat.id, token })
    }

    /// `POST /signin/pat`: a new session for the PAT's user. Unknown, expired and revoked
    /// PATs get the same answer.
    pub async fn sign_in(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        if !well_formed(token) {
            return Err(AuthError::InvalidPat);
        }
        let now = self.clock.now();
        let pat = self
            .store
            .use_pat(&hash(token), now)
            .await?
            .ok_or(AuthError::InvalidPat)?;
        let user = self
            .store
            .user_by_id(pat.user_id)
            .await?
            .ok_or(AuthError::InvalidPat)?;
        if user.disabled {
            return Err(AuthError::DisabledUser);
        }
        let issued = self
            .sessions
            .create(user, client, &[AuthMethod::Pat])
            .await?;
        // Before the client holds the session's tokens, so it is never used unmarked.
        self.store
            .link_pat_session(issued.session_id, pat.id)
            .await?;
        self.record(sessions::event(
            now,
            "signin-succeeded",
            Some(pat.user_id),
            Some(issued.session_id),
            client,
            json!({ "method": "pat", "patId": pat.id }),
        ))
        .await;
        Ok(issued)
    }

    /// The user's live PATs, newest first.
    pub async fn list(&self, user_id: Uuid) -> Result<Vec<PatRecord>, AuthError> {
        Ok(self.store.live_pats(user_id, self.clock.now()).await?)
    }

    /// Revokes one of the user's PATs (and the sessions it started); `PatNotFound` if it
    /// is not theirs or already revoked.
    pub async fn revoke(
        &self,
        user_id: Uuid,
        id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.revoke_as(user_id, id, "user", client).await
    }

    /// The live PATs of a user, for an administrator.
    pub async fn list_for_admin(&self, user_id: Uuid) -> Result<Vec<PatRecord>, AuthError> {
        self.store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        self.list(user_id).await
    }

    /// Revokes any user's PAT, for an administrator.
    pub async fn revoke_by_admin(&self, id: Uuid, actor: &ClientInfo) -> Result<(), AuthError> {
        let pat = self.store.pat(id).await?.ok_or(AuthError::PatNotFound)?;
        self.revoke_as(pat.user_id, id, "admin", actor).await
    }

    async fn revoke_as(
        &self,
        user_id: Uuid,
        id: Uuid,
        by: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let event = sessions::event(
            self.clock.now(),
            "pat-revoked",
            Some(user_id),
            None,
            client,
            json!({ "patId": id, "reason": by, "by": by }),
        );
        if self.store.revoke_pat(id, user_id, by, &event).await? {
            Ok(())
        } else {
            Err(AuthError::PatNotFound)
        }
    }

    async fn record(&self, event: crate::store::SecurityEventRecord) {
        // The PAT or session already exists; a lost audit line must not undo it.
        if let Err(err) = self.store.record_event(&event).await {
            tracing::warn!(error = %err, kind = %event.kind, "cannot record a security event");
        }
    }
}

/// Revokes every PAT of a user, and ends the sessions they started, as part of a change
/// that ends the user's other credentials (`reason`, done `by` the user or an admin).
/// Records one `pat-revoked` event when anything was revoked; returns how many PATs.
pub async fn revoke_all(
    store: &dyn Store,
    user_id: Uuid,
    now: OffsetDateTime,
    reason: &str,
    by: &str,
    client: &ClientInfo,
) -> Result<u64, StoreError> {
    let event = sessions::event(
        now,
        "pat-revoked",
        Some(user_id),
        None,
        client,
        json!({ "all": true, "reason": reason, "by": by }),
    );
    store.revoke_user_pats(user_id, reason, &event).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_prefixed_base64url_of_the_right_length_is_well_formed() {
        let token = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert!(well_formed(&token));
        assert!(!well_formed(&token[PREFIX.len()..]));
        assert!(!well_formed(&format!("{token}A")));
        assert!(!well_formed(&token.replace('H', "+")));
        assert!(!well_formed("2c35b6f3-c4b9-48e3-978a-d4d0f1d42e24"));
        assert!(!well_formed(""));
    }

    #[test]
    fn expiry_is_in_the_future_and_within_a_year() {
        let now = OffsetDateTime::parse("2030-01-01T00:00:00Z", &Rfc3339).unwrap();
        assert!(expiry("2030-06-01T00:00:00Z", now).is_ok());
        assert!(expiry("2030-06-01T02:00:00+02:00", now).is_ok());
        assert!(expiry("2029-12-31T23:59:59Z", now).is_err());
        assert!(expiry("2030-01-01T00:00:00Z", now).is_err());
        assert!(expiry("2031-01-02T00:00:00Z", now).is_err());
        assert!(expiry("tomorrow", now).is_err());
        assert!(expiry("", now).is_err());
    }
}
