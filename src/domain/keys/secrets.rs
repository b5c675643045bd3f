//! Server secrets shared by the replicas (HMAC keys of device cookies, email codes, TOTP
//! sealing and refresh tokens).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::store::{Store, StoreError};
use crate::support::clock::Clock;

/// A 32-byte secret every replica shares: `derived` (what [`KeyService::derived_secret`](super::KeyService::derived_secret)
/// gives, in no database dump) when there is one, else a random secret kept in the
/// database under `name`, made by whichever replica asks first.
pub async fn shared_secret(
    store: &dyn Store,
    clock: &dyn Clock,
    name: &str,
    derived: Option<[u8; 32]>,
) -> Result<Vec<u8>, StoreError> {
    if let Some(secret) = derived {
        return Ok(secret.to_vec());
    }
    let mut candidate = [0u8; 32];
    SystemRandom::new()
        .fill(&mut candidate)
        .expect("the OS random generator");
    store.server_secret(name, &candidate, clock.now()).await
}
