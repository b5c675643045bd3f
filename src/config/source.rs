//! Reading variables: every section parses its own through [`Source`], and every failure
//! names the variable, the problem and a valid example.

use secrecy::SecretString;

use super::ConfigError;

/// Reads variables by name; `None` and an empty value both mean "not set".
pub(super) struct Source<'a> {
    pub(super) lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The names of the variables set (those of the environment, or of a test's map).
    pub(super) names: &'a [String],
}

impl Source<'_> {
    pub(super) fn raw(&self, var: &str) -> Option<String> {
        (self.lookup)(var).filter(|value| !value.trim().is_empty())
    }

    pub(super) fn parsed<T>(
        &self,
        var: &'static str,
        example: &'static str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        self.optional(var, example, parse)
            .map(|value| value.unwrap_or(default))
    }

    pub(super) fn optional<T>(
        &self,
        var: &'static str,
        example: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.raw(var)
            .map(|raw| {
                parse(raw.trim()).map_err(|problem| ConfigError {
                    var: var.into(),
                    problem: if is_secret(var) {
                        problem
                    } else {
                        format!("= {raw:?} {problem}")
                    },
                    example,
                })
            })
            .transpose()
    }
}

/// A shared secret a client presents (admin API, metrics): at least 32 characters, so
/// that it cannot be guessed.
pub(super) fn long_secret(raw: &str) -> Result<SecretString, String> {
    if raw.len() >= 32 {
        Ok(SecretString::from(raw.to_owned()))
    } else {
        Err("is shorter than 32 characters".into())
    }
}

/// Values of these variables never appear in an error message.
pub(super) fn is_secret(var: &str) -> bool {
    var.ends_with("_CLIENT_SECRET")
        || matches!(
            var,
            "DATABASE_URL"
                | "TESSERA_KEY_ENCRYPTION_KEY"
                | "TESSERA_SMTP_URL"
                | "TESSERA_ADMIN_SECRET"
                | "TESSERA_METRICS_TOKEN"
                | "TESSERA_OAUTH2_REGISTRATION_TOKEN"
        )
}

pub(super) fn error(
    var: &'static str,
    problem: impl Into<String>,
    example: &'static str,
) -> ConfigError {
    ConfigError {
        var: var.into(),
        problem: problem.into(),
        example,
    }
}

pub(super) fn positive<T: PartialOrd + Default>(value: T) -> Result<T, String> {
    if value > T::default() {
        Ok(value)
    } else {
        Err("must be greater than zero".into())
    }
}

pub(super) fn number<T: std::str::FromStr + PartialOrd + Default>(raw: &str) -> Result<T, String> {
    raw.parse::<T>()
        .map_err(|_| "is not a whole number".to_string())
        .and_then(positive)
}

/// A duration greater than zero.
pub(super) fn positive_duration(raw: &str) -> Result<std::time::Duration, String> {
    super::values::duration(raw).and_then(positive)
}
