//! Sessions and refresh-token rotation (the README's tokens section).
//!
//! A session is one sign-in; its id is the `sid` claim and the Session's `refreshTokenId`.
//! Each `POST /token` exchanges the presented refresh token, in one transaction:
//! 1. current token: a successor is minted, the old one marked rotated;
//! 2. rotated less than the grace window ago and its successor unused: the *same*
//!    successor is returned (two tabs, or a retry after a lost response). The database
//!    keeps only hashes, so the successor is also kept sealed under a key derived from
//!    the presented token: only a caller holding that token can recover it;
//! 3. any other reuse: the whole session is revoked and a security event recorded;
//! 4. unknown, expired or revoked: refused.
//!
//! A session keeps two token rows however often it refreshes: its current token and the
//! one that token replaced. A token names its session and generation under a server MAC
//! (`refresh_tokens.rs`), so a token of an earlier generation, whose row is gone, is still
//! recognised, and its reuse revokes the session as in 3.
//!
//! The decision itself, and the sealing of successors, are in `rotation.rs`; how and when
//! a session was authenticated (`amr`, `auth_time`, step-up, recent sign-in), in
//! `authentication.rs`.

mod authentication;
mod grants;
mod refresh_tokens;
mod rotation;
mod sign_out;

pub use self::authentication::{AuthMethod, SteppedUp, with_methods};
pub use self::grants::NewGrantSession;
pub use self::refresh_tokens::{
    Lineage, Minted, Presented, RefreshTokens, TokenKind, hash_refresh_token,
};

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::SessionConfig;
use crate::domain::errors::AuthError;
use crate::domain::liveness::Liveness;
use crate::domain::tokens::{AccessClaims, Expiry, Subject, TokenIssuer};
use crate::store::{
    CurrentRotation, NewRefreshToken, RejectReason, RotationPlan, SecurityEventRecord,
    SessionRecord, Store, TokenState, UserRecord,
};
use crate::support::clock::Clock;
use crate::support::metrics;

use self::rotation::{decide, seal_successor};

/// Longest user agent kept with a session.
const MAX_USER_AGENT_CHARS: usize = 512;

/// Where a request came from, recorded with sessions and events.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    /// Keeps the user agent to a sane length.
    pub fn new(ip: String, user_agent: &str) -> Self {
        Self {
            ip,
            user_agent: user_agent.chars().take(MAX_USER_AGENT_CHARS).collect(),
        }
    }
}

/// A session as handed to a client.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub access_token: String,
    pub access_token_expires_in: u64,
    pub refresh_token: String,
    pub session_id: Uuid,
    /// When the session ends unless refreshed (cookie Max-Age follows it).
    pub expires_at: OffsetDateTime,
    pub user: UserRecord,
}

/// A session after a refresh-token exchange.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub user: UserRecord,
    pub session: SessionRecord,
    /// The new refresh token (or, within the grace window, the same successor again).
    pub refresh_token: String,
    /// When the session ends unless refreshed.
    pub expires_at: OffsetDateTime,
    /// The instant of the exchange.
    pub now: OffsetDateTime,
}

/// Session lifetimes.
#[derive(Debug, Clone)]
struct Lifetimes {
    refresh_ttl: Duration,
    max_age: Option<Duration>,
    grace: Duration,
    /// How old a sign-in may be and still count as recent (`TESSERA_RECENT_AUTH_WINDOW`).
    recent_auth: Duration,
}

/// Creates, rotates, lists and ends sessions.
pub struct Sessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tokens: Arc<TokenIssuer>,
    lifetimes: Lifetimes,
    refresh_tokens: RefreshTokens,
    /// Whether sessions are live, from memory when it can be trusted.
    liveness: Arc<Liveness>,
}

impl Sessions {
    /// Sessions with the configured lifetimes.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        tokens: Arc<TokenIssuer>,
        refresh_tokens: RefreshTokens,
        config: &SessionConfig,
    ) -> Self {
        Self {
            liveness: Arc::new(Liveness::new(store.clone(), config.session_cache_size)),
            store,
            clock,
            tokens,
            lifetimes: Lifetimes {
                refresh_ttl: config.refresh_token_ttl,
                max_age: config.session_max_age,
                grace: config.refresh_reuse_grace,
                recent_auth: config.recent_auth_window,
            },
            refresh_tokens,
        }
    }

    /// Starts a session for a user who just proved who they are, by `methods` (none for
    /// an anonymous user): the session's `amr`, and its `auth_time` is now.
    pub async fn create(
        &self,
        user: UserRecord,
        client: &ClientInfo,
        methods: &[AuthMethod],
    ) -> Result<IssuedSession, AuthError> {
        let now = self.clock.now();
        let absolute = self.lifetimes.max_age.map(|age| now + age);
        let expires_at = cap(now + self.lifetimes.refresh_ttl, absolute);
        let session = SessionRecord {
            id: Uuid::new_v4(),
            user_id: user.id,
            created_at: now,
            last_used_at: now,
            expires_at,
            absolute_expires_at: absolute,
            revoked_at: None,
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
            auth_time: now,
            amr: authentication::names(methods),
        };
        let minted = self.refresh_tokens.mint(Lineage::first(session.id));
        let token = NewRefreshToken {
            id: token_row_id(),
            hash: minted.hash,
            created_at: now,
            expires_at,
            generation: Lineage::first(session.id).generation,
        };
        self.store.create_session(&session, &token).await?;
        self.issue(user, &session, minted.token, now, expires_at)
    }

    /// `POST /token`: exchanges a refresh token as described in the module documentation.
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        let rotated = self.rotate(presented, client, TokenKind::Session).await?;
        self.issue(
            rotated.user,
            &rotated.session,
            rotated.refresh_token,
            rotated.now,
            rotated.expires_at,
        )
    }

    /// The exchange itself, for a token of a session of `wanted` kind (a token of the
    /// other kind is refused as invalid before any database work): the session as rotated
    /// and its new (or replayed) refresh token. [`refresh`](Self::refresh) adds Tessera's
    /// access token; an app's grant gets its own tokens from the OAuth provider.
    pub async fn rotate(
        &self,
        presented: &str,
        client: &ClientInfo,
        wanted: TokenKind,
    ) -> Result<Rotated, AuthError> {
        let kind = match self.refresh_tokens.parse(presented) {
            Some(Presented::Issued(lineage)) if lineage.kind == wanted => {
                Presented::Issued(lineage)
            }
            // Tokens from before generations were all Tessera sessions'.
            Some(Presented::Legacy) if wanted == TokenKind::Session => Presented::Legacy,
            _ => {
                metrics::refresh("invalid");
                return Err(AuthError::InvalidRefreshToken);
            }
        };
        let now = self.clock.now();
        let token_hash = hash_refresh_token(presented);
        let lineage = match kind {
            Presented::Issued(lineage) => lineage,
            // Issued before generations: its session is found by its hash, and it counts as
            // generation 0. This happens once a session: its successor names its lineage.
            Presented::Legacy => match self.store.session_by_refresh_token(&token_hash).await? {
                Some(session) => Lineage {
                    session_id: session.id,
                    generation: 0,
                    kind: TokenKind::Session,
                },
                None => {
                    metrics::refresh("invalid");
                    return Err(AuthError::InvalidRefreshToken);
                }
            },
        };
        let successor = self.refresh_tokens.mint(lineage.next());
        // The common case, a current token of a live session (`TokenState::may_rotate`), in
        // one statement where the store can; everything else (and SQLite) through the
        // locked transaction below, where `decide` applies the same rule.
        let current = CurrentRotation {
            now,
            successor: NewRefreshToken {
                id: token_row_id(),
                hash: successor.hash.clone(),
                created_at: now,
                expires_at: now + self.lifetimes.refresh_ttl,
                generation: lineage.next().generation,
            },
            successor_sealed: seal_successor(presented, &successor.token),
            user_agent: client.user_agent.clone(),
            ip: client.ip.clone(),
        };
        if let Some(rotated) = self
            .store
            .rotate_current_refresh_token(&token_hash, &current)
            .await?
        {
            metrics::refresh("rotated");
            return Ok(Rotated {
                expires_at: rotated.session.expires_at,
                user: rotated.user,
                session: rotated.session,
                refresh_token: successor.token,
                now,
            });
        }
        // The session and user the transaction saw, kept for the response.
        let seen: Mutex<Option<(SessionRecord, UserRecord)>> = Mutex::new(None);
        let decide = |state: Option<TokenState>| {
            if let Some(state) = &state {
                *seen.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((state.session.clone(), state.user.clone()));
            }
            decide(state, presented, &current, &self.lifetimes, client)
        };
        let plan = self
            .store
            .rotate_refresh_token(&token_hash, &decide)
            .await?;
        let (token, expires_at) = match plan {
            RotationPlan::Rotate {
                session_expires_at, ..
            } => {
                metrics::refresh("rotated");
                (successor.token, Some(session_expires_at))
            }
            RotationPlan::Replay { successor } => {
                metrics::refresh("replayed");
                (successor, None)
            }
            RotationPlan::Revoke { event } => {
                metrics::refresh("reused");
                tracing::warn!(session = ?event.session_id, "refresh token reuse detected; session revoked");
                return Err(AuthError::RefreshTokenReused);
            }
            RotationPlan::Reject(RejectReason::Disabled) => {
                metrics::refresh("disabled");
                return Err(AuthError::DisabledUser);
            }
            RotationPlan::Reject(RejectReason::Invalid) => {
                let unknown = seen.lock().unwrap_or_else(|e| e.into_inner()).is_none();
                if unknown && matches!(kind, Presented::Issued(_)) {
                    return self.earlier_generation(lineage, now, client).await;
                }
                metrics::refresh("invalid");
                return Err(AuthError::InvalidRefreshToken);
            }
        };
        let (session, user) = seen
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .ok_or(AuthError::InvalidRefreshToken)?;
        Ok(Rotated {
            expires_at: expires_at.unwrap_or(session.expires_at),
            user,
            session,
            refresh_token: token,
            now,
        })
    }

    /// A token Tessera issued (its tag holds) that no row knows: an earlier generation of its
    /// session, since a session keeps rows only for its current token and the one that
    /// token replaced. Presenting it is reuse, and its session, if still live, is revoked
    /// with a security event. A session that ended, was revoked or is unknown makes it
    /// just an invalid token.
    async fn earlier_generation(
        &self,
        lineage: Lineage,
        now: OffsetDateTime,
        client: &ClientInfo,
    ) -> Result<Rotated, AuthError> {
        let event = event(
            now,
            "refresh-token-reused",
            None,
            Some(lineage.session_id),
            client,
            json!({
                "cause": "earlier-generation",
                "by": "system",
                "generation": lineage.generation,
            }),
        );
        if self
            .store
            .revoke_earlier_generation(lineage.session_id, lineage.generation, &event)
            .await?
        {
            metrics::refresh("reused");
            tracing::warn!(session = %lineage.session_id, "refresh token reuse detected (an earlier generation); session revoked");
            return Err(AuthError::RefreshTokenReused);
        }
        metrics::refresh("invalid");
        Err(AuthError::InvalidRefreshToken)
    }

    /// The session's tokens; the access token carries the session's `auth_time` and `amr`
    /// as stored (a refresh keeps them).
    fn issue(
        &self,
        user: UserRecord,
        session: &SessionRecord,
        refresh_token: String,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<IssuedSession, AuthError> {
        let access_token = self.tokens.issue(&Subject::of(&user, session), now)?;
        Ok(IssuedSession {
            access_token,
            access_token_expires_in: self.tokens.ttl_seconds(),
            refresh_token,
            session_id: session.id,
            expires_at,
            user,
        })
    }

    /// Verifies an access token and checks that its session is still live.
    pub async fn authenticate(&self, access_token: &str) -> Result<AccessClaims, AuthError> {
        let now = self.clock.now();
        let claims = self
            .tokens
            .verify(access_token, now, Expiry::Enforce)
            .map_err(|err| {
                tracing::debug!(reason = %err, "access token refused");
                AuthError::InvalidToken
            })?;
        if !self.liveness.is_live(claims.sid, now).await? {
            return Err(AuthError::InvalidToken);
        }
        Ok(claims)
    }

    /// The liveness view the checks above go through (its feed is started by the server;
    /// `/user` reads the user it remembered).
    pub fn liveness(&self) -> &Arc<Liveness> {
        &self.liveness
    }

    /// The user's live sessions, newest first: their own sign-ins, not the grants other apps
    /// hold (those are the user's authorised apps, listed and withdrawn by app).
    pub async fn list(&self, user_id: Uuid) -> Result<Vec<SessionRecord>, AuthError> {
        let now = self.clock.now();
        let mut sessions = self.store.live_sessions(user_id, now).await?;
        let grants = self.store.live_grants_of(user_id, now).await?;
        if !grants.is_empty() {
            sessions.retain(|s| !grants.iter().any(|g| g.session_id == s.id));
        }
        Ok(sessions)
    }

    /// Revokes one of the user's sessions; `SessionNotFound` if it is not theirs or not live.
    pub async fn revoke(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let event = event(
            now,
            "session-revoked",
            Some(user_id),
            Some(session_id),
            client,
            json!({ "reason": "user", "by": "user" }),
        );
        if self
            .store
            .revoke_session(session_id, user_id, "user", &event)
            .await?
        {
            Ok(())
        } else {
            Err(AuthError::SessionNotFound)
        }
    }
}

/// A security event at `now` for this client.
pub fn event(
    now: OffsetDateTime,
    kind: &str,
    user_id: Option<Uuid>,
    session_id: Option<Uuid>,
    client: &ClientInfo,
    detail: serde_json::Value,
) -> SecurityEventRecord {
    SecurityEventRecord {
        occurred_at: now,
        kind: kind.into(),
        user_id,
        session_id,
        ip: client.ip.clone(),
        user_agent: client.user_agent.clone(),
        detail,
    }
}

/// The id of a new `refresh_tokens` row: time-ordered (UUIDv7), so that each rotation's
/// insert lands at the right edge of the primary-key index instead of on a random page;
/// with a million sessions that is one page fewer to find per refresh. Never shown to
/// anyone (sessions keep random ids: their id is the `sid` claim).
fn token_row_id() -> Uuid {
    Uuid::now_v7()
}

fn cap(at: OffsetDateTime, absolute: Option<OffsetDateTime>) -> OffsetDateTime {
    absolute.map_or(at, |absolute| at.min(absolute))
}
