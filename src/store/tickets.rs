//! One-time tickets (emailed links) and exchange codes.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{StoreResult, TicketRecord};

/// One-time tickets and codes, kept as hashes. Part of [`Store`](super::Store).
#[async_trait]
pub trait TicketStore: Send + Sync + 'static {
    /// Stores a ticket (only its hash).
    async fn insert_ticket(&self, ticket: &TicketRecord) -> StoreResult<()>;
    /// A ticket by hash, used or not.
    async fn ticket(&self, hash: &[u8]) -> StoreResult<Option<TicketRecord>>;
    /// Marks a ticket used if it has this purpose, is unused and unexpired at `now`, in
    /// one statement (two concurrent redemptions cannot both succeed); returns it then.
    async fn consume_ticket(
        &self,
        hash: &[u8],
        purpose: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<TicketRecord>>;
    /// Stores a ticket and spends (marks used) every unused ticket of the same user and
    /// purpose, in one transaction: at most one is live per user and purpose (email
    /// codes). Returns how many were spent.
    async fn replace_ticket(&self, ticket: &TicketRecord) -> StoreResult<u64>;
    /// Counts one try against the user's newest unused, unexpired ticket of this purpose,
    /// in one statement, unless it has had `max_attempts` already (then nothing changes).
    /// Returns the ticket and its tries including this one.
    async fn attempt_ticket(
        &self,
        user_id: Uuid,
        purpose: &str,
        now: OffsetDateTime,
        max_attempts: i64,
    ) -> StoreResult<Option<(TicketRecord, i64)>>;
}
