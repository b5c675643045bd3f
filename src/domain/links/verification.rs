//! Email verification: the link sent at sign-up (when `TESSERA_REQUIRE_EMAIL_VERIFICATION`
//! is on, or on request) and what following it does.

use serde_json::json;

use super::EmailLinks;
use crate::domain::errors::AuthError;
use crate::domain::sessions::ClientInfo;
use crate::domain::tickets::{Purpose, TicketOptions};
use crate::store::{UserRecord, UserUpdate};
use crate::support::email::EmailKind;

impl EmailLinks {
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

    /// The account's own verification link: confirms the account as it is.
    pub(super) async fn confirm_email(
        &self,
        user: &UserRecord,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if !user.email_verified {
            let update = UserUpdate {
                email_verified: Some(true),
                ..UserUpdate::default()
            };
            self.store
                .update_user(user.id, &update, self.clock.now())
                .await?;
            self.record("email-verified", user.id, client, json!({}))
                .await;
        }
        Ok(())
    }
}
