//! The roles of self-registered accounts (`TESSERA_DEFAULT_ROLE`, `TESSERA_ALLOWED_ROLES`),
//! as Nhost's `AUTH_USER_DEFAULT_ROLE` and `AUTH_USER_DEFAULT_ALLOWED_ROLES`.

use super::source::{Source, error};
use super::{ConfigError, values};

/// What an account created by sign-up, a sign-in link or an email code gets, and the most
/// its request may ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleConfig {
    /// `TESSERA_DEFAULT_ROLE`: the `x-hasura-default-role` of a new account.
    pub default_role: String,
    /// `TESSERA_ALLOWED_ROLES`: the roles of a new account; a request may narrow them,
    /// never widen them.
    pub allowed_roles: Vec<String>,
}

impl Default for RoleConfig {
    fn default() -> Self {
        Self {
            default_role: "user".into(),
            allowed_roles: vec!["user".into()],
        }
    }
}

/// A role name: 1 to 64 of `[a-z0-9_-]` (what Hasura roles look like in practice, and
/// nothing a header or a claim could misread).
pub fn valid_role_name(role: &str) -> bool {
    (1..=64).contains(&role.len())
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn role_name(raw: &str) -> Result<String, String> {
    if valid_role_name(raw) {
        Ok(raw.to_owned())
    } else {
        Err("is not a role name (1 to 64 of a-z, 0-9, _ and -)".into())
    }
}

impl RoleConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let default_role = env.parsed(
            "TESSERA_DEFAULT_ROLE",
            "user",
            defaults.default_role,
            role_name,
        )?;
        let allowed_roles = env
            .optional("TESSERA_ALLOWED_ROLES", "user,me", |raw| {
                let mut roles: Vec<String> = Vec::new();
                for role in values::list(raw) {
                    let role = role_name(&role).map_err(|_| {
                        format!(
                            "has `{role}`, which is not a role name (1 to 64 of a-z, 0-9, _ and -)"
                        )
                    })?;
                    if !roles.contains(&role) {
                        roles.push(role);
                    }
                }
                if roles.is_empty() {
                    return Err("names no role".into());
                }
                Ok(roles)
            })?
            // Unset: the default role alone, whatever it is.
            .unwrap_or_else(|| vec![default_role.clone()]);
        if !allowed_roles.contains(&default_role) {
            return Err(error(
                "TESSERA_DEFAULT_ROLE",
                format!(
                    "= {default_role:?} is not in TESSERA_ALLOWED_ROLES ({})",
                    allowed_roles.join(",")
                ),
                "user",
            ));
        }
        Ok(Self {
            default_role,
            allowed_roles,
        })
    }
}
