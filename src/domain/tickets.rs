//! One-time tickets: the secret in an emailed link, and the code an app exchanges for a
//! session. 32 random bytes (base64url), stored only as SHA-256, bound to one user and one
//! purpose, short-lived, and redeemed by a single conditional UPDATE so that two
//! redemptions of one ticket cannot both succeed.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use uuid::Uuid;

use crate::domain::errors::AuthError;
use crate::store::{Store, TicketRecord};
use crate::support::clock::Clock;

/// What a ticket is for; a ticket of one purpose is refused for every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    PasswordReset,
    EmailChange,
    SigninLink,
    /// The one-time code of `POST /token/exchange`.
    ExchangeCode,
    /// What a followed reset link hands the app's form, in the URL fragment (never to a
    /// server): the emailed ticket is spent by then.
    PasswordResetForm,
    /// The link in the notice to the old address of an email change, which reverts it.
    EmailRevert,
    /// An emailed one-time code (six digits), typed back by the app: see
    /// [`crate::domain::email_otp`]. Found by its account and keyed by an HMAC, not a bare hash.
    EmailOtp,
    /// The second step of a sign-in with TOTP on (`mfaTotp:` + the ticket): bound to the
    /// user whose first factor was right, one live per user, tried at most a few times.
    MfaTotp,
}

impl Purpose {
    /// The value stored in `tickets.purpose`.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify-email",
            Purpose::PasswordReset => "password-reset",
            Purpose::EmailChange => "email-change",
            Purpose::SigninLink => "signin-link",
            Purpose::ExchangeCode => "exchange-code",
            Purpose::PasswordResetForm => "password-reset-form",
            Purpose::EmailRevert => "email-revert",
            Purpose::EmailOtp => "email-otp",
            Purpose::MfaTotp => "mfa-totp",
        }
    }

    /// The `type` of Nhost's links (`/verify?type=...`).
    pub fn link_type(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "emailVerify",
            Purpose::PasswordReset => "passwordReset",
            Purpose::EmailChange => "emailConfirmChange",
            Purpose::SigninLink => "signinPasswordless",
            Purpose::ExchangeCode => "exchangeCode",
            // What the app's form receives is a reset ticket to Nhost's clients.
            Purpose::PasswordResetForm => "passwordReset",
            Purpose::EmailRevert => "emailRevertChange",
            // Never in a link: a code is typed, not followed.
            Purpose::EmailOtp => "emailOtp",
            // Never in a link either: answered to the client that signed in.
            Purpose::MfaTotp => "mfaTotp",
        }
    }

    /// The purpose of a link `type`.
    pub fn from_link_type(link_type: &str) -> Option<Purpose> {
        [
            Purpose::VerifyEmail,
            Purpose::PasswordReset,
            Purpose::EmailChange,
            Purpose::SigninLink,
            Purpose::EmailRevert,
        ]
        .into_iter()
        .find(|p| p.link_type() == link_type)
    }

    /// How long a ticket of this purpose lives.
    pub fn lifetime(self) -> Duration {
        match self {
            Purpose::VerifyEmail | Purpose::EmailChange => Duration::from_secs(24 * 3600),
            Purpose::PasswordReset => Duration::from_secs(3600),
            Purpose::SigninLink => Duration::from_secs(15 * 60),
            Purpose::ExchangeCode => Duration::from_secs(5 * 60),
            Purpose::PasswordResetForm => Duration::from_secs(15 * 60),
            Purpose::EmailRevert => Duration::from_secs(7 * 24 * 3600),
            Purpose::EmailOtp => Duration::from_secs(10 * 60),
            Purpose::MfaTotp => Duration::from_secs(5 * 60),
        }
    }
}

/// Where a ticket came from and where its redemption may lead.
#[derive(Debug, Clone, Default)]
pub struct TicketOptions {
    pub redirect_to: Option<String>,
    pub code_challenge: Option<String>,
    pub payload: Option<Value>,
}

fn hash(ticket: &str) -> Vec<u8> {
    digest(&SHA256, ticket.as_bytes()).as_ref().to_vec()
}

/// PKCE S256: `base64url(SHA-256(verifier)) == challenge`.
pub fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    // RFC 7636: a verifier is 43 to 128 characters of [A-Za-z0-9-._~].
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes())) == challenge
}

/// Issues and redeems tickets.
pub struct Tickets {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: SystemRandom,
}

impl Tickets {
    /// Tickets on this store and clock.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            rng: SystemRandom::new(),
        }
    }

    /// A new ticket for `user_id`; returns the secret to put in a link or a redirect.
    pub async fn issue(
        &self,
        user_id: Uuid,
        purpose: Purpose,
        options: TicketOptions,
    ) -> Result<String, AuthError> {
        self.issue_with(user_id, purpose, options, false).await
    }

    /// A new ticket for `user_id` that spends the user's earlier ones of this purpose (one
    /// transaction): only the newest is live, so [`Tickets::attempt`] counts against it.
    pub async fn issue_sole(
        &self,
        user_id: Uuid,
        purpose: Purpose,
        options: TicketOptions,
    ) -> Result<String, AuthError> {
        self.issue_with(user_id, purpose, options, true).await
    }

    async fn issue_with(
        &self,
        user_id: Uuid,
        purpose: Purpose,
        options: TicketOptions,
        sole: bool,
    ) -> Result<String, AuthError> {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).expect("the OS random generator");
        let ticket = URL_SAFE_NO_PAD.encode(bytes);
        let now = self.clock.now();
        let record = TicketRecord {
            id: Uuid::new_v4(),
            user_id,
            purpose: purpose.as_str().into(),
            hash: hash(&ticket),
            created_at: now,
            expires_at: now + purpose.lifetime(),
            used_at: None,
            redirect_to: options.redirect_to,
            code_challenge: options.code_challenge,
            payload: options.payload.unwrap_or_else(|| serde_json::json!({})),
        };
        if sole {
            self.store.replace_ticket(&record).await?;
        } else {
            self.store.insert_ticket(&record).await?;
        }
        Ok(ticket)
    }

    /// Redeems a ticket of this purpose: unused, unexpired, then used.
    pub async fn redeem(&self, ticket: &str, purpose: Purpose) -> Result<TicketRecord, AuthError> {
        if ticket.len() != 43 {
            return Err(AuthError::InvalidTicket);
        }
        self.store
            .consume_ticket(&hash(ticket), purpose.as_str(), self.clock.now())
            .await?
            .ok_or(AuthError::InvalidTicket)
    }

    /// Counts one try against a live ticket issued by [`Tickets::issue_sole`], refusing it
    /// once it has had `max_attempts` (one conditional UPDATE: replicas share the count).
    /// Returns the ticket and its tries including this one.
    pub async fn attempt(
        &self,
        ticket: &str,
        purpose: Purpose,
        max_attempts: i64,
    ) -> Result<(TicketRecord, i64), AuthError> {
        let record = self.peek(ticket, purpose).await?;
        let now = self.clock.now();
        match self
            .store
            .attempt_ticket(record.user_id, purpose.as_str(), now, max_attempts)
            .await?
        {
            // The newest of the user's tickets is the only live one; anything else was
            // spent meanwhile.
            Some((counted, tries)) if counted.id == record.id => Ok((counted, tries)),
            _ => Err(AuthError::InvalidTicket),
        }
    }

    /// A ticket of this purpose that could be redeemed now, without redeeming it.
    pub async fn peek(&self, ticket: &str, purpose: Purpose) -> Result<TicketRecord, AuthError> {
        self.peek_any(ticket, &[purpose])
            .await
            .map(|(record, _)| record)
    }

    /// A ticket of one of these purposes that could be redeemed now, and its purpose.
    pub async fn peek_any(
        &self,
        ticket: &str,
        purposes: &[Purpose],
    ) -> Result<(TicketRecord, Purpose), AuthError> {
        if ticket.len() != 43 {
            return Err(AuthError::InvalidTicket);
        }
        let now = self.clock.now();
        let record = self
            .store
            .ticket(&hash(ticket))
            .await?
            .filter(|t| t.used_at.is_none() && t.expires_at > now)
            .ok_or(AuthError::InvalidTicket)?;
        let purpose = purposes
            .iter()
            .copied()
            .find(|p| p.as_str() == record.purpose)
            .ok_or(AuthError::InvalidTicket)?;
        Ok((record, purpose))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_as_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(challenge, verifier));
        assert!(!pkce_matches(
            challenge,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"
        ));
        assert!(!pkce_matches(challenge, "short"));
    }

    #[test]
    fn link_types_round_trip() {
        for p in [
            Purpose::VerifyEmail,
            Purpose::PasswordReset,
            Purpose::EmailChange,
            Purpose::SigninLink,
            Purpose::EmailRevert,
        ] {
            assert_eq!(Purpose::from_link_type(p.link_type()), Some(p));
        }
        assert_eq!(
            Purpose::from_link_type("exchangeCode"),
            None,
            "codes are not links"
        );
        assert_eq!(
            Purpose::from_link_type("emailOtp"),
            None,
            "nor are email codes"
        );
    }
}
