//! Passwordless sign-in: the emailed sign-in link (which leads to a PKCE code), the account
//! it finds or creates (shared with email codes), and what proving a mailbox does to an
//! unverified account.

use serde_json::json;

use super::EmailLinks;
use crate::domain::errors::AuthError;
use crate::domain::profile::{self, NewProfile, new_user};
use crate::domain::sessions::{self, ClientInfo};
use crate::domain::tickets::{Purpose, TicketOptions};
use crate::store::{StoreError, UserRecord, UserUpdate};
use crate::support::email::EmailKind;

impl EmailLinks {
    /// `POST /signin/passwordless/email`: emails a sign-in link, creating the account (with
    /// `profile`) if sign-up allows. A PKCE challenge is required: the link leads to a
    /// code, never to a token. Answers the same whether or not the account exists.
    pub async fn request_signin_link(
        &self,
        email: &str,
        redirect_to: Option<&str>,
        code_challenge: Option<String>,
        profile: NewProfile,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let redirect_to = self.policy.redirect_target(redirect_to)?;
        let challenge = code_challenge.filter(|c| c.len() == 43).ok_or_else(|| {
            AuthError::InvalidRequest(
                "codeChallenge (PKCE S256) is required for sign-in links.".into(),
            )
        })?;
        let email = profile::normalise_email(email)?;
        let user = self
            .passwordless_user(&email, profile, "passwordless", client)
            .await?;
        if let Some(user) = user {
            let options = TicketOptions {
                redirect_to: Some(redirect_to),
                code_challenge: Some(challenge),
                payload: None,
            };
            self.mail(
                &user,
                &email,
                Purpose::SigninLink,
                EmailKind::SigninLink,
                options,
            )
            .await?;
        }
        Ok(())
    }

    /// The enabled account of a (normalised) address that asked for a passwordless sign-in
    /// (`method`: a link or an emailed code), created with `profile` when there is none and
    /// sign-up allows it (`TESSERA_DISABLE_SIGNUP`, the domain lists). `None`: nothing is
    /// to be sent. The profile is checked first, whether or not it is used, so a bad one
    /// is refused the same way for every address; an existing account is left as it is.
    pub(crate) async fn passwordless_user(
        &self,
        email: &str,
        profile: NewProfile,
        method: &str,
        client: &ClientInfo,
    ) -> Result<Option<UserRecord>, AuthError> {
        let profile = profile.check(self.policy.roles())?;
        let user = match self.store.user_by_email(email).await? {
            Some(user) => Some(user),
            None if !self.policy.signup_open() || self.policy.check_domain(email).is_err() => None,
            None => {
                let mut user = new_user(
                    self.clock.now(),
                    Some(email.to_owned()),
                    email.to_owned(),
                    Some(self.policy.roles()),
                );
                profile.apply(&mut user);
                match self.store.insert_user(&user).await {
                    Ok(()) => {
                        self.record("signup", user.id, client, json!({ "method": method }))
                            .await;
                        Some(user)
                    }
                    Err(StoreError::Conflict(_)) => self.store.user_by_email(email).await?,
                    Err(err) => return Err(err.into()),
                }
            }
        };
        Ok(user.filter(|u| !u.disabled))
    }

    /// The mailbox of `user` was just proven by `route`, other than the account's own
    /// verification link. If the account was unverified, whoever registered the address
    /// may not be its holder (a pre-registered account): every session and PAT ends, and
    /// the password and second factor set before the address was proven go, so the holder
    /// alone has access (and sets a password by reset): so do its passkeys and identities at
    /// providers. Marks the address verified.
    pub(crate) async fn claim_mailbox(
        &self,
        user: &UserRecord,
        route: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        if user.email_verified {
            return Ok(());
        }
        let now = self.clock.now();
        let had_password = user.password_hash.is_some();
        // A PAT is a credential like a session: whoever made it before the address was
        // proven may not be the mailbox holder.
        let (revoked, pats_revoked) = self
            .end_access(user.id, None, "unverified-account-claimed", client)
            .await?;
        // So is a second factor: a pre-registrant's authenticator would otherwise lock the
        // holder out, or stand in for the holder's own.
        let event = sessions::event(
            now,
            "mfa-reset",
            Some(user.id),
            None,
            client,
            json!({ "by": "unverified-account-claimed", "route": route }),
        );
        let mfa_removed = self.store.remove_mfa(user.id, &event).await?;
        // And so is a passkey: a pre-registrant's would be a door the holder never sees.
        let passkeys_removed = self.store.delete_passkeys_of(user.id).await?;
        // And an identity at a provider, linked before the address was proven.
        let identities_removed = self.store.delete_identities_of(user.id).await?;
        // Verified last: a claim that fails part-way leaves the account unverified, so the
        // holder's next claim runs it all again (an account marked verified first would
        // never be claimed again, keeping whatever the failure left).
        let update = UserUpdate {
            email_verified: Some(true),
            password_hash: had_password.then_some(None),
            password_changed_at: had_password.then_some(now),
            ..UserUpdate::default()
        };
        self.store.update_user(user.id, &update, now).await?;
        if had_password
            || revoked > 0
            || pats_revoked > 0
            || mfa_removed
            || passkeys_removed > 0
            || identities_removed > 0
        {
            self.record(
                "unverified-account-claimed",
                user.id,
                client,
                json!({ "route": route, "passwordRemoved": had_password,
                        "sessionsRevoked": revoked, "patsRevoked": pats_revoked,
                        "mfaRemoved": mfa_removed, "passkeysRemoved": passkeys_removed,
                        "providersUnlinked": identities_removed }),
            )
            .await;
        }
        self.record("email-verified", user.id, client, json!({ "route": route }))
            .await;
        Ok(())
    }
}
