//! Administration: users, their sessions, signing keys and the security event log, for the
//! `/admin/` API (behind `TESSERA_ADMIN_SECRET`) and the `tessera users|sessions` CLI.
//! Every change is recorded as a security event.

use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::RoleConfig;
use crate::domain::errors::AuthError;
use crate::domain::keys::{KeyService, Revocation, Rotation};
use crate::domain::passwords::Passwords;
use crate::domain::pats;
use crate::domain::profile;
use crate::domain::profile::new_user;
use crate::domain::sessions::{self, ClientInfo};
use crate::store::{
    EventFilter, SecurityEventRecord, SessionRecord, Store, StoreError, UserCursor, UserRecord,
    UserUpdate,
};
use crate::support::clock::Clock;

/// The security event of a key revocation by `actor` (the API or the CLI); the key service
/// adds the kids.
pub fn key_revoked_event(now: time::OffsetDateTime, actor: &ClientInfo) -> SecurityEventRecord {
    sessions::event(
        now,
        "signing-key-revoked",
        None,
        None,
        actor,
        json!({ "by": "admin" }),
    )
}

/// Largest page the list endpoints return.
pub const MAX_PAGE: i64 = 200;

/// A user an administrator creates.
#[derive(Debug, Default)]
pub struct NewUser {
    pub email: String,
    pub password: Option<SecretString>,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub locale: Option<String>,
    pub default_role: Option<String>,
    pub roles: Option<Vec<String>>,
    pub metadata: Option<Value>,
}

/// Fields an administrator may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub locale: Option<String>,
    pub default_role: Option<String>,
    pub roles: Option<Vec<String>>,
    pub metadata: Option<Value>,
}

/// Administration, shared by the API and the CLI.
pub struct Admin {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    passwords: Arc<Passwords>,
    keys: Arc<KeyService>,
    /// The roles of a user created without explicit ones.
    roles: RoleConfig,
    /// SHA-256 of `TESSERA_ADMIN_SECRET`: compared in constant time, never kept in clear.
    secret_hash: Option<Vec<u8>>,
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest(&SHA256, bytes).as_ref().to_vec()
}

/// A role name: 1 to 64 of `[a-z0-9_-]`, as the configured roles.
fn valid_role(role: &str) -> bool {
    crate::config::valid_role_name(role)
}

/// Checks roles and the default role together: the default must be one of the roles.
pub fn check_roles(default_role: &str, roles: &[String]) -> Result<(), AuthError> {
    if !roles.iter().all(|r| valid_role(r)) || !valid_role(default_role) {
        return Err(AuthError::InvalidRequest(
            "Roles are 1 to 64 characters of a-z, 0-9, _ and -.".into(),
        ));
    }
    if !roles.iter().any(|r| r == default_role) {
        return Err(AuthError::InvalidRequest(
            "defaultRole must be one of roles.".into(),
        ));
    }
    Ok(())
}

fn check_profile(display_name: Option<&str>, metadata: Option<&Value>) -> Result<(), AuthError> {
    display_name.map(profile::check_display_name).transpose()?;
    metadata.map(profile::check_metadata).transpose()?;
    Ok(())
}

/// An opaque cursor for `(created_at, id)`.
fn encode_cursor(user: &UserRecord) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        crate::store::to_micros(user.created_at),
        user.id
    ))
}

fn decode_cursor(cursor: &str) -> Result<UserCursor, AuthError> {
    let invalid = || AuthError::InvalidRequest("The cursor is not valid.".into());
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?)
        .map_err(|_| invalid())?;
    let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok((
        crate::store::from_micros(micros.parse().map_err(|_| invalid())?),
        id.parse().map_err(|_| invalid())?,
    ))
}

impl Admin {
    /// Administration over this store; `secret` enables the HTTP API.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        passwords: Arc<Passwords>,
        keys: Arc<KeyService>,
        roles: RoleConfig,
        secret: Option<&SecretString>,
    ) -> Self {
        Self {
            store,
            clock,
            passwords,
            keys,
            roles,
            secret_hash: secret.map(|s| sha256(s.expose_secret().as_bytes())),
        }
    }

    /// Whether the HTTP API is on.
    pub fn api_enabled(&self) -> bool {
        self.secret_hash.is_some()
    }

    /// Whether `presented` is the admin secret. Both sides are hashed first so the
    /// comparison takes the same time whatever the lengths.
    pub fn check_secret(&self, presented: Option<&str>) -> bool {
        let (Some(expected), Some(presented)) = (&self.secret_hash, presented) else {
            return false;
        };
        aws_lc_rs::constant_time::verify_slices_are_equal(expected, &sha256(presented.as_bytes()))
            .is_ok()
    }

    async fn audit(&self, action: &str, target: Option<Uuid>, actor: &ClientInfo, detail: Value) {
        let mut detail = detail;
        detail["action"] = json!(action);
        let event = sessions::event(
            self.clock.now(),
            "admin-action",
            target,
            None,
            actor,
            detail,
        );
        if let Err(err) = self.store.record_event(&event).await {
            tracing::warn!(error = %err, action, "cannot record an admin action");
        }
    }

    async fn existing(&self, id: Uuid) -> Result<UserRecord, AuthError> {
        self.store
            .user_by_id(id)
            .await?
            .ok_or(AuthError::UserNotFound)
    }

    /// A page of users (oldest first) and the cursor of the next page, if any.
    pub async fn list_users(
        &self,
        cursor: Option<&str>,
        search: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<UserRecord>, Option<String>), AuthError> {
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.clamp(1, MAX_PAGE);
        let search = search.map(str::trim).filter(|s| !s.is_empty());
        search
            .map(|s| profile::check_text("search", s, 256))
            .transpose()?;
        let mut users = self.store.list_users(after, search, limit + 1).await?;
        let next = (users.len() as i64 > limit).then(|| {
            users.truncate(limit as usize);
            encode_cursor(users.last().expect("a full page"))
        });
        Ok((users, next))
    }

    /// A user by id or (normalised) email.
    pub async fn find_user(&self, id_or_email: &str) -> Result<UserRecord, AuthError> {
        match id_or_email.parse::<Uuid>() {
            Ok(id) => self.existing(id).await,
            Err(_) => {
                let email = profile::normalise_email(id_or_email)?;
                self.store
                    .user_by_email(&email)
                    .await?
                    .ok_or(AuthError::UserNotFound)
            }
        }
    }

    /// Creates a user, with or without a password, verified or not.
    pub async fn create_user(
        &self,
        new: NewUser,
        actor: &ClientInfo,
    ) -> Result<UserRecord, AuthError> {
        let email = profile::normalise_email(&new.email)?;
        check_profile(new.display_name.as_deref(), new.metadata.as_ref())?;
        new.locale
            .as_deref()
            .map(profile::check_locale)
            .transpose()?;
        // Without explicit roles, those of a self-registered account.
        let (roles, fallback) = match new.roles {
            Some(roles) => (roles.clone(), roles.first().cloned().unwrap_or_default()),
            None => (
                self.roles.allowed_roles.clone(),
                self.roles.default_role.clone(),
            ),
        };
        let default_role = new.default_role.unwrap_or(fallback);
        check_roles(&default_role, &roles)?;
        let mut user = new_user(
            self.clock.now(),
            Some(email.clone()),
            new.display_name.unwrap_or(email),
            Some(&self.roles),
        );
        if let Some(password) = &new.password {
            self.passwords.check_policy(password.expose_secret(), &[])?;
            user.password_hash = Some(self.passwords.hash(password).await?);
        }
        user.email_verified = new.email_verified;
        user.roles = roles;
        user.default_role = default_role;
        user.locale = new.locale.unwrap_or(user.locale);
        user.metadata = new.metadata.unwrap_or(user.metadata);
        match self.store.insert_user(&user).await {
            Err(StoreError::Conflict(_)) => return Err(AuthError::EmailAlreadyInUse),
            other => other?,
        }
        self.audit("user-created", Some(user.id), actor, json!({}))
            .await;
        Ok(user)
    }

    /// Changes profile fields and roles.
    pub async fn update_user(
        &self,
        id: Uuid,
        patch: UserPatch,
        actor: &ClientInfo,
    ) -> Result<UserRecord, AuthError> {
        let user = self.existing(id).await?;
        check_profile(patch.display_name.as_deref(), patch.metadata.as_ref())?;
        patch
            .locale
            .as_deref()
            .map(profile::check_locale)
            .transpose()?;
        patch
            .avatar_url
            .as_deref()
            .map(|url| profile::check_text("avatarUrl", url, 2048))
            .transpose()?;
        let roles = patch.roles.clone().unwrap_or_else(|| user.roles.clone());
        let default_role = patch
            .default_role
            .clone()
            .unwrap_or_else(|| user.default_role.clone());
        check_roles(&default_role, &roles)?;
        let changed: Vec<&str> = [
            ("displayName", patch.display_name.is_some()),
            ("avatarUrl", patch.avatar_url.is_some()),
            ("locale", patch.locale.is_some()),
            ("roles", patch.roles.is_some()),
            ("defaultRole", patch.default_role.is_some()),
            ("metadata", patch.metadata.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        // Only what the patch names is written, so an edit racing a password reset or a
        // disable cannot undo it.
        let update = UserUpdate {
            display_name: patch.display_name,
            avatar_url: patch.avatar_url,
            locale: patch.locale,
            metadata: patch.metadata,
            roles: patch.roles.map(|_| roles),
            default_role: patch.default_role.map(|_| default_role),
            ..UserUpdate::default()
        };
        let now = self.clock.now();
        self.store.update_user(id, &update, now).await?;
        let user = update.apply(user, now);
        self.audit(
            "user-updated",
            Some(id),
            actor,
            json!({ "fields": changed }),
        )
        .await;
        Ok(user)
    }

    /// Disables (ending every session at once) or enables a user.
    pub async fn set_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        actor: &ClientInfo,
    ) -> Result<UserRecord, AuthError> {
        let now = self.clock.now();
        if !self.store.set_user_disabled(id, disabled, now).await? {
            return Err(AuthError::UserNotFound);
        }
        if disabled {
            let event = sessions::event(
                now,
                "session-revoked",
                Some(id),
                None,
                actor,
                json!({ "reason": "user-disabled", "by": "admin" }),
            );
            self.store
                .revoke_user_sessions(id, None, "user-disabled", &event)
                .await?;
            pats::revoke_all(
                self.store.as_ref(),
                id,
                now,
                "user-disabled",
                "admin",
                actor,
            )
            .await?;
            let event = sessions::event(
                now,
                "user-disabled",
                Some(id),
                None,
                actor,
                json!({ "by": "admin" }),
            );
            self.store.record_event(&event).await?;
        } else {
            self.audit("user-enabled", Some(id), actor, json!({})).await;
        }
        self.existing(id).await
    }

    /// Deletes a user and everything that names it.
    pub async fn delete_user(&self, id: Uuid, actor: &ClientInfo) -> Result<(), AuthError> {
        if !self.store.delete_user(id).await? {
            return Err(AuthError::UserNotFound);
        }
        // The record of the deletion names the user only in its detail, so that no row
        // is left with the user's id in a user_id column.
        self.audit("user-deleted", None, actor, json!({ "userId": id }))
            .await;
        Ok(())
    }

    /// The user's live sessions.
    pub async fn sessions(&self, id: Uuid) -> Result<Vec<SessionRecord>, AuthError> {
        self.existing(id).await?;
        Ok(self.store.live_sessions(id, self.clock.now()).await?)
    }

    /// Revokes one session of a user, or all of them.
    pub async fn revoke_sessions(
        &self,
        id: Uuid,
        session: Option<Uuid>,
        actor: &ClientInfo,
    ) -> Result<u64, AuthError> {
        let now = self.clock.now();
        let event = sessions::event(
            now,
            "session-revoked",
            Some(id),
            session,
            actor,
            json!({ "reason": "admin", "by": "admin" }),
        );
        match session {
            Some(session) => {
                if self
                    .store
                    .revoke_session(session, id, "admin", &event)
                    .await?
                {
                    Ok(1)
                } else {
                    Err(AuthError::SessionNotFound)
                }
            }
            None => Ok(self
                .store
                .revoke_user_sessions(id, None, "admin", &event)
                .await?),
        }
    }

    /// Revokes a session by its id alone (the CLI).
    pub async fn revoke_session_by_id(
        &self,
        session: Uuid,
        actor: &ClientInfo,
    ) -> Result<(), AuthError> {
        let record = self
            .store
            .session(session)
            .await?
            .ok_or(AuthError::SessionNotFound)?;
        self.revoke_sessions(record.user_id, Some(session), actor)
            .await
            .map(|_| ())
    }

    /// Publishes a new signing key.
    pub async fn rotate_keys(&self, actor: &ClientInfo) -> Result<Rotation, AuthError> {
        let rotation = self.keys.rotate().await?;
        self.audit("keys-rotated", None, actor, json!({ "kid": rotation.kid }))
            .await;
        Ok(rotation)
    }

    /// Revokes a signing key at once (a leak); a new key signs at once if it was signing.
    pub async fn revoke_key(&self, kid: &str, actor: &ClientInfo) -> Result<Revocation, AuthError> {
        let event = key_revoked_event(self.clock.now(), actor);
        Ok(self.keys.revoke(kid, event).await?)
    }

    /// A page of security events (newest first) and the cursor of the next page.
    pub async fn events(
        &self,
        mut filter: EventFilter,
        cursor: Option<&str>,
    ) -> Result<(Vec<(i64, SecurityEventRecord)>, Option<String>), AuthError> {
        filter
            .kind
            .as_deref()
            .map(|kind| profile::check_text("kind", kind, 64))
            .transpose()?;
        filter.before_id = cursor
            .map(|c| {
                c.parse::<i64>()
                    .map_err(|_| AuthError::InvalidRequest("The cursor is not valid.".into()))
            })
            .transpose()?;
        let limit = filter.limit.clamp(1, MAX_PAGE);
        filter.limit = limit + 1;
        let mut events = self.store.search_events(&filter).await?;
        let next = (events.len() as i64 > limit).then(|| {
            events.truncate(limit as usize);
            events.last().expect("a full page").0.to_string()
        });
        Ok((events, next))
    }
}
