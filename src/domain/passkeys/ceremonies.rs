//! Ceremonies in progress, kept in the database so that any replica can finish one: found
//! by the SHA-256 of the challenge, taken once, bound to the route and the user (and
//! session) that began them.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::errors::AuthError;
use crate::store::{CeremonyRecord, Store};
use crate::support::clock::Clock;

/// Which route began a ceremony: only its verify route may finish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    SignUp,
    SignIn,
    Add,
    Elevate,
    SecondFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "signup",
            Self::SignIn => "signin",
            Self::Add => "add",
            Self::Elevate => "elevate",
            Self::SecondFactor => "second-factor",
        }
    }
}

/// Who began a ceremony, which the request that finishes it must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Owner {
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
}

pub(super) struct Ceremonies {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
}

impl Ceremonies {
    pub(super) fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, timeout: Duration) -> Self {
        Self {
            store,
            clock,
            timeout,
        }
    }

    /// Keeps a ceremony that an options route just began: webauthn-rs's `state`, and data
    /// of the route (`payload`), until `TESSERA_WEBAUTHN_TIMEOUT` from now.
    pub(super) async fn begin(
        &self,
        purpose: Purpose,
        challenge: &[u8],
        owner: Owner,
        state: Value,
        payload: Value,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let ceremony = CeremonyRecord {
            challenge_hash: hash(challenge),
            purpose: purpose.as_str().to_owned(),
            user_id: owner.user_id,
            session_id: owner.session_id,
            state,
            payload,
            created_at: now,
            expires_at: now + self.timeout,
        };
        self.store.insert_ceremony(&ceremony).await?;
        Ok(())
    }

    /// Takes the ceremony whose challenge the client data answers, if it is live, of
    /// `purpose`, and was begun by `owner`. Taken means gone: a second answer to the same
    /// challenge, or an answer sent to another route, finds nothing afterwards.
    pub(super) async fn finish(
        &self,
        client_data_json: &[u8],
        purpose: Purpose,
        owner: Owner,
    ) -> Result<CeremonyRecord, AuthError> {
        let challenge = challenge_of(client_data_json)?;
        let ceremony = self
            .store
            .take_ceremony(&hash(&challenge), self.clock.now())
            .await?
            .ok_or(AuthError::InvalidWebauthnChallenge)?;
        let begun_by = Owner {
            user_id: ceremony.user_id,
            session_id: ceremony.session_id,
        };
        if ceremony.purpose != purpose.as_str() || begun_by != owner {
            return Err(AuthError::InvalidWebauthnChallenge);
        }
        Ok(ceremony)
    }
}

fn hash(challenge: &[u8]) -> Vec<u8> {
    digest(&SHA256, challenge).as_ref().to_vec()
}

/// The challenge the client data answers (`challenge`, base64url). Its other fields
/// (type, origin) are webauthn-rs's to check.
fn challenge_of(client_data_json: &[u8]) -> Result<Vec<u8>, AuthError> {
    let malformed = || {
        AuthError::InvalidRequest(
            "credential.response.clientDataJSON is not WebAuthn client data.".into(),
        )
    };
    let data: Value = serde_json::from_slice(client_data_json).map_err(|_| malformed())?;
    let challenge = data["challenge"].as_str().ok_or_else(malformed)?;
    URL_SAFE_NO_PAD
        .decode(challenge.trim_end_matches('='))
        .map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_read_from_the_client_data() {
        let data = br#"{"type":"webauthn.get","challenge":"AQID","origin":"https://a.example"}"#;
        assert_eq!(challenge_of(data).unwrap(), vec![1, 2, 3]);
        let padded = br#"{"type":"webauthn.get","challenge":"AQI=","origin":"https://a"}"#;
        assert_eq!(challenge_of(padded).unwrap(), vec![1, 2]);
        for bad in [
            &b"not json"[..],
            br#"{"challenge":5}"#,
            br#"{"challenge":"***"}"#,
        ] {
            assert!(matches!(
                challenge_of(bad),
                Err(AuthError::InvalidRequest(_))
            ));
        }
    }
}
