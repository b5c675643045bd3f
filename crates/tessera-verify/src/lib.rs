//! Verify Tessera access tokens in your own services.
//!
//! Tessera signs ES256 access tokens and publishes its keys at
//! `<public URL>/.well-known/jwks.json`. This crate verifies them offline: ES256 only, the
//! key chosen by `kid` from that JWKS (never from the token), `iss`, `aud` and `exp`
//! enforced with a clock leeway (60 s by default). The JWKS is cached as its
//! `Cache-Control` says (within 30 s and a day) and refetched on an unknown `kid` at most
//! once per cooldown, so a flood of made-up kids cannot make your service hammer Tessera.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tessera_verify::{Claims, Verifier};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::discover("https://auth.example.com", "tessera").await?;
//! let app: Router = Router::new()
//!     .route("/me", get(|claims: Claims| async move { claims.sub.to_string() }))
//!     .with_state(verifier);
//! # Ok(()) }
//! ```
//!
//! The token is read from `Authorization: Bearer` first, then from the access cookie
//! (`__Host-tessera-token`, or the one name given to the builder): an explicit header wins over whatever
//! cookies a browser also sent. A refused request gets 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"`; the reason goes to the log, not to
//! the client. [`LiveSession`] also asks Tessera whether the session is still live
//! (`POST /token/verify`), for routes where a signed-out token must stop at once.

pub mod core;
#[cfg(feature = "remote")]
mod jwks;
#[cfg(feature = "remote")]
mod verifier;
#[cfg(feature = "axum")]
mod web;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::core::{MAX_TOKEN_BYTES, Rules, VerifyError, check_times, verify_token};
#[cfg(feature = "remote")]
pub use verifier::{DiscoveryError, Verifier, VerifierBuilder};
#[cfg(feature = "axum")]
pub use web::{LiveSession, Rejection, VerifyLayer, VerifyService};

/// The claims of a Tessera access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The session id (Tessera's `refreshTokenId`).
    pub sid: Uuid,
    /// The user id.
    pub sub: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// When the session last authenticated (unix seconds): its sign-in, or a later step-up
    /// with a second factor. A refresh keeps it, unlike `iat`. `None` in tokens of Tessera
    /// releases before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// How the session authenticated (RFC 8176 names): `pwd` (password), `email` (sign-in
    /// link or emailed code), `pat` (personal access token), `otp` (authenticator app),
    /// `rec` (recovery code), and `mfa` once a second factor was proved. Empty for an
    /// anonymous session (and in tokens of releases before it was added).
    #[serde(default)]
    pub amr: Vec<String>,
    /// Nhost/Hasura's claims, when Tessera adds them (`TESSERA_HASURA_CLAIMS`).
    #[serde(
        rename = "https://hasura.io/jwt/claims",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub hasura: Option<HasuraClaims>,
}

impl Claims {
    /// Whether the session authenticated at most `max_age` before `now` (a sign-in or a
    /// step-up, not a refresh): for a route that wants a recent sign-in. False for a token
    /// without `auth_time`. An `auth_time` ahead of `now` (clocks differ) counts as now.
    pub fn authenticated_within(&self, max_age: Duration, now: SystemTime) -> bool {
        let Some(auth_time) = self.auth_time else {
            return false;
        };
        let now = match now.duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            Err(_) => return false,
        };
        let age = u64::try_from(now.saturating_sub(auth_time)).unwrap_or(0);
        age <= max_age.as_secs()
    }

    /// Whether the session proved `method` (an `amr` value, such as `"mfa"`).
    pub fn has_amr(&self, method: &str) -> bool {
        self.amr.iter().any(|m| m == method)
    }
}

/// Nhost/Hasura's claims namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HasuraClaims {
    #[serde(rename = "x-hasura-user-id")]
    pub user_id: String,
    #[serde(rename = "x-hasura-default-role")]
    pub default_role: String,
    #[serde(rename = "x-hasura-allowed-roles")]
    pub allowed_roles: Vec<String>,
    /// `"true"` or `"false"`: Hasura session variables are strings.
    #[serde(rename = "x-hasura-user-is-anonymous")]
    pub user_is_anonymous: String,
}

/// The access cookie Tessera sets in production (Secure, no Domain). Only the host itself
/// can set a `__Host-` cookie, so a sibling subdomain or a plain-http hop cannot inject
/// one. With `TESSERA_COOKIE_DOMAIN` or `TESSERA_COOKIE_SECURE=false` the name is
/// [`UNPREFIXED_ACCESS_COOKIE`]: name it with [`VerifierBuilder::cookie_name`].
///
/// Tessera's server sets the cookie under this very constant.
pub const ACCESS_COOKIE: &str = "__Host-tessera-token";

/// The access cookie Tessera sets when it cannot use the `__Host-` prefix: with
/// `TESSERA_COOKIE_DOMAIN` (a `__Host-` cookie has no Domain) or
/// `TESSERA_COOKIE_SECURE=false` (nor can it be sent over plain http). Pass it to
/// [`VerifierBuilder::cookie_name`] for such a deployment.
///
/// Tessera's server sets the cookie under this very constant.
pub const UNPREFIXED_ACCESS_COOKIE: &str = "tessera-token";

/// The token of a request: `Authorization: Bearer` first, then the cookie named exactly
/// `cookie_name` (compared byte for byte, never percent-decoded; the first one sent wins).
/// Exactly one name is accepted: with two, an injected cookie of the other name could
/// shadow the real one.
pub fn token_from_headers(
    authorization: Option<&str>,
    cookie_headers: &mut dyn Iterator<Item = &str>,
    cookie_name: &str,
) -> Option<String> {
    if let Some((scheme, token)) = authorization.and_then(|v| v.split_once(' '))
        && scheme.eq_ignore_ascii_case("bearer")
        && !token.trim().is_empty()
    {
        return Some(token.trim().to_owned());
    }
    // Parsed as Tessera parses it: pairs split at `;`, name and value trimmed, the value's
    // surrounding quotes dropped, the name never decoded.
    cookie_headers
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.trim(), value.trim().trim_matches('"')))
        .find(|(name, value)| *name == cookie_name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(auth_time: Option<i64>, amr: &[&str]) -> Claims {
        Claims {
            sid: Uuid::nil(),
            sub: Uuid::nil(),
            iss: "https://auth.example.com".into(),
            aud: "tessera".into(),
            iat: 1_000,
            exp: 1_900,
            auth_time,
            amr: amr.iter().map(|m| (*m).to_owned()).collect(),
            hasura: None,
        }
    }

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    #[test]
    fn tokens_from_before_auth_time_and_amr_still_parse() {
        let older = json!({
            "sid": Uuid::nil(), "sub": Uuid::nil(), "iss": "i", "aud": "a",
            "iat": 1, "exp": 2,
        });
        let claims: Claims = serde_json::from_value(older).unwrap();
        assert_eq!(claims.auth_time, None);
        assert!(claims.amr.is_empty());
        assert!(!claims.authenticated_within(Duration::from_secs(u64::MAX / 2), at(2)));
        assert!(!claims.has_amr("pwd"));
    }

    #[test]
    fn claims_carry_auth_time_and_amr_as_json() {
        let value = serde_json::to_value(claims(Some(1_000), &["pwd", "otp", "mfa"])).unwrap();
        assert_eq!(value["auth_time"], 1_000);
        assert_eq!(value["amr"], json!(["pwd", "otp", "mfa"]));
        // Anonymous: an empty list, present (Tessera always sets both).
        let value = serde_json::to_value(claims(Some(1_000), &[])).unwrap();
        assert_eq!(value["amr"], json!([]));
        let parsed: Claims = serde_json::from_value(value).unwrap();
        assert_eq!(parsed, claims(Some(1_000), &[]));
    }

    #[test]
    fn authenticated_within_reads_auth_time_not_iat() {
        let five_minutes = Duration::from_secs(300);
        // Signed in at 1000, refreshed since (iat would be later): auth_time decides.
        let mut claims = claims(Some(1_000), &["pwd"]);
        claims.iat = 1_250;
        assert!(claims.authenticated_within(five_minutes, at(1_000)));
        assert!(claims.authenticated_within(five_minutes, at(1_300)));
        assert!(!claims.authenticated_within(five_minutes, at(1_301)));
        // An auth_time a little ahead of this clock counts as now.
        assert!(claims.authenticated_within(five_minutes, at(990)));
        assert!(!claims.authenticated_within(five_minutes, UNIX_EPOCH - Duration::from_secs(1)));
    }

    #[test]
    fn has_amr_matches_whole_methods() {
        let claims = claims(Some(1_000), &["pwd", "otp", "mfa"]);
        assert!(claims.has_amr("mfa"));
        assert!(claims.has_amr("otp"));
        assert!(!claims.has_amr("mf"));
        assert!(!claims.has_amr("rec"));
        assert!(!self::claims(Some(1_000), &["pwd"]).has_amr("mfa"));
    }
}
