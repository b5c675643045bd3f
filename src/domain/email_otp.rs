//! Email one-time codes (Nhost's `signInOTPEmail`): `POST /signin/otp/email` emails a
//! six-digit code, and `POST /signin/otp/email/verify {email, otp}` trades it for a session.
//!
//! The request answers the same whether or not the account exists, and creates the account
//! when sign-up allows, exactly as a sign-in link does ([`EmailLinks::passwordless_user`]).
//! Typing the code proves the mailbox, so it goes through [`EmailLinks::claim_mailbox`]: an
//! unverified account's earlier password and sessions go.
//!
//! A code has a million values, so it is guarded where a link's 256-bit ticket need not be:
//! - it lives [`Purpose::EmailOtp`]'s lifetime (10 minutes), once;
//! - only the account's newest code can be tried, and asking for a new one spends the older
//!   ones;
//! - each code may be tried [`MAX_ATTEMPTS`] times, counted in its ticket row by one
//!   conditional UPDATE, so replicas and client IPs share the budget; the last wrong try
//!   spends it;
//! - every wrong code counts as a failed sign-in of the address
//!   (`TESSERA_RATE_LIMIT_FAILED_SIGNINS`), which bounds guesses across successive codes,
//!   whether or not the account exists;
//! - it is stored only as an HMAC-SHA256 over (ticket id, user id, code) under a key
//!   derived from the key-encryption key, which is not in the database: a dump cannot be
//!   brute-forced offline (a bare SHA-256 of six digits would fall to a million hashes).
//!   Without a key-encryption key (signing keys stored in clear, which an operator must
//!   allow explicitly) a random secret kept in the database keys it instead.
//!
//! The code is never logged: it travels only in the message (and the outbox file, which is
//! owner-only) and in the verify request's body, which is not logged either.

use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde_json::json;
use uuid::Uuid;

use crate::config::Rate;
use crate::domain::errors::AuthError;
use crate::domain::keys::secrets::shared_secret;
use crate::domain::links::EmailLinks;
use crate::domain::mfa::{SecondFactor, SignIn};
use crate::domain::profile;
use crate::domain::profile::NewProfile;
use crate::domain::rate_limits::{Bucket, FailedSignIns};
use crate::domain::sessions::{self, AuthMethod, ClientInfo};
use crate::domain::tickets::Purpose;
use crate::store::{Store, StoreError, TicketRecord};
use crate::support::clock::Clock;
use crate::support::email::{Email, EmailKind, Mailer};

/// Digits of a code (Nhost's length).
pub const CODE_DIGITS: usize = 6;
/// Tries a code allows, right or wrong; the last wrong one spends it.
pub const MAX_ATTEMPTS: i64 = 5;
/// The name of the fallback HMAC key in `server_secrets` (no key-encryption key).
const SECRET_NAME: &str = "email-otp-hmac";
/// Domain separation for the tag.
const TAG_CONTEXT: &[u8] = b"tessera email otp v1\0";
/// The largest multiple of 10^6 that fits in a u32: drawing below it keeps codes uniform.
const UNBIASED_BELOW: u32 = u32::MAX / 1_000_000 * 1_000_000;

/// Issues and checks email codes.
pub struct EmailOtp {
    /// Finds or creates the account, proves its mailbox and records events.
    links: Arc<EmailLinks>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mailer: Arc<Mailer>,
    /// Ends a sign-in: the session, or the second step when TOTP is on.
    mfa: Arc<SecondFactor>,
    key: hmac::Key,
    rng: SystemRandom,
    failed_signins: FailedSignIns,
}

impl EmailOtp {
    /// The purpose the HMAC key is derived for from the key-encryption key.
    pub const DERIVED_PURPOSE: &'static str = "email-otp-hmac";

    /// Email codes keyed by `derived` (the secret [`crate::domain::keys::KeyService::derived_secret`]
    /// gives for [`EmailOtp::DERIVED_PURPOSE`]) or, without one, by a random secret shared
    /// through the database. Wrong codes count against `failed_signins` per address.
    pub async fn load(
        links: Arc<EmailLinks>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        mailer: Arc<Mailer>,
        mfa: Arc<SecondFactor>,
        derived: Option<[u8; 32]>,
        failed_signins: Rate,
    ) -> Result<Self, StoreError> {
        let rng = SystemRandom::new();
        let secret = shared_secret(store.as_ref(), clock.as_ref(), SECRET_NAME, derived).await?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            failed_signins: FailedSignIns::new(store.clone(), clock.clone(), failed_signins),
            links,
            store,
            clock,
            mailer,
            mfa,
            rng,
        })
    }

    fn message(ticket_id: Uuid, user_id: Uuid, code: &str) -> Vec<u8> {
        let mut message = TAG_CONTEXT.to_vec();
        message.extend_from_slice(ticket_id.as_bytes());
        message.extend_from_slice(user_id.as_bytes());
        message.extend_from_slice(code.as_bytes());
        message
    }

    /// `POST /signin/otp/email`: emails a code to the account of `email`, creating the
    /// account (with `profile`) if sign-up allows. Answers the same whether or not the
    /// account exists, and sends nothing to an address without an (enabled) account.
    pub async fn request(
        &self,
        email: &str,
        profile: NewProfile,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let email = profile::normalise_email(email)?;
        let Some(user) = self
            .links
            .passwordless_user(&email, profile, "email-otp", client)
            .await?
        else {
            return Ok(());
        };
        let code = new_code(&self.rng);
        let now = self.clock.now();
        let id = Uuid::new_v4();
        let ticket = TicketRecord {
            id,
            user_id: user.id,
            purpose: Purpose::EmailOtp.as_str().into(),
            hash: hmac::sign(&self.key, &Self::message(id, user.id, &code))
                .as_ref()
                .to_vec(),
            created_at: now,
            expires_at: now + Purpose::EmailOtp.lifetime(),
            used_at: None,
            redirect_to: None,
            code_challenge: None,
            payload: json!({}),
        };
        // Spends the address's earlier codes: only the newest one can be typed.
        self.store.replace_ticket(&ticket).await?;
        self.mailer.send(Email {
            to: email,
            kind: EmailKind::SigninOtp,
            link: String::new(),
            code: code.into(),
            new_email: String::new(),
            display_name: user.display_name,
            locale: user.locale,
            expires_in: Purpose::EmailOtp.lifetime(),
        });
        Ok(())
    }

    /// `POST /signin/otp/email/verify`: the address's newest code for a session (or, with
    /// TOTP on, the second step: a code proves only the mailbox). Every failure (wrong,
    /// used, expired or exhausted code, no code, no account) is [`AuthError::InvalidOtp`]
    /// and counts as a failed sign-in of the address.
    pub async fn verify(
        &self,
        email: &str,
        otp: &str,
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        let email = profile::normalise_email(email)?;
        if otp.len() != CODE_DIGITS || !otp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::InvalidRequest(format!(
                "otp must be the {CODE_DIGITS} digits of the emailed code."
            )));
        }
        // A locked address is refused before any code is tried, account or not.
        self.failed_signins.check(Bucket::Account(&email)).await?;
        let store = &self.store;
        let purpose = Purpose::EmailOtp.as_str();
        let now = self.clock.now();
        let user = store.user_by_email(&email).await?;
        let attempt = match &user {
            Some(user) => {
                store
                    .attempt_ticket(user.id, purpose, now, MAX_ATTEMPTS)
                    .await?
            }
            None => None,
        };
        let matched = match &attempt {
            Some((ticket, _)) => hmac::verify(
                &self.key,
                &Self::message(ticket.id, ticket.user_id, otp),
                &ticket.hash,
            )
            .is_ok(),
            None => {
                // The same work as a real comparison.
                let _ = hmac::sign(&self.key, &Self::message(Uuid::nil(), Uuid::nil(), otp));
                false
            }
        };
        let ticket = match attempt {
            Some((ticket, _)) if matched => ticket,
            attempt => {
                if let Some((ticket, tries)) = attempt
                    && tries >= MAX_ATTEMPTS
                {
                    // The last try was wrong: the code is spent.
                    store.consume_ticket(&ticket.hash, purpose, now).await?;
                }
                self.record_failure(&email, user.as_ref().map(|u| u.id), client)
                    .await?;
                return Err(AuthError::InvalidOtp);
            }
        };
        // Single use: of two right answers at once, one redeems the code.
        let redeemed = store
            .consume_ticket(&ticket.hash, purpose, now)
            .await?
            .ok_or(AuthError::InvalidOtp)?;
        let user = store
            .user_by_id(redeemed.user_id)
            .await?
            .ok_or(AuthError::InvalidOtp)?;
        if user.disabled {
            return Err(AuthError::DisabledUser);
        }
        // Typing the code proves the mailbox (the unverified-account rule, docs/security.md).
        self.links.claim_mailbox(&user, "email-otp", client).await?;
        let user = store
            .user_by_id(user.id)
            .await?
            .ok_or(AuthError::InvalidOtp)?;
        let user_id = user.id;
        let outcome = self.mfa.sign_in(user, client, &[AuthMethod::Email]).await?;
        if let SignIn::Session(_) = outcome {
            self.links
                .record(
                    "signin-succeeded",
                    user_id,
                    client,
                    json!({ "method": "email-otp" }),
                )
                .await;
        }
        Ok(outcome)
    }

    async fn record_failure(
        &self,
        email: &str,
        user_id: Option<Uuid>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let event = sessions::event(
            self.clock.now(),
            "signin-failed",
            user_id,
            None,
            client,
            json!({ "method": "email-otp" }),
        );
        if let Err(err) = self.store.record_event(&event).await {
            tracing::warn!(error = %err, "cannot record a failed sign-in");
        }
        self.failed_signins
            .record_failure(Bucket::Account(email))
            .await
    }
}

/// Six uniform decimal digits from the OS generator.
fn new_code(rng: &SystemRandom) -> String {
    loop {
        let mut bytes = [0u8; 4];
        rng.fill(&mut bytes).expect("the OS random generator");
        let n = u32::from_le_bytes(bytes);
        if n < UNBIASED_BELOW {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_uniform_by_construction() {
        let rng = SystemRandom::new();
        let codes: Vec<String> = (0..200).map(|_| new_code(&rng)).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == CODE_DIGITS && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(codes.iter().any(|c| c != &codes[0]), "random");
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[1u8; 32]);
        let tag = |ticket: Uuid, code: &str| {
            hmac::sign(&key, &EmailOtp::message(ticket, Uuid::nil(), code))
                .as_ref()
                .to_vec()
        };
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_ne!(
            tag(a, "123456"),
            tag(b, "123456"),
            "equal codes of two tickets hash differently"
        );
        assert_ne!(tag(a, "123456"), tag(a, "123457"));
    }
}
