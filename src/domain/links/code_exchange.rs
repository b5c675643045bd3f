//! The PKCE code exchange: a followed link whose request carried a `codeChallenge` leads to
//! the app with a one-time `code`, which `POST /token/exchange` trades, with the
//! `codeVerifier`, for a session.

use serde_json::json;
use url::Url;

use super::EmailLinks;
use crate::domain::errors::AuthError;
use crate::domain::mfa::SignIn;
use crate::domain::redirects::with_param;
use crate::domain::sessions::{AuthMethod, ClientInfo};
use crate::domain::tickets::{Purpose, TicketOptions, pkce_matches};
use crate::store::UserRecord;

impl EmailLinks {
    /// Where a followed link leads: `target`, with a one-time code for a session when the
    /// request that sent the link carried a PKCE challenge.
    pub(super) async fn with_exchange_code(
        &self,
        user: &UserRecord,
        target: Url,
        code_challenge: Option<String>,
    ) -> Result<Url, AuthError> {
        let Some(challenge) = code_challenge else {
            return Ok(target);
        };
        let code = self.issue_exchange_code(user.id, challenge, None).await?;
        Ok(with_param(target, "code", &code))
    }

    /// A one-time code for `POST /token/exchange` that leads to a session of `user_id` for
    /// whoever holds the PKCE verifier of `challenge`; `payload` says what the code proves
    /// (none: the mailbox; a provider's sign-in: see `domain::providers`).
    pub(crate) async fn issue_exchange_code(
        &self,
        user_id: uuid::Uuid,
        challenge: String,
        payload: Option<serde_json::Value>,
    ) -> Result<String, AuthError> {
        let options = TicketOptions {
            redirect_to: None,
            code_challenge: Some(challenge),
            payload,
        };
        self.tickets
            .issue(user_id, Purpose::ExchangeCode, options)
            .await
    }

    /// Redeems a code of `POST /token/exchange` with its PKCE verifier: its enabled user
    /// and the payload it was issued with.
    pub(crate) async fn redeem_exchange_code(
        &self,
        code: &str,
        verifier: &str,
    ) -> Result<(UserRecord, serde_json::Value), AuthError> {
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
        Ok((user, record.payload))
    }

    /// The end of `POST /token/exchange` for a code of an emailed link: a session (or,
    /// with TOTP on, the second step: a link proves only the mailbox).
    pub(crate) async fn finish_link_exchange(
        &self,
        user: UserRecord,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        let user_id = user.id;
        // The link's code proves control of the mailbox: `email`, like an emailed code.
        let outcome = self.mfa.sign_in(user, client, &[AuthMethod::Email]).await?;
        if let SignIn::Session(_) = outcome {
            self.record(
                "signin-succeeded",
                user_id,
                client,
                json!({ "method": "link" }),
            )
            .await;
        }
        Ok(outcome)
    }
}
