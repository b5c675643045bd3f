//! User accounts.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{StoreResult, UserCursor, UserRecord, UserUpdate};

/// Users: insert, look up, change, list and delete. Part of [`Store`](super::Store).
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Inserts a user; `Conflict("users_email_key")` when the email is taken.
    async fn insert_user(&self, user: &UserRecord) -> StoreResult<()>;
    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>>;
    /// Looks a user up by normalised email.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// Replaces a password hash that is still `old` (a rehash on sign-in after a parameter
    /// change must not undo a password changed meanwhile); false when it was not.
    async fn set_password_hash(
        &self,
        user_id: Uuid,
        old: &str,
        hash: &str,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Writes the columns `update` names, and `updated_at`, of an existing user, leaving
    /// every other column as it is; `Conflict("users_email_key")` when the email is taken.
    async fn update_user(
        &self,
        id: Uuid,
        update: &UserUpdate,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Sets the disabled flag; returns false for an unknown user.
    async fn set_user_disabled(
        &self,
        user_id: Uuid,
        disabled: bool,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// A page of users ordered by creation, after `after`, optionally matching `search`
    /// in the email or display name (case-insensitive).
    async fn list_users(
        &self,
        after: Option<UserCursor>,
        search: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UserRecord>>;
    /// Deletes a user with everything that names it: sessions, refresh tokens, tickets, its
    /// TOTP secret and recovery codes, and its security events. False for an unknown user.
    async fn delete_user(&self, id: Uuid) -> StoreResult<bool>;
}
