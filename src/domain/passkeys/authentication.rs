//! Proving a passkey: sign-in (`/signin/webauthn[/verify]`), step-up
//! (`/elevate/webauthn[/verify]`), and the second step of a password sign-in
//! (`/signin/mfa/webauthn[/verify]`).

use aws_lc_rs::digest::{SHA256, digest};
use serde_json::{Value, json};
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PublicKeyCredential, RequestChallengeResponse, WebauthnError,
};

use super::ceremonies::{Owner, Purpose};
use super::registration::{internal, refused, state_of};
use super::{PASSKEY_METHODS, Passkeys, passkey_of};
use crate::domain::errors::AuthError;
use crate::domain::profile;
use crate::domain::sessions::{self, AuthMethod, ClientInfo, IssuedSession};
use crate::store::{PasskeyRecord, PasskeyUse, UserRecord};

/// The two ways a sign-in ceremony runs.
const DISCOVERABLE: &str = "discoverable";
const LISTED: &str = "listed";

impl Passkeys {
    /// `POST /signin/webauthn`: begins a sign-in. With the email of an account that has
    /// passkeys, the options list them (for security keys that keep no credential); with
    /// no email, or any other, they list none and the authenticator offers the passkeys it
    /// keeps for this site (the user picks one; its user handle names the account).
    pub async fn begin_sign_in(&self, email: Option<&str>) -> Result<Value, AuthError> {
        let webauthn = self.webauthn()?;
        let listed = match email.map(profile::normalise_email).transpose()? {
            Some(email) => match self.store.user_by_email(&email).await? {
                Some(user) => self.passkeys(user.id).await?,
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        let (request, state) = if listed.is_empty() {
            let (request, state) = webauthn
                .start_discoverable_authentication()
                .map_err(|err| internal("start a sign-in", err))?;
            (
                request,
                json!({ "kind": DISCOVERABLE, "state": to_json(&state)? }),
            )
        } else {
            let (request, state) = webauthn
                .start_passkey_authentication(&listed)
                .map_err(|err| internal("start a sign-in", err))?;
            (
                request,
                json!({ "kind": LISTED, "state": to_json(&state)? }),
            )
        };
        self.keep_authentication(Purpose::SignIn, request, state, Owner::default(), json!({}))
            .await
    }

    /// `POST /signin/webauthn/verify`: verifies the passkey and starts a session of its
    /// account (`amr`: `hwk`, `user`, `mfa`). A disabled account, or an unverified one
    /// where verification is required, is refused as at password sign-in.
    pub async fn finish_sign_in(
        &self,
        credential: Value,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        let webauthn = self.webauthn()?;
        let credential = assertion(credential)?;
        let ceremony = self
            .ceremonies
            .finish(
                credential.response.client_data_json.as_ref(),
                Purpose::SignIn,
                Owner::default(),
            )
            .await?;
        let record = self.registered(&credential).await?;
        let passkey = passkey_of(&record)?;
        let state = &ceremony.state;
        let result = if state["kind"] == DISCOVERABLE {
            // The user handle the authenticator returned must name the passkey's owner.
            let (user_id, _) = webauthn
                .identify_discoverable_authentication(&credential)
                .map_err(refused("sign-in"))?;
            if user_id != record.user_id {
                return Err(AuthError::InvalidWebauthnCredential);
            }
            let state: DiscoverableAuthentication = state_of(state["state"].clone())?;
            webauthn.finish_discoverable_authentication_v2(&credential, state, &passkey)
        } else {
            let state: PasskeyAuthentication = state_of(state["state"].clone())?;
            webauthn.finish_passkey_authentication(&credential, &state)
        };
        let user = self
            .checked_use(&record, passkey, result, None, client)
            .await?;
        if user.disabled {
            return Err(AuthError::DisabledUser);
        }
        if self.policy.requires_email_verification() && !user.email_verified {
            return Err(AuthError::UnverifiedUser);
        }
        let user_id = user.id;
        let issued = self.sessions.create(user, client, &PASSKEY_METHODS).await?;
        self.record(
            "signin-succeeded",
            user_id,
            Some(issued.session_id),
            client,
            json!({ "method": "passkey", "passkeyId": record.id }),
        )
        .await;
        Ok(issued)
    }

    /// `POST /elevate/webauthn`: begins a step-up of the signed-in user with one of their
    /// passkeys. Not for a session a personal access token started.
    pub async fn begin_elevate(&self, user_id: Uuid, session_id: Uuid) -> Result<Value, AuthError> {
        let webauthn = self.webauthn()?;
        if self.store.session_from_pat(session_id).await? {
            return Err(AuthError::ElevatedClaimRequired);
        }
        let passkeys = self.passkeys(user_id).await?;
        if passkeys.is_empty() {
            return Err(AuthError::NoPasskey);
        }
        let (request, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|err| internal("start a step-up", err))?;
        let owner = Owner {
            user_id: Some(user_id),
            session_id: Some(session_id),
        };
        let state = json!({ "kind": LISTED, "state": to_json(&state)? });
        self.keep_authentication(Purpose::Elevate, request, state, owner, json!({}))
            .await
    }

    /// `POST /elevate/webauthn/verify`: verifies the passkey and, as Nhost does, answers a
    /// new session of the user: authenticated now, with the methods of the session that
    /// asked and the passkey's. The session that asked stays as it was.
    pub async fn finish_elevate(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        credential: Value,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        let owner = Owner {
            user_id: Some(user_id),
            session_id: Some(session_id),
        };
        let (user, record) = self
            .finish_listed(credential, Purpose::Elevate, owner, client)
            .await?;
        let asked = self
            .store
            .session(session_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let asked: Vec<AuthMethod> = asked
            .amr
            .iter()
            .filter_map(|name| AuthMethod::from_name(name))
            .collect();
        let methods = sessions::with_methods(&asked, &PASSKEY_METHODS);
        let issued = self.sessions.create(user, client, &methods).await?;
        self.record(
            "passkey-step-up",
            user_id,
            Some(issued.session_id),
            client,
            json!({ "passkeyId": record.id, "from": session_id }),
        )
        .await;
        Ok(issued)
    }

    /// `POST /signin/mfa/webauthn`: begins the second step of a sign-in with a passkey in
    /// place of a TOTP code; `ticket` is the first step's `mfa.ticket`.
    pub async fn begin_second_factor(&self, ticket: &str) -> Result<Value, AuthError> {
        let webauthn = self.webauthn()?;
        let user = self.mfa.ticket_user(ticket).await?;
        let passkeys = self.passkeys(user.id).await?;
        if passkeys.is_empty() {
            return Err(AuthError::NoPasskey);
        }
        let (request, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|err| internal("start a second step", err))?;
        let owner = Owner {
            user_id: Some(user.id),
            session_id: None,
        };
        let state = json!({ "kind": LISTED, "state": to_json(&state)? });
        let payload = json!({ "ticket": ticket_hash(ticket) });
        self.keep_authentication(Purpose::SecondFactor, request, state, owner, payload)
            .await
    }

    /// `POST /signin/mfa/webauthn/verify`: verifies the passkey of the ticket's user and
    /// trades the ticket for the session (`amr`: the first factor's and the passkey's).
    pub async fn finish_second_factor(
        &self,
        ticket: &str,
        credential: Value,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        let user = self.mfa.ticket_user(ticket).await?;
        let owner = Owner {
            user_id: Some(user.id),
            session_id: None,
        };
        // The ceremony is the ticket user's, and so must the passkey be.
        self.finish_listed_with(
            credential,
            Purpose::SecondFactor,
            owner,
            client,
            |payload| payload["ticket"] == ticket_hash(ticket),
        )
        .await?;
        self.mfa
            .finish_with_passkey(ticket, &PASSKEY_METHODS, client)
            .await
    }

    /// Finishes a ceremony over a known user's passkeys (step-up, second step): the
    /// ceremony must be this user's, and the passkey too.
    async fn finish_listed(
        &self,
        credential: Value,
        purpose: Purpose,
        owner: Owner,
        client: &ClientInfo,
    ) -> Result<(UserRecord, PasskeyRecord), AuthError> {
        self.finish_listed_with(credential, purpose, owner, client, |_| true)
            .await
    }

    async fn finish_listed_with(
        &self,
        credential: Value,
        purpose: Purpose,
        owner: Owner,
        client: &ClientInfo,
        payload_matches: impl Fn(&Value) -> bool,
    ) -> Result<(UserRecord, PasskeyRecord), AuthError> {
        let webauthn = self.webauthn()?;
        let credential = assertion(credential)?;
        let ceremony = self
            .ceremonies
            .finish(
                credential.response.client_data_json.as_ref(),
                purpose,
                owner,
            )
            .await?;
        if !payload_matches(&ceremony.payload) {
            return Err(AuthError::InvalidWebauthnChallenge);
        }
        let record = self.registered(&credential).await?;
        if Some(record.user_id) != owner.user_id {
            tracing::info!(ceremony = ?purpose, "a passkey of another user answered a ceremony");
            return Err(AuthError::InvalidWebauthnCredential);
        }
        let passkey = passkey_of(&record)?;
        let state: PasskeyAuthentication = state_of(ceremony.state["state"].clone())?;
        let result = webauthn.finish_passkey_authentication(&credential, &state);
        let user = self
            .checked_use(&record, passkey, result, owner.session_id, client)
            .await?;
        if user.disabled {
            return Err(AuthError::DisabledUser);
        }
        Ok((user, record))
    }

    /// The registered passkey an assertion names, whoever's it is.
    async fn registered(
        &self,
        credential: &PublicKeyCredential,
    ) -> Result<PasskeyRecord, AuthError> {
        self.store
            .passkey_by_credential(credential.get_credential_id())
            .await?
            .ok_or_else(|| {
                tracing::info!("an unregistered passkey answered a ceremony");
                AuthError::InvalidWebauthnCredential
            })
    }

    /// Accepts a verified assertion: records the new counter and flags, once (the store
    /// refuses a counter that did not go up, so of two uses of one assertion, one counts).
    /// A counter that went backwards is refused and recorded as `passkey-counter-regressed`.
    /// Answers the passkey's user.
    async fn checked_use(
        &self,
        record: &PasskeyRecord,
        mut passkey: Passkey,
        result: Result<AuthenticationResult, WebauthnError>,
        session_id: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<UserRecord, AuthError> {
        let result = match result {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                return Err(self.counter_regressed(record, session_id, client).await);
            }
            Err(err) => return Err(refused("authentication")(err)),
        };
        passkey.update_credential(&result);
        let used = PasskeyUse {
            counter: i64::from(result.counter()),
            backup_eligible: result.backup_eligible() || record.backup_eligible,
            backup_state: result.backup_state(),
            passkey: to_json(&passkey)?,
            now: self.clock.now(),
        };
        if !self.store.record_passkey_use(record.id, &used).await? {
            // Removed meanwhile: not registered any more, not a clone.
            if self
                .store
                .passkey_by_credential(&record.credential_id)
                .await?
                .is_none()
            {
                return Err(AuthError::InvalidWebauthnCredential);
            }
            return Err(self.counter_regressed(record, session_id, client).await);
        }
        self.store
            .user_by_id(record.user_id)
            .await?
            .ok_or(AuthError::InvalidWebauthnCredential)
    }

    async fn counter_regressed(
        &self,
        record: &PasskeyRecord,
        session_id: Option<Uuid>,
        client: &ClientInfo,
    ) -> AuthError {
        tracing::warn!(passkey = %record.id, user = %record.user_id, "a passkey's signature counter did not go up: a cloned authenticator, or a replay");
        self.record(
            "passkey-counter-regressed",
            record.user_id,
            session_id,
            client,
            json!({ "passkeyId": record.id, "storedCounter": record.counter }),
        )
        .await;
        AuthError::WebauthnCounterRegressed
    }

    /// The user's passkeys as webauthn-rs credentials.
    async fn passkeys(&self, user_id: Uuid) -> Result<Vec<Passkey>, AuthError> {
        self.store
            .passkeys_of(user_id)
            .await?
            .iter()
            .map(passkey_of)
            .collect()
    }

    /// Keeps an authentication ceremony and answers its options: the bare `publicKey`
    /// options.
    async fn keep_authentication(
        &self,
        purpose: Purpose,
        request: RequestChallengeResponse,
        state: Value,
        owner: Owner,
        payload: Value,
    ) -> Result<Value, AuthError> {
        self.ceremonies
            .begin(
                purpose,
                request.public_key.challenge.as_ref(),
                owner,
                state,
                payload,
            )
            .await?;
        to_json(&request.public_key)
    }
}

/// The assertion a client sent, or `invalid-request`.
fn assertion(credential: Value) -> Result<PublicKeyCredential, AuthError> {
    serde_json::from_value(credential).map_err(|err| {
        AuthError::InvalidRequest(format!(
            "credential is not a WebAuthn assertion (PublicKeyCredential.toJSON()): {err}"
        ))
    })
}

fn to_json(value: &impl serde::Serialize) -> Result<Value, AuthError> {
    serde_json::to_value(value).map_err(|err| internal("write JSON", err))
}

/// What a second-step ceremony keeps of its ticket: a hash, never the ticket.
fn ticket_hash(ticket: &str) -> String {
    let hash = digest(&SHA256, ticket.as_bytes());
    hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
