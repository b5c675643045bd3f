//! What a self-registered account starts with: Nhost's sign-up `options` (`displayName`,
//! `locale`, `metadata`, `defaultRole`, `allowedRoles`), checked and resolved against the
//! configured roles. Used by email-password sign-up, the sign-in link and the email code
//! when they create an account; anonymous sign-in takes the profile fields only.
//!
//! A request may narrow the configured roles (`TESSERA_ALLOWED_ROLES`) and pick its default
//! among them, never name another: a client cannot grant itself a role the operator did
//! not open to sign-up.

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::RoleConfig;
use crate::domain::errors::AuthError;
use crate::store::UserRecord;

/// Longest email address accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Largest `metadata` object accepted at sign-up, serialised.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;
/// Longest display name.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;
/// The role of anonymous users, replaced by the configured roles when they upgrade.
pub const ANONYMOUS_ROLE: &str = "anonymous";

/// The locale of an account whose request names none.
pub const DEFAULT_LOCALE: &str = "en";

/// The requested profile of a new account; every field optional.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
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

/// A user row with defaults: the configured roles, or with `roles` `None` an anonymous
/// user with the `anonymous` role.
pub fn new_user(
    now: OffsetDateTime,
    email: Option<String>,
    display_name: String,
    roles: Option<&RoleConfig>,
) -> UserRecord {
    let (default_role, allowed_roles) = match roles {
        Some(roles) => (roles.default_role.clone(), roles.allowed_roles.clone()),
        None => (ANONYMOUS_ROLE.to_owned(), vec![ANONYMOUS_ROLE.to_owned()]),
    };
    UserRecord {
        id: Uuid::new_v4(),
        created_at: now,
        updated_at: now,
        email,
        email_verified: false,
        phone_number: None,
        phone_number_verified: false,
        password_hash: None,
        password_changed_at: None,
        display_name,
        avatar_url: String::new(),
        locale: DEFAULT_LOCALE.into(),
        default_role,
        roles: allowed_roles,
        is_anonymous: roles.is_none(),
        metadata: json!({}),
        disabled: false,
        active_mfa_type: None,
    }
}

/// Trims and lower-cases an email address and checks its shape; the address is the
/// account's identity, so `Alice@Example.com ` and `alice@example.com` are one account.
pub fn normalise_email(email: &str) -> Result<String, AuthError> {
    let email = email.trim().to_lowercase();
    let invalid = || AuthError::InvalidRequest("The email address is not valid.".into());
    if email.chars().count() > MAX_EMAIL_CHARS || email.chars().any(char::is_whitespace) {
        return Err(invalid());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(invalid)?;
    let domain_ok = !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || !domain_ok || local.contains('@') || email.chars().any(char::is_control)
    {
        return Err(invalid());
    }
    Ok(email)
}

fn invalid(message: String) -> AuthError {
    AuthError::InvalidRequest(message)
}

/// Whether any string inside a JSON value holds a NUL character, which Postgres text and
/// JSONB cannot store (it would be a 500 otherwise).
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// A display name: at most 256 characters, no control characters.
pub fn check_display_name(name: &str) -> Result<(), AuthError> {
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(invalid(format!(
            "displayName must be at most {MAX_DISPLAY_NAME_CHARS} characters, without control characters."
        )));
    }
    Ok(())
}

/// Metadata: a JSON object of at most 8 KiB, with no NUL character anywhere.
pub fn check_metadata(metadata: &Value) -> Result<(), AuthError> {
    if !metadata.is_object()
        || metadata.to_string().len() > MAX_METADATA_BYTES
        || holds_nul(metadata)
    {
        return Err(invalid(format!(
            "metadata must be a JSON object of at most {MAX_METADATA_BYTES} bytes, without NUL characters."
        )));
    }
    Ok(())
}

/// A locale: 2 or 3 ASCII letters (`en`, `fr`, `haw`), as Nhost's. Stored as given; the
/// email language falls back to English when no template of it exists.
pub fn check_locale(locale: &str) -> Result<(), AuthError> {
    if !(2..=3).contains(&locale.len()) || !locale.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(invalid("locale must be 2 or 3 letters, such as en.".into()));
    }
    Ok(())
}

/// A free-text field such as an avatar URL: bounded, no control characters.
pub fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), AuthError> {
    if value.chars().count() > max_chars || value.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must be at most {max_chars} characters, without control characters."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_never_reach_the_database() {
        assert!(check_metadata(&json!({ "a": { "b": ["x\u{0}y"] } })).is_err());
        assert!(check_metadata(&json!({ "k\u{0}": 1 })).is_err());
        assert!(check_metadata(&json!({ "plan": "free", "n": [1, 2] })).is_ok());
        assert!(check_display_name("Ada\u{0}").is_err());
        assert!(check_display_name("Ada Lovelace").is_ok());
        assert!(check_locale("fr").is_ok() && check_locale("haw").is_ok());
        for bad in ["", "e", "pt-BR", "engl", "e1", "../"] {
            assert!(check_locale(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalise_email("  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        assert_eq!(
            normalise_email("Ünïcode@Exämple.org").unwrap(),
            "ünïcode@exämple.org"
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a b@example.com",
            "a@b@c",
            "a@.com",
            "a@x..com",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad:?}");
        }
        assert!(normalise_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

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
