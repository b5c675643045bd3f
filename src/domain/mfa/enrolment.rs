//! Enrolment: generating a secret, enabling and disabling TOTP with a code, and replacing
//! the recovery codes. Each needs a recent authentication, and none is open to anonymous
//! users.

use serde_json::json;
use uuid::Uuid;

use super::SecondFactor;
use super::codes;
use super::qr;
use crate::domain::errors::AuthError;
use crate::domain::pats;
use crate::domain::rate_limits::Bucket;
use crate::domain::sessions::{self, ClientInfo};
use crate::store::UserRecord;

/// What `GET /mfa/totp/generate` shows, once.
pub struct Enrolment {
    /// `data:image/png;base64,...`: the QR code of the otpauth URI.
    pub image_url: String,
    /// The secret in base32 (what an app without a camera is given).
    pub secret_base32: String,
    /// The otpauth URI the QR code holds.
    pub uri: String,
    /// Ten single-use recovery codes, valid once TOTP is enabled.
    pub recovery_codes: Vec<String>,
}

impl SecondFactor {
    /// The user of a session, refused if anonymous or without a recent authentication.
    async fn enrolling_user(
        &self,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<UserRecord, AuthError> {
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if user.is_anonymous {
            return Err(AuthError::ForbiddenAnonymous);
        }
        self.require_recent_authentication(session_id).await?;
        Ok(user)
    }

    /// `GET /mfa/totp/generate`: a new pending secret (replacing an unconfirmed one) and
    /// recovery codes; `totp-already-active` once TOTP is on (an enabled secret is never
    /// replaced: disable first).
    pub async fn generate(&self, user_id: Uuid, session_id: Uuid) -> Result<Enrolment, AuthError> {
        let user = self.enrolling_user(user_id, session_id).await?;
        if user.active_mfa_type.is_some() {
            return Err(AuthError::TotpAlreadyActive);
        }
        let secret = codes::new_secret(&self.rng);
        // The account name an app shows: the email (anonymous users never get here).
        let account = user
            .email
            .clone()
            .filter(|email| !email.contains(':'))
            .unwrap_or_else(|| user.id.to_string());
        let totp = codes::totp(secret.clone(), &self.issuer, &account)
            .ok_or_else(|| AuthError::InvalidRequest("The TOTP issuer is not valid.".into()))?;
        let uri = totp
            .to_url()
            .map_err(|_| AuthError::InvalidRequest("The TOTP issuer is not valid.".into()))?;
        let image_url = qr::png_data_url(&uri)
            .ok_or_else(|| AuthError::InvalidRequest("The otpauth URI is too long.".into()))?;
        let recovery_codes = codes::new_recovery_codes(&self.rng);
        let tags = self.recovery_tags(user.id, &recovery_codes);
        let sealed = self.keys.seal(user.id, &secret);
        if !self
            .store
            .put_pending_totp(user.id, &sealed, &tags, self.clock.now())
            .await?
        {
            return Err(AuthError::TotpAlreadyActive);
        }
        Ok(Enrolment {
            image_url,
            secret_base32: totp.secret().to_base32(),
            uri,
            recovery_codes,
        })
    }

    /// `POST /user/mfa`: `activate` enables the pending secret with one of its codes;
    /// otherwise a code (or a recovery code) of the enabled secret disables TOTP, removing
    /// the secret and the recovery codes.
    pub async fn change(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        code: &str,
        activate: bool,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let user = self.enrolling_user(user_id, session_id).await?;
        let active = user.active_mfa_type.is_some();
        if activate && active {
            return Err(AuthError::TotpAlreadyActive);
        }
        if !activate && !active {
            return Err(AuthError::DisabledMfaTotp);
        }
        // The pending secret the code is checked against; enabling confirms only that one.
        let pending = match activate {
            true => Some(
                self.store
                    .totp_secret(user.id)
                    .await?
                    .ok_or(AuthError::NoTotpSecret)?,
            ),
            false => None,
        };
        self.code_failures.check(Bucket::User(user.id)).await?;
        // Enabling proves the app holds the secret: a TOTP code, never a recovery code.
        let proof = self.check_code(&user, code, !activate, client).await?;
        let Some(proof) = proof else {
            let step = if activate { "enable" } else { "disable" };
            self.record_failure(&user, Some(session_id), step, client)
                .await?;
            return Err(AuthError::InvalidTotp);
        };
        let now = self.clock.now();
        let kind = if activate {
            "mfa-enabled"
        } else {
            "mfa-disabled"
        };
        let proof = proof.name();
        let event = sessions::event(
            now,
            kind,
            Some(user.id),
            Some(session_id),
            client,
            json!({ "type": "totp", "proof": proof }),
        );
        let changed = if activate {
            let sealed = pending.as_ref().map(|p| p.secret_sealed.as_slice());
            self.store
                .enable_totp(user.id, sealed.unwrap_or_default(), now, &event)
                .await?
        } else {
            self.store.remove_mfa(user.id, &event).await?
        };
        match (changed, activate) {
            (true, true) => {
                // A PAT made while a password was enough would sign in without the code
                // for the rest of its life: it goes.
                pats::revoke_all(
                    self.store.as_ref(),
                    user.id,
                    now,
                    "mfa-enabled",
                    "user",
                    client,
                )
                .await?;
                Ok(())
            }
            (true, false) => Ok(()),
            // Enabled meanwhile, or the pending secret was replaced after its code was
            // checked: that code proved the old secret, not the one now pending.
            (false, true) => match self.store.user_by_id(user.id).await? {
                Some(now) if now.active_mfa_type.is_some() => Err(AuthError::TotpAlreadyActive),
                _ => Err(AuthError::InvalidTotp),
            },
            (false, false) => Err(AuthError::DisabledMfaTotp),
        }
    }

    /// `POST /user/mfa/recovery-codes`: a new set of recovery codes, shown once; the
    /// earlier set stops working.
    pub async fn regenerate_recovery_codes(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        client: &ClientInfo,
    ) -> Result<Vec<String>, AuthError> {
        let user = self.enrolling_user(user_id, session_id).await?;
        if !self
            .sessions
            .may_make_sensitive_change(&user, session_id)
            .await?
        {
            return Err(AuthError::ElevatedClaimRequired);
        }
        let codes = codes::new_recovery_codes(&self.rng);
        let tags = self.recovery_tags(user.id, &codes);
        let now = self.clock.now();
        let event = sessions::event(
            now,
            "mfa-recovery-codes-regenerated",
            Some(user.id),
            Some(session_id),
            client,
            json!({ "count": codes.len() }),
        );
        if !self
            .store
            .replace_recovery_codes(user.id, &tags, now, &event)
            .await?
        {
            return Err(AuthError::DisabledMfaTotp);
        }
        Ok(codes)
    }

    fn recovery_tags(&self, user_id: Uuid, codes: &[String]) -> Vec<Vec<u8>> {
        codes
            .iter()
            .filter_map(|code| codes::normalise_recovery_code(code))
            .map(|code| self.keys.recovery_tag(user_id, &code))
            .collect()
    }
}
