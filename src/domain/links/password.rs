//! Passwords: the emailed reset link and the reset it allows, and a signed-in change. Both
//! end the user's other access: whoever sets a password fears someone else got in.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use url::Url;
use uuid::Uuid;

use super::EmailLinks;
use crate::domain::errors::AuthError;
use crate::domain::passwords::Verified;
use crate::domain::rate_limits::Bucket;
use crate::domain::redirects::with_fragment;
use crate::domain::sessions::ClientInfo;
use crate::domain::tickets::{Purpose, TicketOptions};
use crate::store::{UserRecord, UserUpdate};
use crate::support::email::EmailKind;

impl EmailLinks {
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

    /// A followed reset link: the emailed ticket is spent; the app's form gets a
    /// short-lived one in the fragment, which no browser sends to any server.
    pub(super) async fn reset_form(
        &self,
        user: &UserRecord,
        target: Url,
    ) -> Result<Url, AuthError> {
        let form_ticket = self
            .tickets
            .issue(
                user.id,
                Purpose::PasswordResetForm,
                TicketOptions::default(),
            )
            .await?;
        Ok(with_fragment(
            target,
            &[
                ("ticket", &form_ticket),
                ("type", Purpose::PasswordReset.link_type()),
            ],
        ))
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
        let has_second_factor = user.active_mfa_type.is_some();
        match current_password {
            // With a second factor, the current password is not enough: the session must
            // have proved the second factor recently.
            Some(current) => {
                self.confirm_password(&user, current, client).await?;
                if has_second_factor
                    && !self
                        .sessions
                        .may_make_sensitive_change(&user, current_session)
                        .await?
                {
                    return Err(AuthError::ElevatedClaimRequired);
                }
            }
            None if self
                .sessions
                .may_make_sensitive_change(&user, current_session)
                .await? => {}
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
}
