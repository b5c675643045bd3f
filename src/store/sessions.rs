//! Sessions and their refresh tokens.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    CurrentRotation, NewRefreshToken, RotatedSession, RotationPlan, SecurityEventRecord,
    SessionRecord, StoreResult, TokenState,
};

/// Sessions, their refresh tokens and the refresh-token exchange. Part of
/// [`Store`](super::Store).
///
/// The exchange has two paths. [`rotate_refresh_token`](Self::rotate_refresh_token) is the
/// general one: it shows the locked state to the domain's decision and carries out what
/// was decided. [`rotate_current_refresh_token`](Self::rotate_current_refresh_token) is the
/// common case in one statement; it restates in SQL a rule the domain owns:
/// [`TokenState::may_rotate`] (defined in `domain/sessions/rotation.rs`), the precondition
/// under which the decision rotates. That predicate is the contract the SQL implements,
/// and the contract suite (`tests/store`) checks the two agree on both backends.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Creates a session with its first refresh token, in one transaction.
    async fn create_session(
        &self,
        session: &SessionRecord,
        token: &NewRefreshToken,
    ) -> StoreResult<()>;
    /// The refresh-token exchange: locks the presented token's session, lets `decide` choose
    /// from what it sees (`None`: unknown token), carries the plan out in the same
    /// transaction and returns it.
    async fn rotate_refresh_token(
        &self,
        token_hash: &[u8],
        decide: &(dyn Fn(Option<TokenState>) -> RotationPlan + Send + Sync),
    ) -> StoreResult<RotationPlan>;
    /// The common case of the exchange in one round trip: if the presented token is current,
    /// unexpired, and its session live and user enabled, rotates it as `rotation` says and
    /// returns the session as updated; otherwise changes nothing and returns `None`, and the
    /// caller goes through `rotate_refresh_token`. The conditions are exactly
    /// [`TokenState::may_rotate`] at `rotation.now`, the domain's rotation precondition (the
    /// one under which its decision chooses `Rotate`): this is the contract the SQL
    /// implements. The default, for a store with no such statement, always answers `None`.
    async fn rotate_current_refresh_token(
        &self,
        _token_hash: &[u8],
        _rotation: &CurrentRotation,
    ) -> StoreResult<Option<RotatedSession>> {
        Ok(None)
    }
    /// Reuse of a token of an earlier generation, whose row is gone: if session `id` is live
    /// at `event.occurred_at` (unrevoked, unexpired, under its cap, its user enabled) and
    /// has a token of a later generation than `generation`, revokes it and records `event`
    /// (with the session's user), in one transaction. True when it revoked; false, changing
    /// nothing, otherwise.
    async fn revoke_earlier_generation(
        &self,
        id: Uuid,
        generation: i64,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool>;
    /// The session a refresh token (current or rotated) belongs to.
    async fn session_by_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<SessionRecord>>;
    /// Whether a refresh token is its session's current one (unrotated, unexpired at `now`)
    /// and that session is live (unrevoked, unexpired, under its cap, its user enabled):
    /// [`TokenState::may_rotate`] at `now`, the domain's rotation precondition.
    async fn refresh_token_is_current(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    async fn session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>>;
    /// Whether the session is unrevoked, unexpired at `now`, and its user enabled.
    async fn session_is_live(&self, id: Uuid, now: OffsetDateTime) -> StoreResult<bool>;
    /// The user's live sessions, newest first.
    async fn live_sessions(
        &self,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Records a step-up of a live session of `user_id` (unrevoked, unexpired and under its
    /// cap at `auth_time`, its user enabled): its `auth_time` becomes `auth_time` and the
    /// methods of `added` it lacks are appended to its `amr`, in one transaction (two
    /// step-ups at once both count). Returns the session as updated; `None`, changing
    /// nothing, for any other session.
    async fn authenticate_session(
        &self,
        id: Uuid,
        user_id: Uuid,
        auth_time: OffsetDateTime,
        added: &[String],
    ) -> StoreResult<Option<SessionRecord>>;
    /// Revokes one session (if `user_id` matches) and records `event` with it; false when
    /// there was no such live session.
    async fn revoke_session(
        &self,
        id: Uuid,
        user_id: Uuid,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<bool>;
    /// Revokes every live session of a user except `keep`; returns how many.
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<u64>;
}
