//! Email change: a confirmation link to the new address, then a notice to the old one
//! whose link reverts the change and ends every session.

use serde_json::json;
use uuid::Uuid;

use super::EmailLinks;
use crate::domain::errors::AuthError;
use crate::domain::profile;
use crate::domain::sessions::ClientInfo;
use crate::domain::tickets::{Purpose, TicketOptions};
use crate::store::{StoreError, UserRecord, UserUpdate};
use crate::support::email::EmailKind;

impl EmailLinks {
    /// `POST /user/email/change`: emails a confirmation link to the new address. Asks what
    /// every sensitive change asks ([`Sessions::may_make_sensitive_change`]): a recent
    /// authentication of this session, with the second factor when the user has one.
    ///
    /// [`Sessions::may_make_sensitive_change`]: crate::domain::sessions::Sessions::may_make_sensitive_change
    pub async fn request_email_change(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        new_email: &str,
        redirect_to: Option<&str>,
        code_challenge: Option<String>,
    ) -> Result<(), AuthError> {
        let redirect_to = self.policy.redirect_target(redirect_to)?;
        let new_email = profile::normalise_email(new_email)?;
        self.policy.check_domain(&new_email)?;
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if !self
            .sessions
            .may_make_sensitive_change(&user, session_id)
            .await?
        {
            return Err(AuthError::ElevatedClaimRequired);
        }
        if self.store.user_by_email(&new_email).await?.is_some() {
            return Err(AuthError::EmailAlreadyInUse);
        }
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

    /// A confirmed email change: the new address becomes the account's, verified, and
    /// the old address is told, with a link that reverts the change.
    pub(super) async fn change_email(
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
    pub(super) async fn revert_email_change(
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
}
