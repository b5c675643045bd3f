//! The second factor: TOTP (RFC 6238) with single-use recovery codes.
//!
//! - Enrolment (`enrolment.rs`): `GET /mfa/totp/generate` makes a pending secret (20
//!   random bytes, sealed at rest under a key the database does not hold) and ten recovery
//!   codes, shown once; `POST /user/mfa` with a code enables it, or with a code (or a
//!   recovery code) disables it. Both, and replacing the recovery codes, need a recent
//!   authentication ([`SecondFactor::require_recent_authentication`]).
//! - Sign-in: every sign-in that proves a password or a mailbox goes through
//!   [`SecondFactor::sign_in`], which answers a ticket instead of a session when TOTP is
//!   on; [`SecondFactor::verify_sign_in`] trades the ticket and a code for the session.
//! - Guessing: a code is accepted once per time step per user (one conditional UPDATE);
//!   a ticket allows [`MAX_TICKET_ATTEMPTS`] tries; every wrong code counts against the
//!   user ([`CODE_FAILURES`], in the database) and, at sign-in, as a failed sign-in of the
//!   account. Reaching a code check at all needs the password (or the mailbox) or a
//!   signed-in session, so a stranger cannot use these limits to lock the owner out.

mod codes;
mod enrolment;
mod passkey_step;
mod qr;

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use serde_json::json;
use uuid::Uuid;

pub use enrolment::Enrolment;

use crate::config::{MfaConfig, Rate};
use crate::domain::errors::AuthError;
use crate::domain::keys::secrets::shared_secret;
use crate::domain::rate_limits::{Bucket, FailedSignIns};
use crate::domain::sessions::{self, AuthMethod, ClientInfo, IssuedSession, Sessions, SteppedUp};
use crate::domain::tickets::{Purpose, TicketOptions, Tickets};
use crate::store::{Store, StoreError, TicketRecord, UserRecord};
use crate::support::clock::Clock;
use codes::MfaKeys;

/// The prefix of a second-step ticket (Nhost's).
pub const TICKET_PREFIX: &str = "mfaTotp:";
/// Tries a ticket allows; the last wrong one spends it.
pub const MAX_TICKET_ATTEMPTS: i64 = 5;
/// Wrong codes a user may send (sign-in, enabling, disabling) per window.
pub const CODE_FAILURES: (u32, Duration) = (5, Duration::from_secs(15 * 60));
/// The name of the fallback secret in `server_secrets` (no key-encryption key).
const SECRET_NAME: &str = "mfa-totp";

/// What a first factor leads to.
pub enum SignIn {
    /// No second factor: the session.
    Session(IssuedSession),
    /// TOTP is on: the ticket (`mfaTotp:...`) for `POST /signin/mfa/totp`, and the user.
    SecondFactor { ticket: String, user: UserRecord },
}

/// How a code was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    Totp,
    RecoveryCode,
}

impl Proof {
    /// How security events name it.
    fn name(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery-code",
        }
    }

    /// What it adds to a session's `amr`.
    fn methods(self) -> [AuthMethod; 2] {
        match self {
            Self::Totp => [AuthMethod::Otp, AuthMethod::Mfa],
            Self::RecoveryCode => [AuthMethod::Recovery, AuthMethod::Mfa],
        }
    }
}

/// How the first factor of a second-step ticket was proved (kept in its payload).
fn first_factor(ticket: &TicketRecord) -> Vec<AuthMethod> {
    ticket.payload["amr"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|name| name.as_str().and_then(AuthMethod::from_name))
        .collect()
}

/// The second factor.
pub struct SecondFactor {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sessions: Arc<Sessions>,
    tickets: Tickets,
    keys: MfaKeys,
    issuer: String,
    rng: SystemRandom,
    /// Wrong codes per user.
    code_failures: FailedSignIns,
    /// Wrong codes at sign-in also count as failed sign-ins of the address.
    failed_signins: FailedSignIns,
}

impl SecondFactor {
    /// The purpose the keys are derived for from the key-encryption key.
    pub const DERIVED_PURPOSE: &'static str = "mfa-totp";

    /// The second factor keyed by `derived` (what
    /// [`crate::domain::keys::KeyService::derived_secret`] gives for
    /// [`SecondFactor::DERIVED_PURPOSE`]) or, without one, by a random secret shared
    /// through the database; wrong sign-in codes count against `failed_signins`.
    pub async fn load(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        sessions: Arc<Sessions>,
        derived: Option<[u8; 32]>,
        config: &MfaConfig,
        failed_signins: Rate,
    ) -> Result<Self, StoreError> {
        let rng = SystemRandom::new();
        let secret = shared_secret(store.as_ref(), clock.as_ref(), SECRET_NAME, derived).await?;
        Ok(Self {
            keys: MfaKeys::new(&secret),
            tickets: Tickets::new(store.clone(), clock.clone()),
            code_failures: FailedSignIns::new(store.clone(), clock.clone(), Some(CODE_FAILURES)),
            failed_signins: FailedSignIns::new(store.clone(), clock.clone(), failed_signins),
            issuer: config.issuer.clone(),
            store,
            clock,
            sessions,
            rng,
        })
    }

    /// The end of a sign-in whose first factor (password, sign-in link, email code) was
    /// right: the session, or a ticket for the second step when the user has TOTP on.
    pub async fn sign_in(
        &self,
        user: UserRecord,
        client: &ClientInfo,
        first_factor: &[AuthMethod],
    ) -> Result<SignIn, AuthError> {
        if user.active_mfa_type.as_deref() != Some("totp") {
            let issued = self.sessions.create(user, client, first_factor).await?;
            return Ok(SignIn::Session(issued));
        }
        // One live ticket per user: a new sign-in spends the one before. The ticket keeps
        // how the first factor was proved, for the session's `amr`.
        let names: Vec<&str> = first_factor.iter().map(|m| m.as_str()).collect();
        let options = TicketOptions {
            payload: Some(json!({ "amr": names })),
            ..TicketOptions::default()
        };
        let ticket = self
            .tickets
            .issue_sole(user.id, Purpose::MfaTotp, options)
            .await?;
        Ok(SignIn::SecondFactor {
            ticket: format!("{TICKET_PREFIX}{ticket}"),
            user,
        })
    }

    /// The sessions a sign-in ends in (sign-up and the other flows that never ask for a
    /// second factor use them directly).
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// `POST /signin/mfa/totp`: the ticket of a first factor and a TOTP or recovery code
    /// for the session.
    pub async fn verify_sign_in(
        &self,
        ticket: &str,
        otp: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        let raw = ticket
            .strip_prefix(TICKET_PREFIX)
            .ok_or(AuthError::InvalidTicket)?;
        let record = self.tickets.peek(raw, Purpose::MfaTotp).await?;
        let user = self
            .store
            .user_by_id(record.user_id)
            .await?
            .ok_or(AuthError::InvalidTicket)?;
        let (_, tries) = self
            .tickets
            .attempt(raw, Purpose::MfaTotp, MAX_TICKET_ATTEMPTS)
            .await?;
        // Over the user's limit, no code is tried, whatever the ticket.
        self.code_failures.check(Bucket::User(user.id)).await?;
        if user.disabled {
            return Err(AuthError::DisabledUser);
        }
        if user.active_mfa_type.as_deref() != Some("totp") {
            return Err(AuthError::DisabledMfaTotp);
        }
        let proof = match self.check_code(&user, otp, true, client).await? {
            Some(proof) => proof,
            None => {
                if tries >= MAX_TICKET_ATTEMPTS {
                    // The last try was wrong: the ticket is spent.
                    self.tickets.redeem(raw, Purpose::MfaTotp).await.ok();
                }
                self.record_failure(&user, None, "signin", client).await?;
                if let Some(email) = &user.email {
                    self.failed_signins
                        .record_failure(Bucket::Account(email))
                        .await?;
                }
                return Err(AuthError::InvalidTotp);
            }
        };
        // Single use: of two right answers at once, one redeems the ticket.
        self.tickets.redeem(raw, Purpose::MfaTotp).await?;
        let user_id = user.id;
        let methods = sessions::with_methods(&first_factor(&record), &proof.methods());
        let issued = self.sessions.create(user, client, &methods).await?;
        let method = proof.name();
        self.record(
            "signin-succeeded",
            user_id,
            Some(issued.session_id),
            client,
            json!({ "method": "mfa-totp", "proof": method }),
        )
        .await;
        Ok(issued)
    }

    /// `POST /elevate/totp`: a step-up. The signed-in user proves the second factor again
    /// (a TOTP code, or a recovery code) on this session, whose `auth_time` becomes now and
    /// whose methods gain `otp` (or `rec`) and `mfa`; answers an access token that says so.
    /// Wrong codes count against the user's limit, as at sign-in.
    pub async fn elevate(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        otp: &str,
        client: &ClientInfo,
    ) -> Result<SteppedUp, AuthError> {
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if user.active_mfa_type.as_deref() != Some("totp") {
            return Err(AuthError::DisabledMfaTotp);
        }
        // A PAT's session never counts as a recent authentication; stepping it up would
        // give a token that other services would take for one.
        if self.store.session_from_pat(session_id).await? {
            return Err(AuthError::ElevatedClaimRequired);
        }
        self.code_failures.check(Bucket::User(user.id)).await?;
        let Some(proof) = self.check_code(&user, otp, true, client).await? else {
            self.record_failure(&user, Some(session_id), "elevate", client)
                .await?;
            return Err(AuthError::InvalidTotp);
        };
        let added = proof.methods();
        let stepped = self.sessions.step_up(user.id, session_id, &added).await?;
        let proof = proof.name();
        self.record(
            "mfa-step-up",
            user.id,
            Some(session_id),
            client,
            json!({ "proof": proof }),
        )
        .await;
        Ok(stepped)
    }

    /// The check every change of the second factor makes first: the session must have
    /// authenticated recently (`TESSERA_RECENT_AUTH_WINDOW`, not by a PAT), else
    /// `elevated-claim-required`.
    pub async fn require_recent_authentication(&self, session_id: Uuid) -> Result<(), AuthError> {
        if self.sessions.recent_sign_in(session_id).await? {
            Ok(())
        } else {
            Err(AuthError::ElevatedClaimRequired)
        }
    }

    /// `DELETE /admin/users/{id}/mfa`: removes the user's second factor.
    pub async fn reset(&self, user_id: Uuid, actor: &ClientInfo) -> Result<(), AuthError> {
        reset(self.store.as_ref(), self.clock.as_ref(), user_id, actor).await
    }

    /// Whether `otp` is a right, unused code of `user`: a TOTP code of its secret (pending
    /// or enabled) for a step not used before, or (`recovery`) an unused recovery code,
    /// which is then spent. `None` for a wrong one.
    async fn check_code(
        &self,
        user: &UserRecord,
        otp: &str,
        recovery: bool,
        client: &ClientInfo,
    ) -> Result<Option<Proof>, AuthError> {
        let now = self.clock.now();
        if codes::is_totp_code(otp) {
            let Some(stored) = self.store.totp_secret(user.id).await? else {
                return Ok(None);
            };
            let Some(secret) = self.keys.open(user.id, &stored.secret_sealed) else {
                // Sealed under another key (the key-encryption key was replaced): no code
                // can match; an administrator resets the factor.
                tracing::warn!(user_id = %user.id, "a TOTP secret cannot be unsealed");
                return Ok(None);
            };
            let step = codes::totp(secret, &self.issuer, "")
                .and_then(|totp| codes::matching_step(&totp, otp, now.unix_timestamp()));
            return Ok(match step {
                Some(step) if self.store.use_totp_step(user.id, step).await? => Some(Proof::Totp),
                _ => None,
            });
        }
        let Some(code) = codes::normalise_recovery_code(otp).filter(|_| recovery) else {
            return Ok(None);
        };
        let tag = self.keys.recovery_tag(user.id, &code);
        if !self.store.use_recovery_code(user.id, &tag, now).await? {
            return Ok(None);
        }
        let left = self.store.recovery_codes_left(user.id).await?;
        self.record(
            "mfa-recovery-code-used",
            user.id,
            None,
            client,
            json!({ "left": left }),
        )
        .await;
        Ok(Some(Proof::RecoveryCode))
    }

    /// A wrong code: recorded, and counted against the user.
    async fn record_failure(
        &self,
        user: &UserRecord,
        session_id: Option<Uuid>,
        step: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.record(
            "mfa-code-failed",
            user.id,
            session_id,
            client,
            json!({ "step": step }),
        )
        .await;
        self.code_failures
            .record_failure(Bucket::User(user.id))
            .await
    }

    async fn record(
        &self,
        kind: &str,
        user_id: Uuid,
        session_id: Option<Uuid>,
        client: &ClientInfo,
        detail: serde_json::Value,
    ) {
        let event = sessions::event(
            self.clock.now(),
            kind,
            Some(user_id),
            session_id,
            client,
            detail,
        );
        if let Err(err) = self.store.record_event(&event).await {
            tracing::warn!(error = %err, kind, "cannot record a security event");
        }
    }
}

/// Removes a user's second factor (secret, recovery codes, `active_mfa_type`), recording
/// `mfa-reset` by `actor`: the admin API and `tessera users reset-mfa`. `user-not-found`
/// for an unknown user; a user without one is left as it is.
pub async fn reset(
    store: &dyn Store,
    clock: &dyn Clock,
    user_id: Uuid,
    actor: &ClientInfo,
) -> Result<(), AuthError> {
    if store.user_by_id(user_id).await?.is_none() {
        return Err(AuthError::UserNotFound);
    }
    let event = sessions::event(
        clock.now(),
        "mfa-reset",
        Some(user_id),
        None,
        actor,
        json!({ "by": "admin" }),
    );
    store.remove_mfa(user_id, &event).await?;
    Ok(())
}
