//! OAuth 2.1 provider storage (placeholder, replaced by the real implementation).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::SqliteStore;
use crate::store::{
    AuthorizationRequestRecord, AuthorizationStore, CodeTake, ConsentRecord, NewRefreshToken,
    OAuthClientRecord, OAuthClientStore, OAuthGrantRecord, SecurityEventRecord, SessionRecord,
    StoreResult,
};

#[async_trait]
impl OAuthClientStore for SqliteStore {
    async fn insert_client(&self, _client: &OAuthClientRecord) -> StoreResult<()> {
        todo!()
    }
    async fn client(&self, _id: &str) -> StoreResult<Option<OAuthClientRecord>> {
        todo!()
    }
    async fn clients(&self) -> StoreResult<Vec<OAuthClientRecord>> {
        todo!()
    }
    async fn update_client(&self, _client: &OAuthClientRecord) -> StoreResult<bool> {
        todo!()
    }
    async fn delete_client(&self, _id: &str, _event: &SecurityEventRecord) -> StoreResult<bool> {
        todo!()
    }
    async fn upsert_consent(&self, _consent: &ConsentRecord) -> StoreResult<()> {
        todo!()
    }
    async fn consent(
        &self,
        _user_id: Uuid,
        _client_id: &str,
    ) -> StoreResult<Option<ConsentRecord>> {
        todo!()
    }
    async fn consents_of(&self, _user_id: Uuid) -> StoreResult<Vec<ConsentRecord>> {
        todo!()
    }
}

#[async_trait]
impl AuthorizationStore for SqliteStore {
    async fn insert_authorization_request(
        &self,
        _request: &AuthorizationRequestRecord,
    ) -> StoreResult<()> {
        todo!()
    }
    async fn authorization_request(
        &self,
        _id: Uuid,
    ) -> StoreResult<Option<AuthorizationRequestRecord>> {
        todo!()
    }
    async fn approve_authorization_request(
        &self,
        _approved: &AuthorizationRequestRecord,
        _now: OffsetDateTime,
    ) -> StoreResult<bool> {
        todo!()
    }
    async fn take_authorization_code(
        &self,
        _code_hash: &[u8],
        _now: OffsetDateTime,
    ) -> StoreResult<CodeTake> {
        todo!()
    }
    async fn create_grant(
        &self,
        _session: &SessionRecord,
        _token: &NewRefreshToken,
        _grant: &OAuthGrantRecord,
        _request_id: Option<Uuid>,
    ) -> StoreResult<bool> {
        todo!()
    }
    async fn mark_code_reused(
        &self,
        _request_id: Uuid,
        _event: &SecurityEventRecord,
    ) -> StoreResult<Option<Uuid>> {
        todo!()
    }
    async fn grant(&self, _session_id: Uuid) -> StoreResult<Option<OAuthGrantRecord>> {
        todo!()
    }
    async fn live_grants_of(
        &self,
        _user_id: Uuid,
        _now: OffsetDateTime,
    ) -> StoreResult<Vec<OAuthGrantRecord>> {
        todo!()
    }
    async fn revoke_client_grants(
        &self,
        _user_id: Uuid,
        _client_id: &str,
        _event: &SecurityEventRecord,
    ) -> StoreResult<bool> {
        todo!()
    }
    async fn prune_authorization_requests(
        &self,
        _now: OffsetDateTime,
        _redeemed_before: OffsetDateTime,
    ) -> StoreResult<u64> {
        todo!()
    }
}
