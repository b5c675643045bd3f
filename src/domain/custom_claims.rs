//! Custom claims (the README section of that name): values read from the user at every issue, so the
//! next token after a role or metadata change carries the new values.
//!
//! A path that leads nowhere (or to `null`) adds no claim. Inside the Hasura namespace
//! every value is a string, as Hasura session variables are: strings as they are, other
//! scalars and objects as their JSON text, arrays as Postgres array literals
//! (`{"a","b"}`), which Hasura accepts for `_in` and array comparisons. At the top level
//! values stay JSON.

use serde_json::{Map, Value};

use crate::config::{ClaimSource, CustomClaims};
use crate::store::UserRecord;

/// Largest serialized value a claim may carry; a larger one is left out, so a user who
/// can write metadata cannot grow tokens past what verifiers accept (8 KiB in all).
pub const MAX_VALUE_BYTES: usize = 1024;

/// Largest total of custom claim values in one token; claims past it are left out.
pub const MAX_TOTAL_BYTES: usize = 4096;

/// Adds the configured claims of `user` to a token's claims object. `claims` must be the
/// object the token carries; the Hasura part goes into its namespace object, if present.
pub fn add(custom: &CustomClaims, user: &UserRecord, claims: &mut Map<String, Value>) {
    let mut budget = MAX_TOTAL_BYTES;
    if let Some(Value::Object(hasura)) = claims.get_mut(crate::config::HASURA_NAMESPACE) {
        for (name, source) in &custom.hasura {
            if let Some(value) = resolve(source, user).map(hasura_value) {
                insert(hasura, name, value, &mut budget);
            }
        }
    }
    for (name, source) in &custom.top_level {
        if let Some(value) = resolve(source, user) {
            insert(claims, name, value, &mut budget);
        }
    }
}

/// Inserts a value that fits both caps; the log names the claim, never the value, which
/// may be personal data.
fn insert(target: &mut Map<String, Value>, name: &str, value: Value, budget: &mut usize) {
    let size = serde_json::to_string(&value).map_or(usize::MAX, |text| text.len());
    if size > MAX_VALUE_BYTES || size > *budget {
        tracing::debug!(
            claim = name,
            bytes = size,
            "custom claim too large; left out"
        );
        return;
    }
    *budget -= size;
    target.insert(name.to_owned(), value);
}

/// The value at `source`, or `None` where there is none.
fn resolve(source: &ClaimSource, user: &UserRecord) -> Option<Value> {
    match source {
        ClaimSource::Metadata(keys) => {
            let value = keys
                .iter()
                .try_fold(&user.metadata, |value, key| value.get(key.as_str()))?;
            (!value.is_null()).then(|| value.clone())
        }
        ClaimSource::Email => user.email.clone().map(Value::String),
        ClaimSource::DisplayName => Some(Value::String(user.display_name.clone())),
        ClaimSource::Locale => Some(Value::String(user.locale.clone())),
        ClaimSource::DefaultRole => Some(Value::String(user.default_role.clone())),
        ClaimSource::Roles => Some(Value::from(user.roles.clone())),
        ClaimSource::EmailVerified => Some(Value::Bool(user.email_verified)),
    }
}

/// A value as a Hasura session variable: always a string.
fn hasura_value(value: Value) -> Value {
    match value {
        Value::String(_) => value,
        Value::Array(items) => Value::String(postgres_array(&items)),
        other => Value::String(other.to_string()),
    }
}

/// `{"a","b"}`: every element quoted, with `"` and `\` escaped, so commas, braces and
/// spaces inside an element cannot split it; `null` stays an SQL NULL.
fn postgres_array(items: &[Value]) -> String {
    let elements: Vec<String> = items
        .iter()
        .map(|item| match item {
            Value::Null => "NULL".to_owned(),
            Value::String(text) => quote(text),
            other => quote(&other.to_string()),
        })
        .collect();
    format!("{{{}}}", elements.join(","))
}

fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hasura_values_are_strings() {
        assert_eq!(hasura_value(json!("a")), json!("a"));
        assert_eq!(hasura_value(json!(42)), json!("42"));
        assert_eq!(hasura_value(json!(true)), json!("true"));
        assert_eq!(hasura_value(json!({"a": 1})), json!("{\"a\":1}"));
        assert_eq!(
            hasura_value(json!(["a", "b,c", "q\"\\", 1, null])),
            json!(r#"{"a","b,c","q\"\\","1",NULL}"#)
        );
        assert_eq!(hasura_value(json!([])), json!("{}"));
    }
}
