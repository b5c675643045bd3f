//! `TESSERA_CUSTOM_CLAIMS` and `TESSERA_CUSTOM_TOP_LEVEL_CLAIMS`: JSON objects of claim
//! name to user path, checked once here so that issuing a token never meets a bad one.

use serde_json::Value;

/// The Hasura namespace claim.
pub const HASURA_NAMESPACE: &str = "https://hasura.io/jwt/claims";

/// Claims Tessera always sets at the top level; a custom claim of the same name would
/// let a user field overwrite who or what the token is for, or (`auth_time`, `amr`) how
/// and when the session authenticated, which services read to demand a recent or
/// second-factor sign-in.
const FIXED_TOP_LEVEL: [&str; 10] = [
    "sub",
    "sid",
    "iss",
    "aud",
    "iat",
    "exp",
    "nbf",
    "jti",
    "auth_time",
    "amr",
];

/// Names (after `x-hasura-`) Tessera sets inside the Hasura namespace.
const FIXED_HASURA: [&str; 4] = [
    "user-id",
    "default-role",
    "allowed-roles",
    "user-is-anonymous",
];

/// Longest claim name: a name is a label, not a place for data.
const MAX_NAME_CHARS: usize = 64;
/// Most claims per variable: each one grows every token.
const MAX_CLAIMS: usize = 32;
/// Deepest metadata path.
const MAX_PATH_KEYS: usize = 8;

/// The user field a custom claim is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimSource {
    /// `metadata.a.b`: the keys, outermost first.
    Metadata(Vec<String>),
    Email,
    DisplayName,
    Locale,
    DefaultRole,
    Roles,
    EmailVerified,
}

/// The custom claims, each as (claim name as written in the token, source).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomClaims {
    /// Inside the Hasura namespace; names already carry the `x-hasura-` prefix.
    pub hasura: Vec<(String, ClaimSource)>,
    /// At the top level of the token.
    pub top_level: Vec<(String, ClaimSource)>,
}

impl CustomClaims {
    /// No custom claim at all (tokens are then built without the extra step).
    pub fn is_empty(&self) -> bool {
        self.hasura.is_empty() && self.top_level.is_empty()
    }
}

/// Where a set of claims goes, which decides the names it may not take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    Hasura,
    TopLevel,
}

/// Parses one variable's value; the error is the problem, without the variable's name.
pub fn parse(raw: &str, placement: Placement) -> Result<Vec<(String, ClaimSource)>, String> {
    let value: Value = serde_json::from_str(raw).map_err(|_| "is not valid JSON".to_string())?;
    let Value::Object(map) = value else {
        return Err("is not a JSON object of claim name to user path".into());
    };
    if map.len() > MAX_CLAIMS {
        return Err(format!("has more than {MAX_CLAIMS} claims"));
    }
    let mut claims: Vec<(String, ClaimSource)> = Vec::with_capacity(map.len());
    for (name, path) in map {
        check_name(&name, placement)?;
        let Value::String(path) = path else {
            return Err(format!(
                "maps `{name}` to something other than a path string"
            ));
        };
        let source = parse_path(&path).ok_or_else(|| {
            format!(
                "maps `{name}` to `{path}`, which is not a user path (metadata.<key>[.<key>...], email, displayName, locale, defaultRole, roles or emailVerified)"
            )
        })?;
        let claim = match placement {
            Placement::Hasura => format!("x-hasura-{name}"),
            Placement::TopLevel => name,
        };
        // Hasura compares session variables without regard to case, so `Org` and `org`
        // would be one variable with two values.
        if claims.iter().any(|(c, _)| c.eq_ignore_ascii_case(&claim)) {
            return Err(format!(
                "names `{claim}` twice (names are compared ignoring case)"
            ));
        }
        claims.push((claim, source));
    }
    Ok(claims)
}

/// A sensible claim name: letters, digits, `-` and `_`, starting with a letter, and not a
/// name Tessera sets itself. Compared ignoring case, since Hasura does.
fn check_name(name: &str, placement: Placement) -> Result<(), String> {
    if placement == Placement::TopLevel && name == HASURA_NAMESPACE {
        return Err(format!(
            "has the claim name `{name}`, which would replace Tessera's Hasura namespace"
        ));
    }
    let sensible = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.len() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !sensible {
        return Err(format!(
            "has the claim name `{}`, which is not 1-{MAX_NAME_CHARS} letters, digits, `-` or `_` starting with a letter",
            name.escape_debug()
        ));
    }
    let lower = name.to_ascii_lowercase();
    match placement {
        Placement::Hasura if lower.starts_with("x-hasura-") => Err(format!(
            "has the claim name `{name}`: give it without the `x-hasura-` prefix, which Tessera adds"
        )),
        Placement::Hasura if FIXED_HASURA.contains(&lower.as_str()) => Err(format!(
            "has the claim name `{name}`, which would replace Tessera's own `x-hasura-{lower}`"
        )),
        Placement::TopLevel if FIXED_TOP_LEVEL.contains(&lower.as_str()) => Err(format!(
            "has the claim name `{name}`, which would replace the registered claim `{lower}`"
        )),
        _ => Ok(()),
    }
}

/// `metadata.<key>...` or one of the named user fields.
fn parse_path(path: &str) -> Option<ClaimSource> {
    Some(match path {
        "email" => ClaimSource::Email,
        "displayName" => ClaimSource::DisplayName,
        "locale" => ClaimSource::Locale,
        "defaultRole" => ClaimSource::DefaultRole,
        "roles" => ClaimSource::Roles,
        "emailVerified" => ClaimSource::EmailVerified,
        _ => {
            let keys: Vec<String> = path
                .strip_prefix("metadata.")?
                .split('.')
                .map(str::to_owned)
                .collect();
            if keys.len() > MAX_PATH_KEYS || keys.iter().any(|k| k.trim().is_empty()) {
                return None;
            }
            ClaimSource::Metadata(keys)
        }
    })
}
