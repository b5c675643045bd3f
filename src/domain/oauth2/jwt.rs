//! The tokens an app receives, signed with Tessera's keys (the same JWKS):
//!
//! - **access tokens** in the JWT profile of RFC 9068: header `typ` `at+jwt`, `aud` and
//!   `client_id` the client, `scope`, `jti`, and `sid` (the grant). Tessera's own checks (and
//!   the `tessera-verify` crate) accept only `typ` `JWT` with `aud` = `TESSERA_AUDIENCE`, so
//!   an app's token never passes for a Tessera session's;
//! - **ID tokens** (OpenID Connect Core): `aud` the client, `auth_time`, `amr`, `nonce` (at
//!   the code exchange), `at_hash`, `sid`, and `email`/`name` claims by scope.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{OAuthError, OAuthProvider};
use crate::domain::errors::AuthError;
use crate::store::UserRecord;

/// `typ` of an access token (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Longest token looked at.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a grant's tokens say.
pub struct GrantClaims<'a> {
    pub user: &'a UserRecord,
    pub client_id: &'a str,
    pub session_id: Uuid,
    pub scopes: &'a [String],
    pub auth_time: OffsetDateTime,
    pub amr: &'a [String],
}

/// A verified access token of an app.
#[derive(Debug, Clone)]
pub struct AppAccessToken {
    pub sub: Uuid,
    pub client_id: String,
    pub session_id: Uuid,
    pub scopes: Vec<String>,
    pub iat: i64,
    pub exp: i64,
}

impl OAuthProvider {
    /// An access token for the grant, at `now`.
    pub(super) fn access_token(
        &self,
        grant: &GrantClaims<'_>,
        now: OffsetDateTime,
    ) -> Result<String, OAuthError> {
        let iat = now.unix_timestamp();
        let claims = json!({
            "iss": self.issuer,
            "sub": grant.user.id,
            "aud": grant.client_id,
            "client_id": grant.client_id,
            "iat": iat,
            "exp": iat + self.tokens.ttl().as_secs() as i64,
            "jti": Uuid::new_v4(),
            "scope": grant.scopes.join(" "),
            "sid": grant.session_id,
            "auth_time": grant.auth_time.unix_timestamp(),
        });
        Ok(self
            .tokens
            .sign_claims(ACCESS_TOKEN_TYP, &claims, now)
            .map_err(AuthError::from)?)
    }

    /// An ID token for the grant, bound to `access_token` (`at_hash`), with `nonce` at a
    /// code exchange.
    pub(super) fn id_token(
        &self,
        grant: &GrantClaims<'_>,
        access_token: &str,
        nonce: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<String, OAuthError> {
        let iat = now.unix_timestamp();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!(grant.user.id));
        claims.insert("aud".into(), json!(grant.client_id));
        claims.insert("iat".into(), json!(iat));
        claims.insert(
            "exp".into(),
            json!(iat + self.tokens.ttl().as_secs() as i64),
        );
        claims.insert("auth_time".into(), json!(grant.auth_time.unix_timestamp()));
        claims.insert("amr".into(), json!(grant.amr));
        claims.insert("sid".into(), json!(grant.session_id));
        claims.insert("at_hash".into(), json!(at_hash(access_token)));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        claims.extend(user_claims(grant.user, grant.scopes));
        Ok(self
            .tokens
            .sign_claims("JWT", &Value::Object(claims), now)
            .map_err(AuthError::from)?)
    }

    /// Verifies an app's access token: our key by `kid`, ES256, `typ` `at+jwt`, `iss`, `exp`,
    /// and `aud` equal to its `client_id`. Whether its grant is still live is the caller's
    /// question.
    pub(super) fn verify_access_token(&self, token: &str) -> Option<AppAccessToken> {
        let claims = self.verify_jws(token, ACCESS_TOKEN_TYP, true)?;
        let client_id = claims.get("client_id")?.as_str()?.to_owned();
        if claims.get("aud")?.as_str()? != client_id {
            return None;
        }
        Some(AppAccessToken {
            sub: claims.get("sub")?.as_str()?.parse().ok()?,
            session_id: claims.get("sid")?.as_str()?.parse().ok()?,
            scopes: claims
                .get("scope")?
                .as_str()?
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            iat: claims.get("iat")?.as_i64()?,
            exp: claims.get("exp")?.as_i64()?,
            client_id,
        })
    }

    /// Verifies an ID token Tessera issued (an `id_token_hint`), expired or not: its
    /// audience (the client) and its `sid` (the grant).
    pub(super) fn verify_id_token_hint(&self, token: &str) -> Option<(String, Uuid)> {
        let claims = self.verify_jws(token, "JWT", false)?;
        let aud = claims.get("aud")?.as_str()?.to_owned();
        let sid = claims.get("sid")?.as_str()?.parse().ok()?;
        // A Tessera access token has the same `typ`, but never an `at_hash`.
        claims.get("at_hash")?;
        Some((aud, sid))
    }

    /// The claims of a token signed by a key of our set with `typ`, `iss` checked and `exp`
    /// (when `check_exp`).
    fn verify_jws(&self, token: &str, typ: &str, check_exp: bool) -> Option<Map<String, Value>> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(typ) {
            return None;
        }
        let kid = header.kid?;
        let now = self.clock.now();
        let set = self.tokens.keys().snapshot();
        let key = set.verification_key(&kid, now)?;
        // One spelling per token: the high-s twin of a signature is refused, as everywhere.
        let signature = URL_SAFE_NO_PAD.decode(token.rsplit('.').next()?).ok()?;
        if !tessera_verify::core::canonical_signature(&signature) {
            return None;
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "sub", "aud", "exp", "iat"]);
        validation.leeway = 0;
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation).ok()?;
        let claims = data.claims;
        if check_exp && claims.get("exp")?.as_i64()? <= now.unix_timestamp() {
            return None;
        }
        Some(claims)
    }
}

/// The user's claims a scope gives: `email` gives `email`, `email_verified`; `profile` gives
/// `name`, `picture`, `locale`, `preferred_username` (the email, or the id) and `updated_at`.
/// Empty values are left out.
pub(super) fn user_claims(user: &UserRecord, scopes: &[String]) -> Map<String, Value> {
    let mut claims = Map::new();
    let has = |scope: &str| scopes.iter().any(|s| s == scope);
    if has("email")
        && let Some(email) = &user.email
    {
        claims.insert("email".into(), json!(email));
        claims.insert("email_verified".into(), json!(user.email_verified));
    }
    if has("profile") {
        if !user.display_name.is_empty() {
            claims.insert("name".into(), json!(user.display_name));
        }
        if !user.avatar_url.is_empty() {
            claims.insert("picture".into(), json!(user.avatar_url));
        }
        if !user.locale.is_empty() {
            claims.insert("locale".into(), json!(user.locale));
        }
        claims.insert(
            "preferred_username".into(),
            json!(user.email.clone().unwrap_or_else(|| user.id.to_string())),
        );
        claims.insert("updated_at".into(), json!(user.updated_at.unix_timestamp()));
    }
    claims
}

/// `at_hash`: the left half of SHA-256 of the access token, base64url (OpenID Connect Core
/// 3.1.3.6, for ES256).
pub fn at_hash(access_token: &str) -> String {
    let hash = digest(&SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16])
}
