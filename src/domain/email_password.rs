//! Sign-up and sign-in with email and password.
//!
//! Sign-in never reveals whether an account exists: an unknown email runs one password
//! verification against a dummy hash, and both failures give the same error. A disabled
//! or unverified account is only reported after the right password. Failed sign-ins are
//! limited per account, or per device for a client with a device cookie of the account
//! ([`crate::domain::devices`]), so a flood of wrong passwords does not lock the owner out.

use std::sync::Arc;

use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::Rate;
use crate::domain::devices::DeviceCookies;
use crate::domain::errors::AuthError;
use crate::domain::links::EmailLinks;
use crate::domain::mfa::{SecondFactor, SignIn};
use crate::domain::passwords::{MAX_PASSWORD_CHARS, Passwords, Verified};
use crate::domain::profile::{self, NewProfile, new_user};
use crate::domain::rate_limits::{Bucket, FailedSignIns};
use crate::domain::sessions::{self, AuthMethod, ClientInfo, IssuedSession, Sessions};
use crate::domain::signup_policy::SignUpPolicy;
use crate::store::{Store, StoreError, UserRecord};
use crate::support::clock::Clock;
use crate::support::metrics;

/// Optional sign-up fields (Nhost's `options`). Serialisable, so a passkey sign-up keeps
/// them with its ceremony until it finishes.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SignUpOptions {
    /// `displayName`, `locale`, `metadata`, `defaultRole`, `allowedRoles`.
    pub profile: NewProfile,
    /// Where the verification link leads (when verification is required).
    pub redirect_to: Option<String>,
    /// PKCE challenge: the verification link then leads to a code for a session.
    pub code_challenge: Option<String>,
}

/// Sign-up and sign-in.
pub struct EmailPassword {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    passwords: Arc<Passwords>,
    sessions: Arc<Sessions>,
    /// Ends a sign-in: the session, or the second step when TOTP is on.
    mfa: Arc<SecondFactor>,
    links: Arc<EmailLinks>,
    devices: Arc<DeviceCookies>,
    failed_signins: FailedSignIns,
    /// The policy of `links`, which sends the verification links.
    policy: SignUpPolicy,
}

impl EmailPassword {
    /// Sign-up under the policy of `links`, which sends the verification links, so
    /// both create accounts alike; failed sign-ins count against
    /// `failed_signins_per_account` (or the client's trusted device, see `devices`); a
    /// right password ends through `mfa` (a session, or the second step).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        passwords: Arc<Passwords>,
        mfa: Arc<SecondFactor>,
        links: Arc<EmailLinks>,
        devices: Arc<DeviceCookies>,
        failed_signins_per_account: Rate,
    ) -> Self {
        Self {
            devices,
            failed_signins: FailedSignIns::new(
                store.clone(),
                clock.clone(),
                failed_signins_per_account,
            ),
            store,
            clock,
            passwords,
            sessions: mfa.sessions().clone(),
            mfa,
            policy: links.policy().clone(),
            links,
        }
    }

    /// Creates an account; returns its first session, or `None` when the address must be
    /// verified first.
    pub async fn sign_up(
        &self,
        email: &str,
        password: &SecretString,
        options: SignUpOptions,
        client: &ClientInfo,
    ) -> Result<Option<IssuedSession>, AuthError> {
        use secrecy::ExposeSecret;
        self.policy.check_signup_open()?;
        let email = profile::normalise_email(email)?;
        self.policy.check_domain(&email)?;
        let redirect_to = self
            .policy
            .redirect_target(options.redirect_to.as_deref())?;
        let local_part = email.split('@').next().unwrap_or_default();
        self.passwords
            .check_policy(password.expose_secret(), &[&email, local_part])?;
        let profile = options.profile.check(self.policy.roles())?;

        let hash = self.passwords.hash(password).await?;
        let now = self.clock.now();
        let mut user = new_user(now, Some(email), String::new(), Some(self.policy.roles()));
        user.password_hash = Some(hash);
        profile.apply(&mut user);
        match self.store.insert_user(&user).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(AuthError::EmailAlreadyInUse),
            Err(err) => return Err(err.into()),
        }
        self.record(now, "signup", &user, None, client).await;
        if self.policy.requires_email_verification() {
            self.links
                .send_verification(&user, redirect_to, options.code_challenge)
                .await?;
            return Ok(None);
        }
        self.start_session(user, now, client).await.map(Some)
    }

    /// Signs in with email and password. `device_cookies` are the values of the client's
    /// device cookies (a valid one of this account makes it a trusted client). With TOTP
    /// on, a right password leads to the second step, not a session.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &SecretString,
        device_cookies: &[String],
        client: &ClientInfo,
    ) -> Result<SignIn, AuthError> {
        use secrecy::ExposeSecret;
        // Refused before any hashing: an oversized password cannot be anyone's.
        if password.expose_secret().chars().count() > MAX_PASSWORD_CHARS {
            return Err(AuthError::InvalidRequest(format!(
                "The password must be at most {MAX_PASSWORD_CHARS} characters long."
            )));
        }
        // A malformed address cannot belong to an account: same answer as a wrong password,
        // after the same work.
        let user = match profile::normalise_email(email) {
            Ok(email) => self.store.user_by_email(&email).await?,
            Err(_) => None,
        };
        // A client holding a device cookie of this account counts its failures against
        // that device; any other client against the address, account or not.
        let started = self.clock.now();
        let device = user.as_ref().and_then(|user| {
            device_cookies
                .iter()
                .find_map(|cookie| self.devices.trusted(cookie, user, started))
        });
        let bucket = match &device {
            Some(device) => Bucket::Device(device),
            None => Bucket::Account(email),
        };
        // A bucket that has used up its failed attempts is refused before any hashing,
        // whether or not the account exists and whatever the password.
        self.failed_signins
            .check(bucket)
            .await
            .inspect_err(|_| metrics::signin("locked"))?;
        let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let verified = self.passwords.verify(password, stored).await?;
        let now = self.clock.now();
        let (user, rehash) = match (user, verified) {
            (Some(user), Verified::Yes { rehash }) => (user, rehash),
            (user, _) => {
                let event = sessions::event(
                    now,
                    "signin-failed",
                    user.as_ref().map(|u| u.id),
                    None,
                    client,
                    json!({ "method": "email-password", "trustedDevice": device.is_some() }),
                );
                if let Err(err) = self.store.record_event(&event).await {
                    tracing::warn!(error = %err, "cannot record a failed sign-in");
                }
                self.failed_signins.record_failure(bucket).await?;
                metrics::signin("failure");
                return Err(AuthError::InvalidEmailPassword);
            }
        };
        if user.disabled {
            metrics::signin("disabled");
            return Err(AuthError::DisabledUser);
        }
        if self.policy.requires_email_verification() && !user.email_verified {
            metrics::signin("unverified");
            return Err(AuthError::UnverifiedUser);
        }
        if rehash {
            // The stored hash used older parameters: upgrade it now that we have the password.
            // Only over the hash just verified: a password changed meanwhile stays.
            let old = user.password_hash.as_deref().unwrap_or_default();
            match self.passwords.hash(password).await {
                Ok(hash) => {
                    self.store
                        .set_password_hash(user.id, old, &hash, now)
                        .await?;
                }
                Err(err) => tracing::warn!(error = %err, "rehash failed; keeping the old hash"),
            }
        }
        let outcome = self
            .mfa
            .sign_in(user, client, &[AuthMethod::Password])
            .await?;
        match &outcome {
            SignIn::Session(issued) => {
                self.record(
                    now,
                    "signin-succeeded",
                    &issued.user,
                    Some(issued.session_id),
                    client,
                )
                .await;
                metrics::signin("success");
            }
            SignIn::SecondFactor { .. } => metrics::signin("second-factor"),
        }
        Ok(outcome)
    }

    async fn start_session(
        &self,
        user: UserRecord,
        now: OffsetDateTime,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        let issued = self
            .sessions
            .create(user, client, &[AuthMethod::Password])
            .await?;
        self.record(
            now,
            "signin-succeeded",
            &issued.user,
            Some(issued.session_id),
            client,
        )
        .await;
        Ok(issued)
    }

    /// A new device cookie for a client that just proved it knows this user's password.
    pub fn device_cookie(&self, user_id: Uuid) -> String {
        self.devices.issue(user_id, self.clock.now())
    }

    /// How long a device cookie stays valid.
    pub fn device_cookie_ttl(&self) -> std::time::Duration {
        self.devices.ttl()
    }

    /// The user behind a verified access token: the one the liveness view remembered when
    /// the token's session was checked (changes to the row remove it), else the store's.
    pub async fn user(&self, id: Uuid) -> Result<UserRecord, AuthError> {
        self.sessions
            .liveness()
            .user(id)
            .await?
            .ok_or(AuthError::InvalidToken)
    }

    async fn record(
        &self,
        now: OffsetDateTime,
        kind: &str,
        user: &UserRecord,
        session: Option<Uuid>,
        client: &ClientInfo,
    ) {
        let event = sessions::event(
            now,
            kind,
            Some(user.id),
            session,
            client,
            json!({ "method": "email-password" }),
        );
        // The account change already happened; a lost audit line must not undo it.
        if let Err(err) = self.store.record_event(&event).await {
            tracing::warn!(error = %err, kind, "cannot record a security event");
        }
    }
}
