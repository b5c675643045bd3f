//! `POST /oauth2/token` (authorization codes and refresh tokens), with client
//! authentication (also used by revocation and introspection, `revocation.rs`).
//!
//! - A code is single use: its first presentation redeems it whatever the outcome (a wrong
//!   verifier burns it), and a second one revokes the grant the first one created.
//! - A code is bound to its client, its redirect URI and its PKCE challenge (S256).
//! - A refresh token is bound to its client (checked before anything rotates) and rotates
//!   with the reuse detection of every Tessera session.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use uuid::Uuid;

use super::jwt::GrantClaims;
use super::{OAuthError, OAuthProvider, hash_secret, split_scopes};
use crate::domain::errors::AuthError;
use crate::domain::sessions::{ClientInfo, TokenKind, event};
use crate::store::{CodeTake, OAuthClientRecord, OAuthGrantRecord, UserRecord};

/// How a client authenticated at the token, revocation or introspection endpoint.
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    /// `client_id` and secret from `Authorization: Basic` (already form-decoded).
    pub basic: Option<(String, String)>,
    /// `client_id` from the form.
    pub form_id: Option<String>,
    /// `client_secret` from the form (`client_secret_post`).
    pub form_secret: Option<String>,
}

/// The form of `POST /oauth2/token`.
#[derive(Debug, Clone, Default)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

/// The token response (RFC 6749 section 5.1, OpenID Connect Core 3.1.3.3).
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

impl OAuthProvider {
    /// The client a request authenticates as: a confidential client by its secret (Basic
    /// or form, not both), a public client by its `client_id` alone.
    pub async fn authenticate_client(
        &self,
        auth: &ClientAuth,
        client_info: &ClientInfo,
    ) -> Result<OAuthClientRecord, OAuthError> {
        let (id, secret) = match (&auth.basic, &auth.form_secret) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "Use one way of client authentication, not both Basic and client_secret.",
                ));
            }
            (Some((id, secret)), None) => {
                if auth.form_id.as_ref().is_some_and(|form| form != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id differs from the one in Authorization.",
                    ));
                }
                (id.clone(), Some(secret.as_str()))
            }
            (None, secret) => match &auth.form_id {
                Some(id) => (id.clone(), secret.as_deref()),
                None => return Err(OAuthError::invalid_client("No client authentication.")),
            },
        };
        let unknown = || OAuthError::invalid_client("Client authentication failed.");
        let client = self.find_client(&id).await?.ok_or_else(unknown)?;
        let cause = match (&client.secret_hash, secret) {
            (None, None) => return Ok(client),
            (None, Some(_)) => {
                return Err(OAuthError::invalid_client(
                    "This is a public client; it has no secret.",
                ));
            }
            (Some(_), None) => "no-secret",
            (Some(expected), Some(secret)) => {
                if verify_slices_are_equal(expected, &hash_secret(secret)).is_ok() {
                    return Ok(client);
                }
                "wrong-secret"
            }
        };
        // A registered client's secret being guessed is worth knowing about.
        let event = event(
            self.clock.now(),
            "oauth2-client-auth-failed",
            None,
            None,
            client_info,
            json!({ "clientId": client.id, "cause": cause }),
        );
        self.store.record_event(&event).await?;
        Err(unknown())
    }

    /// `POST /oauth2/token`.
    pub async fn token(
        &self,
        auth: &ClientAuth,
        params: TokenParams,
        client_info: &ClientInfo,
    ) -> Result<TokenResponse, OAuthError> {
        let grant_type = params
            .grant_type
            .clone()
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required."))?;
        if !matches!(grant_type.as_str(), "authorization_code" | "refresh_token") {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                400,
                "Only authorization_code and refresh_token are supported.",
            ));
        }
        let client = self.authenticate_client(auth, client_info).await?;
        if grant_type == "authorization_code" {
            self.exchange_code(&client, params, client_info).await
        } else {
            self.exchange_refresh_token(&client, params, client_info)
                .await
        }
    }

    async fn exchange_code(
        &self,
        client: &OAuthClientRecord,
        params: TokenParams,
        client_info: &ClientInfo,
    ) -> Result<TokenResponse, OAuthError> {
        let (Some(code), Some(redirect_uri)) = (params.code, params.redirect_uri) else {
            return Err(OAuthError::invalid_request(
                "code and redirect_uri are required.",
            ));
        };
        let now = self.clock.now();
        let refused = || OAuthError::invalid_grant("The code is invalid, expired or used.");
        let request = match self
            .store
            .take_authorization_code(&hash_secret(&code), now)
            .await?
        {
            CodeTake::Unknown => return Err(refused()),
            // Another app presenting a spent code proves nothing about the code's own app:
            // refused, recorded, and the grant it gave left alone.
            CodeTake::AlreadyRedeemed(request) if request.client_id != client.id => {
                return Err(self
                    .refuse_code(request.user_id, &client.id, "client", client_info)
                    .await);
            }
            CodeTake::AlreadyRedeemed(request) => {
                let event = event(
                    now,
                    "oauth2-code-reused",
                    request.user_id,
                    request.session_id,
                    client_info,
                    json!({ "clientId": request.client_id, "by": "system" }),
                );
                if self
                    .store
                    .mark_code_reused(request.id, &event)
                    .await?
                    .is_some()
                {
                    tracing::warn!(client = %request.client_id, "authorization code reused; its grant is revoked");
                } else {
                    // Nothing to revoke (the first presentation was refused): the reuse is
                    // still worth a line in the security log.
                    self.store.record_event(&event).await?;
                }
                return Err(OAuthError::invalid_grant(
                    "The code was used already; the tokens issued for it are revoked.",
                ));
            }
            CodeTake::Taken(request) => request,
        };
        let verified = params
            .code_verifier
            .as_deref()
            .is_some_and(|v| pkce_matches(v, &request.code_challenge));
        let expired = request.code_expires_at.is_none_or(|at| at <= now);
        let cause = if request.client_id != client.id {
            Some("client")
        } else if request.redirect_uri != redirect_uri {
            Some("redirect-uri")
        } else if !verified {
            Some("pkce")
        } else if expired {
            Some("expired")
        } else {
            None
        };
        if let Some(cause) = cause {
            return Err(self
                .refuse_code(request.user_id, &client.id, cause, client_info)
                .await);
        }
        let (Some(user_id), Some(auth_time)) = (request.user_id, request.auth_time) else {
            return Err(refused());
        };
        let user = self.enabled_user(user_id).await?;
        let offline = request.scopes.iter().any(|s| s == "offline_access");
        let lifetime = if offline {
            self.sessions.refresh_ttl()
        } else {
            self.tokens.ttl()
        };
        let new =
            self.sessions
                .grant_session(user.id, client_info, auth_time, &request.amr, lifetime);
        let grant = OAuthGrantRecord {
            session_id: new.session.id,
            client_id: client.id.clone(),
            user_id: user.id,
            scopes: request.scopes.clone(),
            created_at: now,
        };
        if !self
            .store
            .create_grant(&new.session, &new.token, &grant, Some(request.id))
            .await?
        {
            return Err(refused());
        }
        let claims = GrantClaims {
            user: &user,
            client_id: &client.id,
            session_id: new.session.id,
            scopes: &request.scopes,
            auth_time,
            amr: &request.amr,
        };
        self.respond(
            &claims,
            offline.then_some(new.refresh_token),
            request.nonce.as_deref(),
        )
    }

    async fn exchange_refresh_token(
        &self,
        client: &OAuthClientRecord,
        params: TokenParams,
        client_info: &ClientInfo,
    ) -> Result<TokenResponse, OAuthError> {
        let presented = params
            .refresh_token
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required."))?;
        let refused =
            || OAuthError::invalid_grant("The refresh token is invalid, expired or revoked.");
        let session_id = self
            .sessions
            .session_named_by(&presented, TokenKind::Grant)
            .ok_or_else(refused)?;
        // Bound to its client: another client's presentation changes nothing.
        let grant = self
            .store
            .grant(session_id)
            .await?
            .filter(|g| g.client_id == client.id)
            .ok_or_else(refused)?;
        let scopes = match params.scope.as_deref() {
            None | Some("") => grant.scopes.clone(),
            Some(raw) => {
                let asked = split_scopes(raw);
                if asked.iter().any(|s| !grant.scopes.contains(s)) {
                    return Err(OAuthError::invalid_scope(
                        "A refresh can only narrow the scopes of the grant.",
                    ));
                }
                asked
            }
        };
        let rotated = match self
            .sessions
            .rotate(&presented, client_info, TokenKind::Grant)
            .await
        {
            Ok(rotated) => rotated,
            Err(AuthError::RefreshTokenReused) => {
                return Err(OAuthError::invalid_grant(
                    "The refresh token was used already; the grant is revoked.",
                ));
            }
            Err(AuthError::InvalidRefreshToken | AuthError::DisabledUser) => {
                return Err(refused());
            }
            Err(other) => return Err(other.into()),
        };
        let claims = GrantClaims {
            user: &rotated.user,
            client_id: &client.id,
            session_id: rotated.session.id,
            scopes: &scopes,
            auth_time: rotated.session.auth_time,
            amr: &rotated.session.amr,
        };
        self.respond(&claims, Some(rotated.refresh_token), None)
    }

    /// The tokens of a grant: an access token, an ID token with `openid`.
    fn respond(
        &self,
        claims: &GrantClaims<'_>,
        refresh_token: Option<String>,
        nonce: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now();
        let access_token = self.access_token(claims, now)?;
        let id_token = if claims.scopes.iter().any(|s| s == "openid") {
            Some(self.id_token(claims, &access_token, nonce, now)?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            expires_in: self.tokens.ttl().as_secs(),
            scope: claims.scopes.join(" "),
            id_token,
            refresh_token,
        })
    }

    /// A code refused for `cause` (`client`, `redirect-uri`, `pkce`, `expired`): recorded as
    /// `oauth2-code-refused`, answered `invalid_grant` (a failure to record is the answer
    /// instead).
    async fn refuse_code(
        &self,
        user_id: Option<Uuid>,
        client_id: &str,
        cause: &str,
        client_info: &ClientInfo,
    ) -> OAuthError {
        let event = event(
            self.clock.now(),
            "oauth2-code-refused",
            user_id,
            None,
            client_info,
            json!({ "clientId": client_id, "cause": cause }),
        );
        match self.store.record_event(&event).await {
            Ok(()) => OAuthError::invalid_grant("The code is invalid, expired or used."),
            Err(err) => err.into(),
        }
    }

    /// The user, if still enabled.
    pub(super) async fn enabled_user(&self, id: Uuid) -> Result<UserRecord, OAuthError> {
        self.store
            .user_by_id(id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| OAuthError::invalid_grant("The user is disabled or deleted."))
    }
}

/// Whether `verifier` (RFC 7636: 43 to 128 unreserved characters) hashes to `challenge`.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    well_formed && verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::pkce_matches;

    #[test]
    fn pkce_is_s256_of_a_well_formed_verifier() {
        // The challenge computed independently (Python's hashlib and base64).
        let verifier = "dBjftJeZ4CK-lq3fQ1l0ZCIN3PzJrBWLx9_9Xwqv9jY";
        let challenge = "CMLZ7B2Y8uJkuCheZFhNyuiDXuEkJtcPEGpIYZ-ywwg";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(challenge, challenge));
        assert!(!pkce_matches("short", challenge));
    }
}
