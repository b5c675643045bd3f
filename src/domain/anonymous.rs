//! Anonymous users: a session without an account, and the later upgrade to one with an
//! email (`/user/deanonymize`) that keeps the user's id, data and sessions.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use crate::domain::errors::AuthError;
use crate::domain::links::EmailLinks;
use crate::domain::passwords::Passwords;
use crate::domain::profile;
use crate::domain::profile::{NewProfile, new_user};
use crate::domain::sessions::{ClientInfo, IssuedSession, Sessions};
use crate::domain::signup_policy::SignUpPolicy;
use crate::store::{Store, StoreError, UserUpdate};
use crate::support::clock::Clock;

/// How an anonymous user becomes a regular one.
pub enum Upgrade {
    EmailPassword {
        email: String,
        password: SecretString,
    },
    Passwordless {
        email: String,
    },
}

/// Anonymous sign-in and the upgrade to an account.
pub struct AnonymousUsers {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    passwords: Arc<Passwords>,
    sessions: Arc<Sessions>,
    policy: SignUpPolicy,
    /// Sends the verification link of an upgraded account, and records events.
    links: Arc<EmailLinks>,
}

impl AnonymousUsers {
    /// Anonymous users under the sign-up `policy`; `links` sends the verification link of
    /// an upgrade.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        passwords: Arc<Passwords>,
        sessions: Arc<Sessions>,
        policy: SignUpPolicy,
        links: Arc<EmailLinks>,
    ) -> Self {
        Self {
            store,
            clock,
            passwords,
            sessions,
            policy,
            links,
        }
    }

    /// `POST /signin/anonymous`: a session for a new anonymous user, with the profile
    /// fields of `profile` (`displayName`, `locale`, `metadata`). Its role is always
    /// `anonymous`: role fields of `profile` are not used (Nhost's request has none).
    pub async fn sign_in_anonymous(
        &self,
        profile: NewProfile,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        self.policy.check_signup_open()?;
        let profile = NewProfile {
            default_role: None,
            allowed_roles: None,
            ..profile
        }
        .check(self.policy.roles())?;
        let mut user = new_user(
            self.clock.now(),
            None,
            profile.display_name.unwrap_or_else(|| "Anonymous".into()),
            None,
        );
        user.locale = profile.locale;
        user.metadata = profile.metadata;
        self.store.insert_user(&user).await?;
        self.links
            .record("signup", user.id, client, json!({ "method": "anonymous" }))
            .await;
        // Anonymous: no method proved who the user is (an empty `amr`).
        self.sessions.create(user, client, &[]).await
    }

    /// `POST /user/deanonymize`: an anonymous user gets an email (and a password, or a
    /// sign-in link), keeping its id, data and sessions.
    pub async fn deanonymize(
        &self,
        user_id: Uuid,
        upgrade: Upgrade,
        redirect_to: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let redirect_to = self.policy.redirect_target(redirect_to)?;
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if !user.is_anonymous {
            return Err(AuthError::NotAnonymous);
        }
        let (email, password) = match &upgrade {
            Upgrade::EmailPassword { email, password } => (email, Some(password)),
            Upgrade::Passwordless { email } => (email, None),
        };
        let email = profile::normalise_email(email)?;
        self.policy.check_domain(&email)?;
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(AuthError::EmailAlreadyInUse);
        }
        let password_hash = match password {
            Some(password) => {
                self.passwords
                    .check_policy(password.expose_secret(), &[&email])?;
                Some(Some(self.passwords.hash(password).await?))
            }
            None => None,
        };
        let update = UserUpdate {
            email: Some(email.clone()),
            email_verified: Some(false),
            password_hash,
            is_anonymous: Some(false),
            default_role: Some(self.policy.roles().default_role.clone()),
            roles: Some(self.policy.roles().allowed_roles.clone()),
            display_name: (user.display_name == "Anonymous").then(|| email.clone()),
            ..UserUpdate::default()
        };
        let now = self.clock.now();
        match self.store.update_user(user.id, &update, now).await {
            Err(StoreError::Conflict(_)) => return Err(AuthError::EmailAlreadyInUse),
            other => other?,
        }
        let user = update.apply(user, now);
        self.links
            .record("user-deanonymized", user.id, client, json!({}))
            .await;
        match upgrade {
            Upgrade::EmailPassword { .. } if self.policy.requires_email_verification() => {
                self.links.send_verification(&user, redirect_to, None).await
            }
            Upgrade::EmailPassword { .. } => Ok(()),
            Upgrade::Passwordless { .. } => {
                // The link of a passwordless upgrade verifies the address when followed.
                self.links.send_verification(&user, redirect_to, None).await
            }
        }
    }
}
