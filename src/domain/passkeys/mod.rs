//! Passkeys (WebAuthn), with webauthn-rs doing the ceremony checks.
//!
//! - Every ceremony has two requests: the options route begins it and keeps its state in the
//!   database ([`ceremonies`]), found by the hash of its challenge; the verify route reads
//!   the challenge from the client data it was sent, takes the ceremony (once: a replay
//!   finds nothing) and checks it was begun by the same route, user and session. So any
//!   replica can finish what another began, and a challenge lives
//!   `TESSERA_WEBAUTHN_TIMEOUT`.
//! - Registration ([`registration`]): sign-up with a passkey, and adding one to a signed-in
//!   account (a sensitive change: it needs a recent authentication). A credential id is
//!   registered once across all accounts.
//! - Authentication ([`authentication`]): sign-in (with an email, or with none: a
//!   discoverable passkey names its user), step-up (`/elevate/webauthn`), and the second step
//!   of a password sign-in of a TOTP user. User verification is always required, so a
//!   passkey proves two factors: its sessions carry `hwk`, `user` and `mfa`.
//! - The signature counter guards against cloned authenticators: an assertion whose
//!   counter is not above the stored one is refused and recorded
//!   (`passkey-counter-regressed`); the store raises the counter in one conditional UPDATE.
//! - An account keeps a way to sign in: its last passkey cannot be removed while it has no
//!   password.

mod authentication;
mod ceremonies;
mod registration;

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;
use webauthn_rs::prelude::{Passkey, Url, Webauthn, WebauthnBuilder};

use crate::config::WebauthnConfig;
use crate::domain::errors::AuthError;
use crate::domain::links::EmailLinks;
use crate::domain::mfa::SecondFactor;
use crate::domain::profile;
use crate::domain::sessions::{self, AuthMethod, ClientInfo, Sessions};
use crate::domain::signup_policy::SignUpPolicy;
use crate::store::{PasskeyRecord, PasskeyRemoval, Store, UserRecord};
use crate::support::clock::Clock;
use ceremonies::Ceremonies;

/// What a passkey proves, as named in a session's `amr`.
pub const PASSKEY_METHODS: [AuthMethod; 3] = [
    AuthMethod::HardwareKey,
    AuthMethod::UserPresence,
    AuthMethod::Mfa,
];
/// The longest nickname of a passkey, in characters.
const MAX_NICKNAME_CHARS: usize = 64;
/// The nickname of a passkey registered without one.
const DEFAULT_NICKNAME: &str = "Passkey";
/// Passkeys one account may have: each is listed in every step-up and email sign-in.
pub const MAX_PER_USER: usize = 50;

/// Passkeys: the ceremonies, and a user's list.
pub struct Passkeys {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// `None` when no relying party id is configured: every route then answers
    /// `webauthn-not-configured`.
    webauthn: Option<Webauthn>,
    ceremonies: Ceremonies,
    sessions: Arc<Sessions>,
    mfa: Arc<SecondFactor>,
    links: Arc<EmailLinks>,
    policy: SignUpPolicy,
}

impl Passkeys {
    /// Passkeys of the relying party in `config`; sign-ups follow the policy of `links`,
    /// which sends their verification links. Fails when the configuration cannot make a
    /// relying party (checked at start-up).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: &WebauthnConfig,
        mfa: Arc<SecondFactor>,
        links: Arc<EmailLinks>,
    ) -> anyhow::Result<Self> {
        let webauthn = match &config.rp_id {
            Some(rp_id) => Some(relying_party(rp_id, config)?),
            None => None,
        };
        Ok(Self {
            ceremonies: Ceremonies::new(store.clone(), clock.clone(), config.timeout),
            sessions: mfa.sessions().clone(),
            policy: links.policy().clone(),
            store,
            clock,
            webauthn,
            mfa,
            links,
        })
    }

    fn webauthn(&self) -> Result<&Webauthn, AuthError> {
        self.webauthn
            .as_ref()
            .ok_or(AuthError::WebauthnNotConfigured)
    }

    /// `GET /user/passkeys`: the user's passkeys, oldest first.
    pub async fn list(&self, user_id: Uuid) -> Result<Vec<PasskeyRecord>, AuthError> {
        Ok(self.store.passkeys_of(user_id).await?)
    }

    /// `PATCH /user/passkeys/{id}`: renames one of the user's passkeys.
    pub async fn rename(
        &self,
        user_id: Uuid,
        id: Uuid,
        nickname: &str,
    ) -> Result<PasskeyRecord, AuthError> {
        let nickname = check_nickname(Some(nickname))?;
        if !self.store.rename_passkey(user_id, id, &nickname).await? {
            return Err(AuthError::PasskeyNotFound);
        }
        self.list(user_id)
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(AuthError::PasskeyNotFound)
    }

    /// `DELETE /user/passkeys/{id}` (`session_id`: the user's own session, which must have
    /// authenticated recently, with the second factor if the user has one) and
    /// `DELETE /admin/users/{id}/passkeys/{passkeyId}` (`None`). Refused when it is the
    /// account's last way to sign in.
    pub async fn remove(
        &self,
        user_id: Uuid,
        id: Uuid,
        session_id: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if let Some(session_id) = session_id {
            let user = self.user(user_id).await?;
            if !self
                .sessions
                .may_make_sensitive_change(&user, session_id)
                .await?
            {
                return Err(AuthError::ElevatedClaimRequired);
            }
        }
        let by = if session_id.is_some() {
            "user"
        } else {
            "admin"
        };
        let event = sessions::event(
            self.clock.now(),
            "passkey-removed",
            Some(user_id),
            session_id,
            client,
            json!({ "passkeyId": id, "by": by }),
        );
        match self.store.delete_passkey(user_id, id, &event).await? {
            PasskeyRemoval::Removed => {}
            PasskeyRemoval::NotFound => return Err(AuthError::PasskeyNotFound),
            PasskeyRemoval::LastSignInMethod => return Err(AuthError::LastSignInMethod),
        }
        // A passkey is removed because it was lost, stolen or cloned: the sessions it may
        // have opened end too (all but the remover's own; all of them when an administrator
        // removes it), as after a password change.
        let event = sessions::event(
            self.clock.now(),
            "session-revoked",
            Some(user_id),
            session_id,
            client,
            json!({ "reason": "passkey-removed", "by": by }),
        );
        self.store
            .revoke_user_sessions(user_id, session_id, "passkey-removed", &event)
            .await?;
        Ok(())
    }

    async fn user(&self, user_id: Uuid) -> Result<UserRecord, AuthError> {
        self.store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)
    }

    /// Records a security event; the change already happened, so a lost audit line must
    /// not undo it.
    async fn record(
        &self,
        kind: &str,
        user_id: Uuid,
        session_id: Option<Uuid>,
        client: &ClientInfo,
        detail: serde_json::Value,
    ) {
        let event = sessions::event(
            self.clock.now(),
            kind,
            Some(user_id),
            session_id,
            client,
            detail,
        );
        if let Err(err) = self.store.record_event(&event).await {
            tracing::warn!(error = %err, kind, "cannot record a security event");
        }
    }
}

/// The relying party: its id and name, the allowed origins (web origins first: webauthn-rs
/// checks the first against the id), exact ports and hosts.
fn relying_party(rp_id: &str, config: &WebauthnConfig) -> anyhow::Result<Webauthn> {
    let mut origins: Vec<&Url> = config.origins.iter().collect();
    origins.sort_by_key(|origin| origin.domain().is_none());
    let (first, rest) = origins
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("TESSERA_WEBAUTHN_ORIGINS lists no origin"))?;
    let mut builder = WebauthnBuilder::new(rp_id, first)
        .map_err(|err| {
            anyhow::anyhow!("TESSERA_WEBAUTHN_RP_ID {rp_id:?} and the origin {first}: {err}")
        })?
        .rp_name(&config.rp_name)
        .timeout(config.timeout)
        .allow_subdomains(false)
        .allow_any_port(false);
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    Ok(builder.build()?)
}

/// A nickname as given (trimmed), or the default; at most 64 characters, no control
/// characters.
fn check_nickname(nickname: Option<&str>) -> Result<String, AuthError> {
    let nickname = nickname.map(str::trim).filter(|n| !n.is_empty());
    let Some(nickname) = nickname else {
        return Ok(DEFAULT_NICKNAME.to_owned());
    };
    profile::check_text("nickname", nickname, MAX_NICKNAME_CHARS)?;
    Ok(nickname.to_owned())
}

/// The webauthn-rs credential of a stored passkey.
fn passkey_of(record: &PasskeyRecord) -> Result<Passkey, AuthError> {
    serde_json::from_value(record.passkey.clone()).map_err(|err| {
        tracing::error!(error = %err, passkey = %record.id, "a stored passkey cannot be read");
        AuthError::InvalidWebauthnCredential
    })
}
