//! What a self-registered account starts with: Nhost's sign-up `options` (`displayName`,
//! `locale`, `metadata`, `defaultRole`, `allowedRoles`), checked and resolved against the
//! configured roles. Used by email-password sign-up, the sign-in link and the email code
//! when they create an account; anonymous sign-in takes the profile fields only.
//!
//! A request may narrow the configured roles (`TESSERA_ALLOWED_ROLES`) and pick its default
//! among them, never name another: a client cannot grant itself a role the operator did
//! not open to sign-up.

use serde_json::{Value, json};

use crate::accounts::{check_display_name, check_locale, check_metadata};
use crate::auth_error::AuthError;
use crate::config::RoleConfig;
use crate::store::UserRecord;

/// The locale of an account whose request names none.
pub const DEFAULT_LOCALE: &str = "en";

/// The requested profile of a new account; every field optional.
#[derive(Debug, Default, Clone)]
pub struct NewProfile {
    /// Default: the address (`Anonymous` for an anonymous user).
    pub display_name: Option<String>,
    /// 2 or 3 letters; default `en`.
    pub locale: Option<String>,
    /// A JSON object; default `{}`.
    pub metadata: Option<Value>,
    /// Must be one of the resulting allowed roles; default: the configured default role.
    pub default_role: Option<String>,
    /// A non-empty subset of the configured allowed roles; default: all of them.
    pub allowed_roles: Option<Vec<String>>,
}

/// A checked profile, ready to go into a user row.
#[derive(Debug, Clone)]
pub struct Profile {
    pub display_name: Option<String>,
    pub locale: String,
    pub metadata: Value,
    pub default_role: String,
    pub roles: Vec<String>,
}

impl NewProfile {
    /// Checks every field, and the roles against `roles`. Checked whether or not an
    /// account is then created, so a bad request is refused the same way for every address.
    pub fn check(self, roles: &RoleConfig) -> Result<Profile, AuthError> {
        if let Some(name) = &self.display_name {
            check_display_name(name)?;
        }
        let locale = self.locale.unwrap_or_else(|| DEFAULT_LOCALE.into());
        check_locale(&locale)?;
        let metadata = self.metadata.unwrap_or_else(|| json!({}));
        check_metadata(&metadata)?;
        let (default_role, roles) = resolve_roles(roles, self.default_role, self.allowed_roles)?;
        Ok(Profile {
            display_name: self.display_name,
            locale,
            metadata,
            default_role,
            roles,
        })
    }
}

impl Profile {
    /// Writes the profile into a new (not anonymous) user row; the display name defaults
    /// to the address.
    pub fn apply(self, user: &mut UserRecord) {
        if let Some(name) = self.display_name {
            user.display_name = name;
        } else if let Some(email) = &user.email {
            user.display_name = email.clone();
        }
        user.locale = self.locale;
        user.metadata = self.metadata;
        user.default_role = self.default_role;
        user.roles = self.roles;
    }
}

/// The default role and roles of a new account: the configured ones, narrowed by the
/// request. As Nhost: `role-not-allowed` for an `allowedRoles` outside the configured list
/// (or empty); `default-role-must-be-in-allowed-roles` for a default outside the resulting
/// roles.
pub fn resolve_roles(
    config: &RoleConfig,
    default_role: Option<String>,
    allowed_roles: Option<Vec<String>>,
) -> Result<(String, Vec<String>), AuthError> {
    let roles = match allowed_roles {
        None => config.allowed_roles.clone(),
        Some(requested) => {
            if requested.is_empty() || requested.iter().any(|r| !config.allowed_roles.contains(r)) {
                return Err(AuthError::RoleNotAllowed);
            }
            // In the configured order, each once.
            config
                .allowed_roles
                .iter()
                .filter(|r| requested.contains(r))
                .cloned()
                .collect()
        }
    };
    let default_role = match default_role {
        None if roles.contains(&config.default_role) => config.default_role.clone(),
        // The request narrowed the roles without the configured default: its first role.
        None => roles[0].clone(),
        Some(role) if !roles.contains(&role) => {
            return Err(AuthError::DefaultRoleNotAllowed);
        }
        Some(role) => role,
    };
    Ok((default_role, roles))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RoleConfig {
        RoleConfig {
            default_role: "user".into(),
            allowed_roles: vec!["user".into(), "me".into(), "editor".into()],
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn requests_narrow_the_configured_roles_and_never_widen_them() {
        let all = resolve_roles(&config(), None, None).unwrap();
        assert_eq!(all, ("user".into(), strings(&["user", "me", "editor"])));
        let narrowed = resolve_roles(
            &config(),
            Some("editor".into()),
            Some(strings(&["editor", "user", "editor"])),
        )
        .unwrap();
        assert_eq!(narrowed, ("editor".into(), strings(&["user", "editor"])));
        let without_default = resolve_roles(&config(), None, Some(strings(&["me"]))).unwrap();
        assert_eq!(without_default, ("me".into(), strings(&["me"])));

        for (default, allowed) in [
            (None, Some(strings(&["admin"]))),
            (None, Some(strings(&["user", "admin"]))),
            (None, Some(vec![])),
        ] {
            assert!(
                matches!(
                    resolve_roles(&config(), default, allowed),
                    Err(AuthError::RoleNotAllowed)
                ),
                "refused as role-not-allowed"
            );
        }
        for (default, allowed) in [("editor", Some(strings(&["user"]))), ("admin", None)] {
            assert!(matches!(
                resolve_roles(&config(), Some(default.into()), allowed),
                Err(AuthError::DefaultRoleNotAllowed)
            ));
        }
    }

    #[test]
    fn a_profile_is_checked_before_use() {
        let bad_locale = NewProfile {
            locale: Some("english".into()),
            ..NewProfile::default()
        };
        assert!(bad_locale.check(&config()).is_err());
        let profile = NewProfile {
            locale: Some("de".into()),
            ..NewProfile::default()
        }
        .check(&config())
        .unwrap();
        assert_eq!(profile.locale, "de");
        assert_eq!(profile.metadata, json!({}));
        assert_eq!(profile.default_role, "user");
    }
}
