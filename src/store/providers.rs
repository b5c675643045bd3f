//! Social and enterprise sign-in: accounts' identities at providers, and the browser flows
//! between the redirect to a provider and its callback.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    IdentityRecord, IdentityRemoval, ProviderFlowRecord, SecurityEventRecord, StoreResult,
    UserRecord,
};

/// Identities at providers and provider flows. Every change that spans rows is one
/// transaction. Part of [`Store`](super::Store).
#[async_trait]
pub trait ProviderStore: Send + Sync + 'static {
    /// Stores a flow `GET /signin/provider/{p}` began.
    async fn insert_provider_flow(&self, flow: &ProviderFlowRecord) -> StoreResult<()>;
    /// Takes (deletes and returns) the flow of a `state` if it has not expired at `now`, in
    /// one statement: of two callbacks with one state, one gets it. An expired one is
    /// deleted too, and `None`.
    async fn take_provider_flow(
        &self,
        state_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<ProviderFlowRecord>>;
    /// The identity of a provider's subject, whoever's it is.
    async fn identity(&self, provider: &str, subject: &str) -> StoreResult<Option<IdentityRecord>>;
    /// The user's identities, oldest first.
    async fn identities_of(&self, user_id: Uuid) -> StoreResult<Vec<IdentityRecord>>;
    /// Links an identity to an existing user and records `event`, in one transaction:
    /// `Conflict("user_providers_provider_subject_key")` when the identity is linked
    /// already (to anyone), `Conflict("user_providers_user_provider_key")` when the user
    /// has an identity at that provider.
    async fn link_identity(
        &self,
        identity: &IdentityRecord,
        event: &SecurityEventRecord,
    ) -> StoreResult<()>;
    /// Creates a user together with its first identity and records `event`, in one
    /// transaction: `Conflict("users_email_key")` when the email is taken,
    /// `Conflict("user_providers_provider_subject_key")` when the identity is linked.
    async fn insert_user_with_identity(
        &self,
        user: &UserRecord,
        identity: &IdentityRecord,
        event: &SecurityEventRecord,
    ) -> StoreResult<()>;
    /// Records a sign-in with an identity: `last_used_at`, and the email the provider gave.
    async fn record_identity_use(
        &self,
        id: Uuid,
        email: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Unlinks the user's identity at `provider` and records `event`, in one transaction
    /// that locks the user, unless it is the account's last way to sign in (no password,
    /// no passkey, no other identity): then nothing changes.
    async fn unlink_identity(
        &self,
        user_id: Uuid,
        provider: &str,
        event: &SecurityEventRecord,
    ) -> StoreResult<IdentityRemoval>;
    /// Unlinks every identity of the user (an unverified account claimed by the mailbox's
    /// holder); returns how many there were.
    async fn delete_identities_of(&self, user_id: Uuid) -> StoreResult<u64>;
    /// Deletes flows that expired before `now`; returns how many.
    async fn prune_provider_flows(&self, now: OffsetDateTime) -> StoreResult<u64>;
}
