//! The account lifecycle driven by emailed links: email verification, password reset and
//! change, email change and its revert, passwordless sign-in, and the PKCE code exchange.
//!
//! No token ever travels in a URL. A link carries a one-time ticket to Tessera's
//! `/verify`, which redirects to the app's allowed `redirectTo`; when the request that sent
//! the link carried a PKCE `codeChallenge`, the redirect carries a one-time `code` the app
//! exchanges, with its `codeVerifier`, for a session (`POST /token/exchange`).
//! Requests that name an email (resend, reset, passwordless) always answer the same,
//! whether or not the account exists.
//!
//! Whoever proves the mailbox of an unverified account by any route other than that
//! account's own verification link (a sign-in link, a password reset) ends up the only one
//! with access: see [`Lifecycle::claim_mailbox`].

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use url::Url;
use uuid::Uuid;

use crate::config::Rate;
use crate::domain::errors::AuthError;
use crate::domain::passwords::{Passwords, Verified};
use crate::domain::pats;
use crate::domain::profile;
use crate::domain::profile::NewProfile;
use crate::domain::profile::new_user;
use crate::domain::rate_limits::{Bucket, FailedSignIns};
use crate::domain::redirects::{with_fragment, with_param};
use crate::domain::sessions::{self, ClientInfo, IssuedSession, Sessions};
use crate::domain::signup_policy::SignUpPolicy;
use crate::domain::tickets::{Purpose, TicketOptions, Tickets, pkce_matches};
use crate::store::{Store, StoreError, UserRecord, UserUpdate};
use crate::support::clock::Clock;
use crate::support::email::{Email, EmailKind, Mailer};

/// Where a followed link leads: the app's URL, with a code or an error.
#[derive(Debug)]
pub struct LinkOutcome {
    pub location: Url,
}

/// Email-driven flows.
pub struct Lifecycle {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tickets: Tickets,
    mailer: Arc<Mailer>,
    passwords: Arc<Passwords>,
    sessions: Arc<Sessions>,
    /// Who may sign up, with which roles, and where links may lead.
    policy: SignUpPolicy,
    /// Wrong current passwords count as failed sign-ins of the account.
    failed_signins: FailedSignIns,
}

impl Lifecycle {
    /// The flows under the sign-up `policy`; wrong current passwords count against
    /// `failed_signins_per_account`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        mailer: Arc<Mailer>,
        passwords: Arc<Passwords>,
        sessions: Arc<Sessions>,
        policy: SignUpPolicy,
        failed_signins_per_account: Rate,
    ) -> Self {
        Self {
            tickets: Tickets::new(store.clone(), clock.clone()),
            failed_signins: FailedSignIns::new(
                store.clone(),
                clock.clone(),
                failed_signins_per_account,
            ),
            store,
            clock,
            mailer,
            passwords,
            sessions,
            policy,
        }
    }

    /// The sign-up policy these flows apply.
    pub fn policy(&self) -> &SignUpPolicy {
        &self.policy
    }

    fn link(&self, ticket: &str, purpose: Purpose, redirect_to: &str) -> String {
        let mut url = self.policy.public_url().clone();
        let path = format!("{}/verify", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut()
            .append_pair("ticket", ticket)
            .append_pair("type", purpose.link_type())
            .append_pair("redirectTo", redirect_to);
        url.to_string()
    }

    async fn mail(
        &self,
        user: &UserRecord,
        to: &str,
        purpose: Purpose,
        kind: EmailKind,
        options: TicketOptions,
    ) -> Result<(), AuthError> {
        let redirect_to = options.redirect_to.clone().unwrap_or_default();
        let new_email = options
            .payload
            .as_ref()
            .and_then(|p| p["newEmail"].as_str())
            .unwrap_or_default()
            .to_owned();
        let ticket = self.tickets.issue(user.id, purpose, options).await?;
        self.mailer.send(Email {
            to: to.to_owned(),
            kind,
            link: self.link(&ticket, purpose, &redirect_to),
            code: SecretString::default(),
            new_email,
            display_name: user.display_name.clone(),
            locale: user.locale.clone(),
            expires_in: purpose.lifetime(),
        });
        Ok(())
    }

    pub(crate) async fn record(
        &self,
        kind: &str,
        user_id: Uuid,
        client: &ClientInfo,
        detail: serde_json::Value,
    ) {
        let event = sessions::event(self.clock.now(), kind, Some(user_id), None, client, detail);
        if let Err(err) = self.store.record_event(&event).await {
            tracing::warn!(error = %err, kind, "cannot record a security event");
        }
    }

    /// Sends the verification link for a user's address.
    pub async fn send_verification(
        &self,
        user: &UserRecord,
        redirect_to: String,
        code_challenge: Option<String>,
    ) -> Result<(), AuthError> {
        let Some(email) = user.email.clone() else {
            return Ok(());
        };
        let options = TicketOptions {
            redirect_to: Some(redirect_to),
            code_challenge,
            payload: None,
        };
        self.mail(
            user,
            &email,
            Purpose::VerifyEmail,
            EmailKind::VerifyEmail,
            options,
        )
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, AuthError> {
        match profile::normalise_email(email) {
            Ok(email) => Ok(self.store.user_by_email(&email).await?),
            Err(_) => Ok(None),
        }
    }

    /// `POST /user/email/send-verification-email`: resends the link to an unverified
    /// address. Answers the same whether or not the account exists.
    pub async fn resend_verification(
        &self,
        email: &str,
        redirect_to: Option<&str>,
    ) -> Result<(), AuthError> {
        let redirect_to = self.policy.redirect_target(redirect_to)?;
        if let Some(user) = self.user_by_email(email).await?
            && !user.email_verified
            && !user.disabled
        {
            self.send_verification(&user, redirect_to, None).await?;
        }
        Ok(())
    }

    /// `POST /user/password/reset`: emails a reset link. Answers the same whether or not
    /// the account exists.
    pub async fn request_password_reset(
        &self,
        email: &str,
        redirect_to: Option<&str>,
    ) -> Result<(), AuthError> {
        let redirect_to = self.policy.redirect_target(redirect_to)?;
        if let Some(user) = self.user_by_email(email).await?
            && !user.disabled
            && let Some(address) = user.email.clone()
        {
            let options = TicketOptions {
                redirect_to: Some(redirect_to),
                ..TicketOptions::default()
            };
            self.mail(
                &user,
                &address,
                Purpose::PasswordReset,
                EmailKind::PasswordReset,
                options,
            )
            .await?;
        }
        Ok(())
    }

    /// Sets `user`'s password (after the policy), with whatever else `update` changes.
    async fn set_password(
        &self,
        user: &UserRecord,
        password: &SecretString,
        update: UserUpdate,
    ) -> Result<(), AuthError> {
        let email = user.email.clone().unwrap_or_default();
        let local = email.split('@').next().unwrap_or_default().to_owned();
        self.passwords
            .check_policy(password.expose_secret(), &[&email, &local])?;
        let now = self.clock.now();
        let update = UserUpdate {
            password_hash: Some(Some(self.passwords.hash(password).await?)),
            password_changed_at: Some(now),
            ..update
        };
        self.store.update_user(user.id, &update, now).await?;
        Ok(())
    }

    /// Ends every session of the user (but `keep`) and revokes its personal access tokens,
    /// recording why; returns how many of each. What every takeover defence does once
    /// someone else may have had access.
    async fn end_access(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        reason: &str,
        client: &ClientInfo,
    ) -> Result<(u64, u64), AuthError> {
        let now = self.clock.now();
        let event = sessions::event(
            now,
            "session-revoked",
            Some(user_id),
            None,
            client,
            json!({ "reason": reason, "by": "user" }),
        );
        let sessions = self
            .store
            .revoke_user_sessions(user_id, keep, reason, &event)
            .await?;
        let pats =
            pats::revoke_all(self.store.as_ref(), user_id, now, reason, "user", client).await?;
        Ok((sessions, pats))
    }

    /// The mailbox of `user` was just proven by `route`, other than the account's own
    /// verification link. If the account was unverified, whoever registered the address
    /// may not be its holder (a pre-registered account): every session ends and the
    /// password set before the address was proven goes, so the holder alone has access
    /// (and sets a password by reset). Marks the address verified.
    pub(crate) async fn claim_mailbox(
        &self,
        user: &UserRecord,
        route: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if user.email_verified {
            return Ok(());
        }
        let now = self.clock.now();
        let had_password = user.password_hash.is_some();
        let update = UserUpdate {
            email_verified: Some(true),
            password_hash: had_password.then_some(None),
            password_changed_at: had_password.then_some(now),
            ..UserUpdate::default()
        };
        self.store.update_user(user.id, &update, now).await?;
        // A PAT is a credential like a session: whoever made it before the address was
        // proven may not be the mailbox holder.
        let (revoked, pats_revoked) = self
            .end_access(user.id, None, "unverified-account-claimed", client)
            .await?;
        if had_password || revoked > 0 || pats_revoked > 0 {
            self.record(
                "unverified-account-claimed",
                user.id,
                client,
                json!({ "route": route, "passwordRemoved": had_password,
                        "sessionsRevoked": revoked, "patsRevoked": pats_revoked }),
            )
            .await;
        }
        self.record("email-verified", user.id, client, json!({ "route": route }))
            .await;
        Ok(())
    }

    /// `POST /user/password` signed in: sets the password and ends every other session.
    /// The session's sign-in must be recent (`TESSERA_RECENT_AUTH_WINDOW`), or the caller
    /// must send the current password: a stolen access token alone cannot lock the owner
    /// out.
    pub async fn change_password(
        &self,
        user_id: Uuid,
        current_session: Uuid,
        password: &SecretString,
        current_password: Option<&SecretString>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        match current_password {
            Some(current) => self.confirm_password(&user, current, client).await?,
            None if self.sessions.recent_sign_in(current_session).await? => {}
            None => return Err(AuthError::ElevatedClaimRequired),
        }
        self.set_password(&user, password, UserUpdate::default())
            .await?;
        // A password change is what a user does who fears someone else got in: a PAT made
        // by that someone must not outlive it.
        self.end_access(user.id, Some(current_session), "password-changed", client)
            .await?;
        self.record(
            "password-changed",
            user.id,
            client,
            json!({ "otherSessionsRevoked": true }),
        )
        .await;
        Ok(())
    }

    /// Checks a signed-in user's current password; a wrong one counts against the
    /// account's failed sign-ins, as at sign-in.
    async fn confirm_password(
        &self,
        user: &UserRecord,
        password: &SecretString,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let email = user.email.clone().unwrap_or_default();
        self.failed_signins.check(Bucket::Account(&email)).await?;
        let verified = self
            .passwords
            .verify(password, user.password_hash.as_deref())
            .await?;
        if matches!(verified, Verified::Yes { .. }) {
            return Ok(());
        }
        self.record(
            "signin-failed",
            user.id,
            client,
            json!({ "method": "current-password" }),
        )
        .await;
        self.failed_signins
            .record_failure(Bucket::Account(&email))
            .await?;
        Err(AuthError::InvalidEmailPassword)
    }

    /// `POST /user/password` with a reset ticket (the one a followed link put in the app's
    /// URL fragment, or the emailed one): sets the password and ends every session.
    pub async fn reset_password(
        &self,
        ticket: &str,
        password: &SecretString,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        // Check the policy before spending the ticket, so a weak password can be retried.
        let (peeked, purpose) = self
            .tickets
            .peek_any(
                ticket,
                &[Purpose::PasswordResetForm, Purpose::PasswordReset],
            )
            .await?;
        let user = self
            .store
            .user_by_id(peeked.user_id)
            .await?
            .ok_or(AuthError::InvalidTicket)?;
        let email = user.email.clone().unwrap_or_default();
        self.passwords
            .check_policy(password.expose_secret(), &[&email])?;
        let redeemed = self.tickets.redeem(ticket, purpose).await?;
        let user = self
            .store
            .user_by_id(redeemed.user_id)
            .await?
            .ok_or(AuthError::InvalidTicket)?;
        // Receiving the link proves the address.
        self.claim_mailbox(&user, "password-reset", client).await?;
        self.set_password(&user, password, UserUpdate::default())
            .await?;
        self.end_access(user.id, None, "password-reset", client)
            .await?;
        self.record(
            "password-reset",
            user.id,
            client,
            json!({ "allSessionsRevoked": true }),
        )
        .await;
        Ok(())
    }

    /// `POST /user/email/change`: emails a confirmation link to the new address.
    pub async fn request_email_change(
        &self,
        user_id: Uuid,
        new_email: &str,
        redirect_to: Option<&str>,
        code_challenge: Option<String>,
    ) -> Result<(), AuthError> {
        let redirect_to = self.policy.redirect_target(redirect_to)?;
        let new_email = profile::normalise_email(new_email)?;
        self.policy.check_domain(&new_email)?;
        if self.store.user_by_email(&new_email).await?.is_some() {
            return Err(AuthError::EmailAlreadyInUse);
        }
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let options = TicketOptions {
            redirect_to: Some(redirect_to),
            code_challenge,
            payload: Some(json!({ "newEmail": new_email })),
        };
        self.mail(
            &user,
            &new_email,
            Purpose::EmailChange,
            EmailKind::EmailChange,
            options,
        )
        .await
    }

    /// `POST /signin/passwordless/email`: emails a sign-in link, creating the account (with
    /// `profile`) if sign-up allows. A PKCE challenge is required: the link leads to a
    /// code, never to a token. Answers the same whether or not the account exists.
    pub async fn request_signin_link(
        &self,
        email: &str,
        redirect_to: Option<&str>,
        code_challenge: Option<String>,
        profile: NewProfile,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let redirect_to = self.policy.redirect_target(redirect_to)?;
        let challenge = code_challenge.filter(|c| c.len() == 43).ok_or_else(|| {
            AuthError::InvalidRequest(
                "codeChallenge (PKCE S256) is required for sign-in links.".into(),
            )
        })?;
        let email = profile::normalise_email(email)?;
        let user = self
            .passwordless_user(&email, profile, "passwordless", client)
            .await?;
        if let Some(user) = user {
            let options = TicketOptions {
                redirect_to: Some(redirect_to),
                code_challenge: Some(challenge),
                payload: None,
            };
            self.mail(
                &user,
                &email,
                Purpose::SigninLink,
                EmailKind::SigninLink,
                options,
            )
            .await?;
        }
        Ok(())
    }

    /// The enabled account of a (normalised) address that asked for a passwordless sign-in
    /// (`method`: a link or an emailed code), created with `profile` when there is none and
    /// sign-up allows it (`TESSERA_DISABLE_SIGNUP`, the domain lists). `None`: nothing is
    /// to be sent. The profile is checked first, whether or not it is used, so a bad one
    /// is refused the same way for every address; an existing account is left as it is.
    pub(crate) async fn passwordless_user(
        &self,
        email: &str,
        profile: NewProfile,
        method: &str,
        client: &ClientInfo,
    ) -> Result<Option<UserRecord>, AuthError> {
        let profile = profile.check(self.policy.roles())?;
        let user = match self.store.user_by_email(email).await? {
            Some(user) => Some(user),
            None if !self.policy.signup_open() || self.policy.check_domain(email).is_err() => None,
            None => {
                let mut user = new_user(
                    self.clock.now(),
                    Some(email.to_owned()),
                    email.to_owned(),
                    Some(self.policy.roles()),
                );
                profile.apply(&mut user);
                match self.store.insert_user(&user).await {
                    Ok(()) => {
                        self.record("signup", user.id, client, json!({ "method": method }))
                            .await;
                        Some(user)
                    }
                    Err(StoreError::Conflict(_)) => self.store.user_by_email(email).await?,
                    Err(err) => return Err(err.into()),
                }
            }
        };
        Ok(user.filter(|u| !u.disabled))
    }

    /// `GET /verify`: follows an emailed link. Returns where to send the browser; an
    /// invalid ticket leads to the app's URL with `?error=invalid-ticket` when the request
    /// named an allowed one, else it is an error.
    pub async fn follow_link(
        &self,
        ticket: &str,
        link_type: &str,
        redirect_to: Option<&str>,
        client: &ClientInfo,
    ) -> Result<LinkOutcome, AuthError> {
        let fallback = || redirect_to.and_then(|to| self.policy.allowed_redirect(to));
        let outcome = match Purpose::from_link_type(link_type) {
            Some(purpose) => self.redeem_link(ticket, purpose, client).await,
            None => Err(AuthError::InvalidTicket),
        };
        match outcome {
            Ok(location) => Ok(LinkOutcome { location }),
            Err(err @ (AuthError::InvalidTicket | AuthError::EmailAlreadyInUse)) => {
                let code = if matches!(err, AuthError::InvalidTicket) {
                    "invalid-ticket"
                } else {
                    "email-already-in-use"
                };
                match fallback() {
                    Some(url) => Ok(LinkOutcome {
                        location: with_param(url, "error", code),
                    }),
                    None => Err(err),
                }
            }
            Err(err) => Err(err),
        }
    }

    async fn redeem_link(
        &self,
        ticket: &str,
        purpose: Purpose,
        client: &ClientInfo,
    ) -> Result<Url, AuthError> {
        let record = self.tickets.redeem(ticket, purpose).await?;
        let target = record
            .redirect_to
            .as_deref()
            .and_then(|to| Url::parse(to).ok())
            .ok_or(AuthError::InvalidTicket)?;
        let user = self
            .store
            .user_by_id(record.user_id)
            .await?
            .ok_or(AuthError::InvalidTicket)?;
        if user.disabled {
            return Err(AuthError::InvalidTicket);
        }
        let now = self.clock.now();
        match purpose {
            // The account's own verification link confirms it as it is.
            Purpose::VerifyEmail => {
                if !user.email_verified {
                    let update = UserUpdate {
                        email_verified: Some(true),
                        ..UserUpdate::default()
                    };
                    self.store.update_user(user.id, &update, now).await?;
                    self.record("email-verified", user.id, client, json!({}))
                        .await;
                }
            }
            Purpose::SigninLink => self.claim_mailbox(&user, "signin-link", client).await?,
            Purpose::EmailChange => {
                let new_email = record.payload["newEmail"]
                    .as_str()
                    .ok_or(AuthError::InvalidTicket)?;
                self.change_email(&user, new_email, target.as_str(), client)
                    .await?;
            }
            Purpose::EmailRevert => {
                self.revert_email_change(&user, &record.payload, client)
                    .await?;
            }
            Purpose::PasswordReset => {
                // The emailed ticket is spent; the app's form gets a short-lived one in the
                // fragment, which no browser sends to any server.
                let form_ticket = self
                    .tickets
                    .issue(
                        user.id,
                        Purpose::PasswordResetForm,
                        TicketOptions::default(),
                    )
                    .await?;
                return Ok(with_fragment(
                    target,
                    &[("ticket", &form_ticket), ("type", purpose.link_type())],
                ));
            }
            Purpose::ExchangeCode | Purpose::PasswordResetForm | Purpose::EmailOtp => {
                return Err(AuthError::InvalidTicket);
            }
        }
        match record.code_challenge {
            Some(challenge) => {
                let code = self
                    .tickets
                    .issue(
                        user.id,
                        Purpose::ExchangeCode,
                        TicketOptions {
                            redirect_to: None,
                            code_challenge: Some(challenge),
                            payload: None,
                        },
                    )
                    .await?;
                Ok(with_param(target, "code", &code))
            }
            None => Ok(target),
        }
    }

    /// A confirmed email change: the new address becomes the account's, verified, and
    /// the old address is told, with a link that reverts the change.
    async fn change_email(
        &self,
        user: &UserRecord,
        new_email: &str,
        redirect_to: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let update = UserUpdate {
            email: Some(new_email.to_owned()),
            email_verified: Some(true),
            ..UserUpdate::default()
        };
        match self
            .store
            .update_user(user.id, &update, self.clock.now())
            .await
        {
            Err(StoreError::Conflict(_)) => return Err(AuthError::EmailAlreadyInUse),
            other => other?,
        }
        self.record(
            "email-changed",
            user.id,
            client,
            json!({ "from": user.email, "to": new_email }),
        )
        .await;
        if let Some(old) = &user.email {
            let options = TicketOptions {
                redirect_to: Some(redirect_to.to_owned()),
                code_challenge: None,
                payload: Some(json!({ "oldEmail": old, "newEmail": new_email })),
            };
            self.mail(
                user,
                old,
                Purpose::EmailRevert,
                EmailKind::EmailChanged,
                options,
            )
            .await?;
        }
        Ok(())
    }

    /// The revert link of an email change: the old address comes back (proven by the
    /// link), and every session of the user ends.
    async fn revert_email_change(
        &self,
        user: &UserRecord,
        payload: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let (Some(old), Some(new)) = (payload["oldEmail"].as_str(), payload["newEmail"].as_str())
        else {
            return Err(AuthError::InvalidTicket);
        };
        // Only the change this notice was about: a later change has its own notice.
        if user.email.as_deref() != Some(new) {
            return Err(AuthError::InvalidTicket);
        }
        let now = self.clock.now();
        let update = UserUpdate {
            email: Some(old.to_owned()),
            email_verified: Some(true),
            ..UserUpdate::default()
        };
        match self.store.update_user(user.id, &update, now).await {
            Err(StoreError::Conflict(_)) => return Err(AuthError::EmailAlreadyInUse),
            other => other?,
        }
        self.end_access(user.id, None, "email-change-reverted", client)
            .await?;
        self.record(
            "email-change-reverted",
            user.id,
            client,
            json!({ "from": new, "to": old }),
        )
        .await;
        Ok(())
    }

    /// `POST /token/exchange`: a one-time code and its PKCE verifier for a session.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        // Spent whatever the verifier: a code gets one attempt.
        let record = self.tickets.redeem(code, Purpose::ExchangeCode).await?;
        let challenge = record.code_challenge.as_deref().unwrap_or_default();
        if !pkce_matches(challenge, verifier) {
            return Err(AuthError::InvalidTicket);
        }
        let user = self
            .store
            .user_by_id(record.user_id)
            .await?
            .ok_or(AuthError::InvalidTicket)?;
        if user.disabled {
            return Err(AuthError::DisabledUser);
        }
        let user_id = user.id;
        let issued = self.sessions.create(user, client).await?;
        self.record(
            "signin-succeeded",
            user_id,
            client,
            json!({ "method": "link" }),
        )
        .await;
        Ok(issued)
    }
}
