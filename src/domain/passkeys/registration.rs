//! Registering passkeys: sign-up with one (`/signup/webauthn[/verify]`), and adding one to
//! a signed-in account (`/user/webauthn/add`, `/user/webauthn/verify`).

use serde_json::{Value, json};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Credential, CredentialID, Passkey, PasskeyRegistration,
    RegisterPublicKeyCredential,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::ceremonies::{Owner, Purpose};
use super::{MAX_PER_USER, PASSKEY_METHODS, Passkeys, check_nickname};
use crate::domain::email_password::SignUpOptions;
use crate::domain::errors::AuthError;
use crate::domain::profile::{self, new_user};
use crate::domain::sessions::{self, ClientInfo, IssuedSession};
use crate::store::{PasskeyRecord, StoreError};

impl Passkeys {
    /// `POST /signup/webauthn`: begins a sign-up with a passkey for a new account of
    /// `email`, checking what a sign-up checks; answers the creation options. The new
    /// account's id is chosen now (the authenticator keeps it as the user handle) and the
    /// account is created when the passkey is verified.
    pub async fn begin_sign_up(
        &self,
        email: &str,
        options: &SignUpOptions,
    ) -> Result<Value, AuthError> {
        let webauthn = self.webauthn()?;
        self.policy.check_signup_open()?;
        let email = profile::normalise_email(email)?;
        self.policy.check_domain(&email)?;
        self.policy
            .redirect_target(options.redirect_to.as_deref())?;
        let checked = options.profile.clone().check(self.policy.roles())?;
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(AuthError::EmailAlreadyInUse);
        }
        let user_id = Uuid::new_v4();
        let display_name = checked
            .display_name
            .clone()
            .unwrap_or_else(|| email.clone());
        let (creation, state) = webauthn
            .start_passkey_registration(user_id, &email, &display_name, None)
            .map_err(|err| internal("start a registration", err))?;
        let payload = json!({
            "email": email,
            "userId": user_id,
            "options": options,
        });
        self.keep_registration(Purpose::SignUp, creation, state, Owner::default(), payload)
            .await
    }

    /// `POST /signup/webauthn/verify`: verifies the new passkey and creates the account
    /// with it, in one transaction. Answers its first session, or `None` when the address
    /// must be verified first (the link is sent). `code_challenge` (PKCE) makes the link
    /// lead to a code instead of a session.
    pub async fn finish_sign_up(
        &self,
        credential: Value,
        nickname: Option<&str>,
        code_challenge: Option<String>,
        client: &ClientInfo,
    ) -> Result<Option<IssuedSession>, AuthError> {
        let webauthn = self.webauthn()?;
        let nickname = check_nickname(nickname)?;
        let credential = registration_credential(credential)?;
        let ceremony = self
            .ceremonies
            .finish(
                credential.response.client_data_json.as_ref(),
                Purpose::SignUp,
                Owner::default(),
            )
            .await?;
        let state: PasskeyRegistration = state_of(ceremony.state)?;
        let passkey = webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(refused("registration"))?;
        let payload = &ceremony.payload;
        let (Some(email), Some(user_id)) = (
            payload["email"].as_str(),
            payload["userId"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok()),
        ) else {
            return Err(AuthError::InvalidWebauthnChallenge);
        };
        let options: SignUpOptions = state_of(payload["options"].clone())?;
        // The policy again: sign-up may have closed, or the domains or redirects changed,
        // since the ceremony began; and before the account exists, so no refusal leaves
        // one behind.
        self.policy.check_signup_open()?;
        self.policy.check_domain(email)?;
        let redirect_to = self
            .policy
            .redirect_target(options.redirect_to.as_deref())?;
        let now = self.clock.now();
        let mut user = new_user(
            now,
            Some(email.to_owned()),
            String::new(),
            Some(self.policy.roles()),
        );
        user.id = user_id;
        options.profile.check(self.policy.roles())?.apply(&mut user);
        let record = record_of(&passkey, user_id, nickname, now)?;
        let event = sessions::event(
            now,
            "signup",
            Some(user_id),
            None,
            client,
            json!({ "method": "passkey", "passkeyId": record.id }),
        );
        match self
            .store
            .insert_user_with_passkey(&user, &record, &event)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict(name)) if name.starts_with("webauthn") => {
                return Err(AuthError::WebauthnCredentialExists);
            }
            Err(StoreError::Conflict(_)) => return Err(AuthError::EmailAlreadyInUse),
            Err(err) => return Err(err.into()),
        }
        if self.policy.requires_email_verification() {
            let code_challenge = code_challenge.or(options.code_challenge);
            self.links
                .send_verification(&user, redirect_to, code_challenge)
                .await?;
            return Ok(None);
        }
        let issued = self.sessions.create(user, client, &PASSKEY_METHODS).await?;
        self.record(
            "signin-succeeded",
            user_id,
            Some(issued.session_id),
            client,
            json!({ "method": "passkey" }),
        )
        .await;
        Ok(Some(issued))
    }

    /// `POST /user/webauthn/add`: begins adding a passkey to the signed-in account, a
    /// sensitive change (a recent authentication, with the second factor if the account
    /// has one). The account's passkeys are excluded, so an authenticator does not
    /// register twice.
    pub async fn begin_add(&self, user_id: Uuid, session_id: Uuid) -> Result<Value, AuthError> {
        let webauthn = self.webauthn()?;
        let user = self.user(user_id).await?;
        if user.is_anonymous {
            return Err(AuthError::ForbiddenAnonymous);
        }
        if !self
            .sessions
            .may_make_sensitive_change(&user, session_id)
            .await?
        {
            return Err(AuthError::ElevatedClaimRequired);
        }
        let existing: Vec<CredentialID> = self
            .store
            .passkeys_of(user_id)
            .await?
            .iter()
            .map(|p| p.credential_id.clone())
            .collect();
        if existing.len() >= MAX_PER_USER {
            return Err(too_many());
        }
        let name = user.email.clone().unwrap_or_else(|| user.id.to_string());
        let display_name = if user.display_name.is_empty() {
            name.clone()
        } else {
            user.display_name.clone()
        };
        let (creation, state) = webauthn
            .start_passkey_registration(user_id, &name, &display_name, Some(existing))
            .map_err(|err| internal("start a registration", err))?;
        let owner = Owner {
            user_id: Some(user_id),
            session_id: Some(session_id),
        };
        self.keep_registration(Purpose::Add, creation, state, owner, json!({}))
            .await
    }

    /// `POST /user/webauthn/verify`: verifies the passkey of a ceremony this session began
    /// and adds it to the account.
    pub async fn finish_add(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        credential: Value,
        nickname: Option<&str>,
        client: &ClientInfo,
    ) -> Result<PasskeyRecord, AuthError> {
        let webauthn = self.webauthn()?;
        let nickname = check_nickname(nickname)?;
        let credential = registration_credential(credential)?;
        let owner = Owner {
            user_id: Some(user_id),
            session_id: Some(session_id),
        };
        let ceremony = self
            .ceremonies
            .finish(
                credential.response.client_data_json.as_ref(),
                Purpose::Add,
                owner,
            )
            .await?;
        // A client that ignores `excludeCredentials` re-registers one of the account's own
        // passkeys: webauthn-rs refuses it as an altered credential; say what it is.
        let own = self.store.passkeys_of(user_id).await?;
        if own
            .iter()
            .any(|p| p.credential_id.as_slice() == credential.raw_id.as_slice())
        {
            return Err(AuthError::WebauthnCredentialExists);
        }
        // Checked again at the finish: the recent authentication may have lapsed, or TOTP
        // been turned on, since the ceremony began.
        let user = self.user(user_id).await?;
        if !self
            .sessions
            .may_make_sensitive_change(&user, session_id)
            .await?
        {
            return Err(AuthError::ElevatedClaimRequired);
        }
        if own.len() >= MAX_PER_USER {
            return Err(too_many());
        }
        let state: PasskeyRegistration = state_of(ceremony.state)?;
        let passkey = webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(refused("registration"))?;
        let now = self.clock.now();
        let record = record_of(&passkey, user_id, nickname, now)?;
        let event = sessions::event(
            now,
            "passkey-added",
            Some(user_id),
            Some(session_id),
            client,
            json!({ "passkeyId": record.id }),
        );
        match self.store.insert_passkey(&record, &event).await {
            Ok(()) => Ok(record),
            Err(StoreError::Conflict(_)) => Err(AuthError::WebauthnCredentialExists),
            Err(err) => Err(err.into()),
        }
    }

    /// Keeps a registration ceremony and answers its options: the bare `publicKey`
    /// options, asking for a discoverable credential where the authenticator can keep one
    /// (so a sign-in needs no email), with user verification required.
    async fn keep_registration(
        &self,
        purpose: Purpose,
        mut creation: CreationChallengeResponse,
        state: PasskeyRegistration,
        owner: Owner,
        payload: Value,
    ) -> Result<Value, AuthError> {
        if let Some(selection) = creation.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Preferred);
            selection.require_resident_key = false;
        }
        let state = serde_json::to_value(&state).map_err(|err| internal("keep a ceremony", err))?;
        self.ceremonies
            .begin(
                purpose,
                creation.public_key.challenge.as_ref(),
                owner,
                state,
                payload,
            )
            .await?;
        serde_json::to_value(&creation.public_key).map_err(|err| internal("write options", err))
    }
}

fn too_many() -> AuthError {
    AuthError::InvalidRequest(format!(
        "An account may have at most {MAX_PER_USER} passkeys; remove one first."
    ))
}

/// The registration response a client sent, or `invalid-request`.
fn registration_credential(credential: Value) -> Result<RegisterPublicKeyCredential, AuthError> {
    serde_json::from_value(credential).map_err(|err| {
        AuthError::InvalidRequest(format!(
            "credential is not a WebAuthn registration response (PublicKeyCredential.toJSON()): {err}"
        ))
    })
}

/// The stored state of a ceremony.
pub(super) fn state_of<T: serde::de::DeserializeOwned>(state: Value) -> Result<T, AuthError> {
    serde_json::from_value(state).map_err(|err| {
        tracing::error!(error = %err, "a stored WebAuthn ceremony cannot be read");
        AuthError::InvalidWebauthnChallenge
    })
}

/// How a failed check is answered: `invalid-webauthn-credential`, with webauthn-rs's reason
/// in the log (it names the check, never a secret).
pub(super) fn refused(
    ceremony: &'static str,
) -> impl Fn(webauthn_rs::prelude::WebauthnError) -> AuthError {
    move |err| {
        tracing::info!(reason = %err, ceremony, "a WebAuthn response was refused");
        AuthError::InvalidWebauthnCredential
    }
}

/// A failure of the server's own WebAuthn step (not the client's answer).
pub(super) fn internal(what: &str, err: impl std::fmt::Display) -> AuthError {
    AuthError::Internal(format!("webauthn: cannot {what}: {err}"))
}

/// The row of a newly verified passkey.
fn record_of(
    passkey: &Passkey,
    user_id: Uuid,
    nickname: String,
    now: time::OffsetDateTime,
) -> Result<PasskeyRecord, AuthError> {
    let credential: Credential = passkey.clone().into();
    let transports = credential
        .transports
        .iter()
        .flatten()
        .filter_map(|t| serde_json::to_value(t).ok())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    Ok(PasskeyRecord {
        id: Uuid::new_v4(),
        user_id,
        credential_id: credential.cred_id.to_vec(),
        passkey: serde_json::to_value(passkey).map_err(|err| internal("keep a passkey", err))?,
        counter: i64::from(credential.counter),
        backup_eligible: credential.backup_eligible,
        backup_state: credential.backup_state,
        transports,
        nickname,
        created_at: now,
        last_used_at: None,
    })
}
