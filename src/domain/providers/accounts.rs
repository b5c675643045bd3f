//! Which account a provider's sign-in reaches, the linking rules, and what a user and an
//! administrator can do with identities (list, link with an ID token, unlink).

use serde_json::{Value, json};
use uuid::Uuid;

use super::{NonceCheck, Provider, ProviderUser, Providers};
use crate::domain::errors::AuthError;
use crate::domain::mfa::SignIn;
use crate::domain::profile::{self, NewProfile, new_user};
use crate::domain::sessions::{self, AuthMethod, ClientInfo};
use crate::store::{IdentityRecord, IdentityRemoval, ProviderFlowRecord, StoreError, UserRecord};

/// The constraint of an identity linked already (to anyone).
const IDENTITY_TAKEN: &str = "user_providers_provider_subject_key";

impl Providers {
    /// The account `user` of provider `name` signs in to, linking or creating one by the
    /// rules of the module's documentation. `options`: the sign-up options of the request.
    pub(super) async fn account_for(
        &self,
        name: &str,
        user: &ProviderUser,
        options: Value,
        client: &ClientInfo,
    ) -> Result<UserRecord, AuthError> {
        let now = self.clock.now();
        if let Some(identity) = self.store.identity(name, &user.subject).await? {
            let account = self.enabled_user(identity.user_id).await?;
            self.store
                .record_identity_use(identity.id, user.email.as_deref(), now)
                .await?;
            return Ok(account);
        }
        let email = user
            .email
            .as_deref()
            .and_then(|e| profile::normalise_email(e).ok())
            .ok_or(AuthError::ProviderEmailNotVerified)?;
        if let Some(existing) = self.store.user_by_email(&email).await? {
            return self.link_by_email(name, user, existing, client).await;
        }
        self.policy.check_signup_open()?;
        self.policy.check_domain(&email)?;
        if !user.email_verified && self.policy.requires_email_verification() {
            return Err(AuthError::ProviderEmailNotVerified);
        }
        let requested: NewProfile = serde_json::from_value(options).unwrap_or_default();
        let display_name = requested.display_name.clone();
        let checked = requested.check(self.policy.roles())?;
        let mut account = new_user(now, Some(email.clone()), email, Some(self.policy.roles()));
        checked.apply(&mut account);
        if display_name.is_none()
            && let Some(name) = user
                .name
                .as_deref()
                .filter(|n| profile::check_display_name(n).is_ok())
        {
            account.display_name = name.to_owned();
        }
        account.avatar_url = user.picture.clone().unwrap_or_default();
        account.email_verified = user.email_verified;
        let identity = self.identity_record(name, account.id, user);
        let event = self.event(
            "signup",
            account.id,
            client,
            json!({ "method": "provider", "provider": name }),
        );
        match self
            .store
            .insert_user_with_identity(&account, &identity, &event)
            .await
        {
            Ok(()) => Ok(account),
            // The same identity's callback won a race: sign in to what it made.
            Err(StoreError::Conflict(c)) if c == IDENTITY_TAKEN => {
                let identity = self.store.identity(name, &user.subject).await?;
                let identity = identity.ok_or(AuthError::ProviderAlreadyLinked)?;
                self.enabled_user(identity.user_id).await
            }
            Err(StoreError::Conflict(_)) => Err(AuthError::AccountExists),
            Err(err) => Err(err.into()),
        }
    }

    /// A new identity whose email is an existing account's: linked only when the provider
    /// says the email is verified. An unverified account is then claimed by the mailbox's
    /// holder first (earlier sessions, password, passkeys and identities go).
    async fn link_by_email(
        &self,
        name: &str,
        user: &ProviderUser,
        existing: UserRecord,
        client: &ClientInfo,
    ) -> Result<UserRecord, AuthError> {
        if !user.email_verified {
            return Err(AuthError::AccountExists);
        }
        if existing.disabled {
            return Err(AuthError::DisabledUser);
        }
        self.links
            .claim_mailbox(&existing, "provider", client)
            .await?;
        let identity = self.identity_record(name, existing.id, user);
        let event = self.event(
            "provider-linked",
            existing.id,
            client,
            json!({ "provider": name, "by": "verified-email" }),
        );
        match self.store.link_identity(&identity, &event).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(AuthError::ProviderAlreadyLinked),
            Err(err) => return Err(err.into()),
        }
        self.enabled_user(existing.id).await
    }

    /// The one-time code of a finished sign-in flow.
    pub(super) async fn code_for_sign_in(
        &self,
        name: &str,
        user_id: Uuid,
        flow: &ProviderFlowRecord,
    ) -> Result<String, AuthError> {
        let payload = json!({ "provider": name });
        self.links
            .issue_exchange_code(user_id, flow.code_challenge.clone(), Some(payload))
            .await
    }

    /// The one-time code of a finished link flow: the identity is linked when the code is
    /// traded with the app's verifier. Refused now if it is someone else's already.
    pub(super) async fn code_for_link(
        &self,
        name: &str,
        user_id: Uuid,
        user: &ProviderUser,
        flow: &ProviderFlowRecord,
    ) -> Result<String, AuthError> {
        if let Some(identity) = self.store.identity(name, &user.subject).await?
            && identity.user_id != user_id
        {
            return Err(AuthError::ProviderAlreadyLinked);
        }
        let payload = json!({ "provider": name,
            "link": { "subject": user.subject, "email": user.email } });
        self.links
            .issue_exchange_code(user_id, flow.code_challenge.clone(), Some(payload))
            .await
    }

    /// `POST /token/exchange`: a one-time code and its PKCE verifier for a session (or the
    /// second step, with TOTP on). The code of an emailed link proves the mailbox; one of a
    /// provider's flow, the sign-in there (and links the identity, for a link flow).
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        let (user, payload) = self.links.redeem_exchange_code(code, verifier).await?;
        let Some(name) = payload.get("provider").and_then(Value::as_str) else {
            return self.links.finish_link_exchange(user, client).await;
        };
        if let Some(link) = payload.get("link") {
            let linked = ProviderUser {
                subject: link["subject"].as_str().unwrap_or_default().to_owned(),
                email: link["email"].as_str().map(str::to_owned),
                email_verified: false,
                name: None,
                picture: None,
                locale: None,
            };
            self.link(name, user.id, &linked, None, client).await?;
        }
        self.sign_in(name, user, client).await
    }

    /// Signs `user` in after a sign-in at provider `name`.
    async fn sign_in(
        &self,
        name: &str,
        user: UserRecord,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        let user_id = user.id;
        let outcome = self
            .mfa
            .sign_in(user, client, &[AuthMethod::Federated])
            .await?;
        if let SignIn::Session(_) = outcome {
            let detail = json!({ "method": "provider", "provider": name });
            self.record("signin-succeeded", user_id, client, detail)
                .await;
        }
        Ok(outcome)
    }

    /// `POST /signin/idtoken`: an ID token the app got from provider `name` itself, with
    /// the nonce whose hex SHA-256 it carries.
    pub async fn sign_in_with_id_token(
        &self,
        name: &str,
        id_token: &str,
        nonce: Option<&str>,
        options: NewProfile,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        let user = self.verify_id_token(name, id_token, nonce).await?;
        let options =
            serde_json::to_value(&options).map_err(|e| AuthError::Internal(e.to_string()))?;
        let account = self.account_for(name, &user, options, client).await?;
        self.sign_in(name, account, client).await
    }

    /// `POST /link/idtoken`: links the identity of an ID token of provider `name` to the
    /// signed-in user, whose session must have authenticated recently.
    pub async fn link_id_token(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        name: &str,
        id_token: &str,
        nonce: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.require_recent(user_id, session_id).await?;
        let user = self.verify_id_token(name, id_token, nonce).await?;
        self.link(name, user_id, &user, Some(session_id), client)
            .await
    }

    async fn verify_id_token(
        &self,
        name: &str,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<ProviderUser, AuthError> {
        match self.provider(name)? {
            Provider::Oidc(oidc) => {
                oidc.verify_id_token(id_token, NonceCheck::HashOf(nonce))
                    .await
            }
            Provider::Github(_) => Err(AuthError::InvalidRequest(
                "GitHub issues no ID tokens: sign in with GET /signin/provider/github".into(),
            )),
        }
    }

    /// Links an identity to `user_id` explicitly; linking one the user has already is a
    /// no-op.
    async fn link(
        &self,
        name: &str,
        user_id: Uuid,
        user: &ProviderUser,
        session_id: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if let Some(identity) = self.store.identity(name, &user.subject).await? {
            return match identity.user_id == user_id {
                true => Ok(()),
                false => Err(AuthError::ProviderAlreadyLinked),
            };
        }
        let identity = self.identity_record(name, user_id, user);
        let event = sessions::event(
            self.clock.now(),
            "provider-linked",
            Some(user_id),
            session_id,
            client,
            json!({ "provider": name, "by": "user" }),
        );
        match self.store.link_identity(&identity, &event).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(AuthError::ProviderAlreadyLinked),
            Err(err) => Err(err.into()),
        }
    }

    /// `GET /user/providers`, and the admin's view: the user's identities.
    pub async fn identities(&self, user_id: Uuid) -> Result<Vec<IdentityRecord>, AuthError> {
        Ok(self.store.identities_of(user_id).await?)
    }

    /// `DELETE /user/providers/{p}` (`session_id`: the user's own session, which must have
    /// authenticated recently) and `DELETE /admin/users/{id}/providers/{p}` (`None`).
    /// Refused when it is the account's last way to sign in.
    pub async fn unlink(
        &self,
        user_id: Uuid,
        name: &str,
        session_id: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if let Some(session_id) = session_id {
            self.require_recent(user_id, session_id).await?;
        }
        let by = if session_id.is_some() {
            "user"
        } else {
            "admin"
        };
        let event = sessions::event(
            self.clock.now(),
            "provider-unlinked",
            Some(user_id),
            session_id,
            client,
            json!({ "provider": name, "by": by }),
        );
        match self.store.unlink_identity(user_id, name, &event).await? {
            IdentityRemoval::Removed => Ok(()),
            IdentityRemoval::NotFound => Err(AuthError::ProviderNotLinked),
            IdentityRemoval::LastSignInMethod => Err(AuthError::LastSignInMethod),
        }
    }

    /// A sensitive change of the account: a recent authentication, with the second factor
    /// when the user has one.
    pub(super) async fn require_recent(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<(), AuthError> {
        let user = self.enabled_user(user_id).await?;
        if self
            .sessions
            .may_make_sensitive_change(&user, session_id)
            .await?
        {
            Ok(())
        } else {
            Err(AuthError::ElevatedClaimRequired)
        }
    }

    async fn enabled_user(&self, user_id: Uuid) -> Result<UserRecord, AuthError> {
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if user.disabled {
            return Err(AuthError::DisabledUser);
        }
        Ok(user)
    }

    fn identity_record(&self, name: &str, user_id: Uuid, user: &ProviderUser) -> IdentityRecord {
        let now = self.clock.now();
        IdentityRecord {
            id: Uuid::new_v4(),
            user_id,
            provider: name.to_owned(),
            subject: user.subject.clone(),
            email: user.email.clone(),
            created_at: now,
            last_used_at: Some(now),
        }
    }

    fn event(
        &self,
        kind: &str,
        user_id: Uuid,
        client: &ClientInfo,
        detail: Value,
    ) -> crate::store::SecurityEventRecord {
        sessions::event(self.clock.now(), kind, Some(user_id), None, client, detail)
    }

    /// Records a security event; the change already happened, so a lost audit line must
    /// not undo it.
    async fn record(&self, kind: &str, user_id: Uuid, client: &ClientInfo, detail: Value) {
        let event = self.event(kind, user_id, client, detail);
        if let Err(err) = self.store.record_event(&event).await {
            tracing::warn!(error = %err, kind, "cannot record a security event");
        }
    }
}
