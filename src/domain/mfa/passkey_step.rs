//! A passkey in place of the TOTP code at the second step of a sign-in: the passkey
//! ceremony ([`crate::domain::passkeys`]) asks here whose ticket it is, and hands the
//! ticket back here once the passkey is verified.

use serde_json::json;

use super::{SecondFactor, TICKET_PREFIX, first_factor};
use crate::domain::errors::AuthError;
use crate::domain::sessions::{self, AuthMethod, ClientInfo, IssuedSession};
use crate::domain::tickets::Purpose;
use crate::store::UserRecord;

impl SecondFactor {
    /// The user a live second-step ticket (`mfaTotp:...`) is for, without spending it.
    pub async fn ticket_user(&self, ticket: &str) -> Result<UserRecord, AuthError> {
        let raw = ticket
            .strip_prefix(TICKET_PREFIX)
            .ok_or(AuthError::InvalidTicket)?;
        let record = self.tickets.peek(raw, Purpose::MfaTotp).await?;
        let user = self
            .store
            .user_by_id(record.user_id)
            .await?
            .ok_or(AuthError::InvalidTicket)?;
        if user.disabled {
            return Err(AuthError::DisabledUser);
        }
        Ok(user)
    }

    /// Ends the sign-in of `ticket` with a verified passkey of its user: spends the ticket
    /// (of two finishes, one wins) and starts the session with the first factor's methods
    /// and the passkey's (`proved`).
    pub async fn finish_with_passkey(
        &self,
        ticket: &str,
        proved: &[AuthMethod],
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        let raw = ticket
            .strip_prefix(TICKET_PREFIX)
            .ok_or(AuthError::InvalidTicket)?;
        let record = self.tickets.redeem(raw, Purpose::MfaTotp).await?;
        let user = self
            .store
            .user_by_id(record.user_id)
            .await?
            .ok_or(AuthError::InvalidTicket)?;
        if user.disabled {
            return Err(AuthError::DisabledUser);
        }
        let methods = sessions::with_methods(&first_factor(&record), proved);
        let user_id = user.id;
        let issued = self.sessions.create(user, client, &methods).await?;
        self.record(
            "signin-succeeded",
            user_id,
            Some(issued.session_id),
            client,
            json!({ "method": "mfa-totp", "proof": "passkey" }),
        )
        .await;
        Ok(issued)
    }
}
