//! What emailed links drive: email verification, password reset and
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
//! with access: see [`EmailLinks::claim_mailbox`].
//!
//! This module holds the service and what every flow shares (building and mailing a link,
//! recording events, ending a user's access, following a link); each flow has a file:
//! `verification.rs`, `password.rs` (reset and change), `email_change.rs` (and its revert),
//! `passwordless.rs` (sign-in links, and proving a mailbox) and `code_exchange.rs`.

mod code_exchange;
mod email_change;
mod password;
mod passwordless;
mod verification;

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::json;
use url::Url;
use uuid::Uuid;

use crate::config::Rate;
use crate::domain::errors::AuthError;
use crate::domain::mfa::SecondFactor;
use crate::domain::passwords::Passwords;
use crate::domain::pats;
use crate::domain::profile;
use crate::domain::rate_limits::FailedSignIns;
use crate::domain::redirects::with_param;
use crate::domain::sessions::{self, ClientInfo, Sessions};
use crate::domain::signup_policy::SignUpPolicy;
use crate::domain::tickets::{Purpose, TicketOptions, Tickets};
use crate::store::{Store, UserRecord};
use crate::support::clock::Clock;
use crate::support::email::{Email, EmailKind, Mailer};

/// Where a followed link leads: the app's URL, with a code or an error.
#[derive(Debug)]
pub struct LinkOutcome {
    pub location: Url,
}

/// Email-driven flows.
pub struct EmailLinks {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tickets: Tickets,
    mailer: Arc<Mailer>,
    passwords: Arc<Passwords>,
    sessions: Arc<Sessions>,
    /// Ends the sign-ins of links (a session, or the second step when TOTP is on).
    mfa: Arc<SecondFactor>,
    /// Who may sign up, with which roles, and where links may lead.
    policy: SignUpPolicy,
    /// Wrong current passwords count as failed sign-ins of the account.
    failed_signins: FailedSignIns,
}

impl EmailLinks {
    /// The flows under the sign-up `policy`; wrong current passwords count against
    /// `failed_signins_per_account`; sign-ins end through `mfa`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        mailer: Arc<Mailer>,
        passwords: Arc<Passwords>,
        mfa: Arc<SecondFactor>,
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
            sessions: mfa.sessions().clone(),
            mfa,
            policy,
        }
    }

    /// The sign-up policy these flows apply.
    pub fn policy(&self) -> &SignUpPolicy {
        &self.policy
    }

    /// The `/verify` URL of a ticket, under the public URL.
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

    /// Issues a ticket for `user` and mails its link to `to`.
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

    /// Records a security event of `user_id`; a lost audit line does not undo the change.
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

    /// The account of an address as typed; a malformed address has none.
    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, AuthError> {
        match profile::normalise_email(email) {
            Ok(email) => Ok(self.store.user_by_email(&email).await?),
            Err(_) => Ok(None),
        }
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

    /// Redeems the ticket of a followed link and does what the link is for; returns where
    /// the browser goes next.
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
        match purpose {
            Purpose::VerifyEmail => self.confirm_email(&user, client).await?,
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
            Purpose::PasswordReset => return self.reset_form(&user, target).await,
            Purpose::ExchangeCode
            | Purpose::PasswordResetForm
            | Purpose::EmailOtp
            | Purpose::MfaTotp => {
                return Err(AuthError::InvalidTicket);
            }
        }
        self.with_exchange_code(&user, target, record.code_challenge)
            .await
    }
}
