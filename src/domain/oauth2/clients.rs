//! The apps registered with Tessera: created, changed and deleted by an administrator
//! (`/oauth2/clients`, `tessera clients`), or registered by an app itself with the
//! operator's initial access token (RFC 7591).

use aws_lc_rs::constant_time::verify_slices_are_equal;
use secrecy::ExposeSecret;
use serde_json::json;
use url::Url;
use uuid::Uuid;

use super::{OAuthError, OAuthProvider, hash_secret, is_client_id};
use crate::config::valid_scope;
use crate::domain::sessions::{ClientInfo, event};
use crate::store::OAuthClientRecord;

/// Most redirect URIs (and post-logout URIs) a client may have.
const MAX_URIS: usize = 20;
/// Longest client name.
const MAX_NAME_CHARS: usize = 100;

/// What an administrator (or a registering app) says a client is.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes it may ask for; empty: `openid profile email offline_access`.
    pub scopes: Vec<String>,
    /// A public client (a browser or native app) has no secret and proves itself with
    /// PKCE alone.
    pub public: bool,
    /// Consent is not asked for.
    pub first_party: bool,
}

/// A client just created (or whose secret was just replaced): the only time its secret is
/// shown.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub client: OAuthClientRecord,
    pub secret: Option<String>,
}

impl OAuthProvider {
    /// Registers a client. `dynamic`: through RFC 7591 (never first-party).
    pub async fn create_client(
        &self,
        spec: ClientSpec,
        dynamic: bool,
    ) -> Result<NewClient, OAuthError> {
        let spec = self.checked(spec)?;
        let now = self.clock.now();
        let secret = (!spec.public).then(|| self.secret());
        let record = OAuthClientRecord {
            id: Uuid::new_v4().to_string(),
            name: spec.name,
            secret_hash: secret.as_deref().map(hash_secret),
            redirect_uris: spec.redirect_uris,
            post_logout_redirect_uris: spec.post_logout_redirect_uris,
            scopes: spec.scopes,
            first_party: spec.first_party && !dynamic,
            dynamic,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_client(&record).await?;
        tracing::info!(client = %record.id, dynamic, "OAuth client registered");
        Ok(NewClient {
            client: record,
            secret,
        })
    }

    /// RFC 7591 registration: only with the operator's initial access token.
    pub async fn register_client(
        &self,
        initial_access_token: Option<&str>,
        spec: ClientSpec,
    ) -> Result<NewClient, OAuthError> {
        self.check_registration(initial_access_token)?;
        self.create_client(spec, true).await
    }

    /// Whether registration is on and `initial_access_token` is the operator's.
    pub fn check_registration(&self, initial_access_token: Option<&str>) -> Result<(), OAuthError> {
        let Some(expected) = &self.config.registration_token else {
            return Err(OAuthError::new(
                "access_denied",
                403,
                "Dynamic client registration is off on this server.",
            ));
        };
        let presented = initial_access_token.unwrap_or_default();
        if verify_slices_are_equal(presented.as_bytes(), expected.expose_secret().as_bytes())
            .is_err()
        {
            return Err(OAuthError::new(
                "invalid_token",
                401,
                "The initial access token is missing or wrong.",
            ));
        }
        Ok(())
    }

    /// Every client, oldest first.
    pub async fn clients(&self) -> Result<Vec<OAuthClientRecord>, OAuthError> {
        Ok(self.store.clients().await?.into_iter().collect())
    }

    /// One client.
    pub async fn client(&self, id: &str) -> Result<OAuthClientRecord, OAuthError> {
        self.store
            .client(id)
            .await?
            .ok_or_else(|| OAuthError::not_found("There is no such client."))
    }

    /// Replaces a client's settings; with `new_secret`, also its secret (shown once). A
    /// public client stays public and a confidential one confidential (its grants were
    /// issued under that rule).
    pub async fn update_client(
        &self,
        id: &str,
        spec: ClientSpec,
        new_secret: bool,
    ) -> Result<NewClient, OAuthError> {
        let current = self.client(id).await?;
        if spec.public == current.secret_hash.is_some() {
            return Err(OAuthError::invalid_request(
                "A client cannot change between public and confidential; register a new one.",
            ));
        }
        let spec = self.checked(spec)?;
        let secret = (new_secret && !spec.public).then(|| self.secret());
        let record = OAuthClientRecord {
            name: spec.name,
            secret_hash: secret
                .as_deref()
                .map(hash_secret)
                .or(current.secret_hash.clone()),
            redirect_uris: spec.redirect_uris,
            post_logout_redirect_uris: spec.post_logout_redirect_uris,
            scopes: spec.scopes,
            first_party: spec.first_party && !current.dynamic,
            updated_at: self.clock.now(),
            ..current
        };
        if !self.store.update_client(&record).await? {
            return Err(OAuthError::not_found("There is no such client."));
        }
        Ok(NewClient {
            client: record,
            secret,
        })
    }

    /// Deletes a client: its grants end at once (their sessions are revoked).
    pub async fn delete_client(&self, id: &str, client: &ClientInfo) -> Result<(), OAuthError> {
        let event = event(
            self.clock.now(),
            "oauth2-client-deleted",
            None,
            None,
            client,
            json!({ "clientId": id, "by": "admin" }),
        );
        if is_client_id(id) && self.store.delete_client(id, &event).await? {
            Ok(())
        } else {
            Err(OAuthError::not_found("There is no such client."))
        }
    }

    /// The spec with its defaults, or what is wrong with it.
    fn checked(&self, mut spec: ClientSpec) -> Result<ClientSpec, OAuthError> {
        spec.name = spec.name.trim().to_owned();
        // The name is what the consent page shows: no control characters, and no
        // bidirectional overrides that would make it read as another app's.
        let spoofing = |c: char| {
            c.is_control()
                || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        };
        if spec.name.is_empty()
            || spec.name.chars().count() > MAX_NAME_CHARS
            || spec.name.chars().any(spoofing)
        {
            return Err(OAuthError::invalid_request(
                "name must be 1 to 100 characters, without control or bidirectional-override characters.",
            ));
        }
        if spec.redirect_uris.is_empty() {
            return Err(OAuthError::new(
                "invalid_redirect_uri",
                400,
                "A client needs at least one redirect URI.",
            ));
        }
        for list in [&spec.redirect_uris, &spec.post_logout_redirect_uris] {
            if list.len() > MAX_URIS {
                return Err(OAuthError::new(
                    "invalid_redirect_uri",
                    400,
                    "A client may have at most 20 redirect URIs of each kind.",
                ));
            }
            for uri in list {
                check_redirect_uri(uri)?;
            }
        }
        dedup(&mut spec.redirect_uris);
        dedup(&mut spec.post_logout_redirect_uris);
        if spec.scopes.is_empty() {
            spec.scopes = ["openid", "profile", "email", "offline_access"]
                .map(String::from)
                .to_vec();
        }
        dedup(&mut spec.scopes);
        let known = self.config.scopes();
        if let Some(unknown) = spec
            .scopes
            .iter()
            .find(|s| !valid_scope(s) || !known.contains(s))
        {
            return Err(OAuthError::new(
                "invalid_client_metadata",
                400,
                format!(
                    "The scope {:?} is not one this server has (TESSERA_OAUTH2_SCOPES adds scopes).",
                    if valid_scope(unknown) {
                        unknown.as_str()
                    } else {
                        "?"
                    }
                ),
            ));
        }
        Ok(spec)
    }
}

/// A redirect URI a client may register (OAuth 2.1 and RFC 8252): absolute, no fragment,
/// no user info; `https`, or `http` on a loopback host (native apps and development), or a
/// private-use scheme with a dot (`com.example.app:/callback`, native apps). Compared
/// byte for byte at authorization.
fn check_redirect_uri(uri: &str) -> Result<(), OAuthError> {
    let refuse = |why: &str| {
        Err(OAuthError::new(
            "invalid_redirect_uri",
            400,
            format!("A redirect URI {why}."),
        ))
    };
    let Ok(url) = Url::parse(uri) else {
        return refuse("must be an absolute URL");
    };
    if uri.chars().any(char::is_control) {
        return refuse("must not hold control characters");
    }
    if uri.len() > 2000 || url.fragment().is_some() {
        return refuse("must not have a fragment (nor be over 2000 characters)");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not carry user information");
    }
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => refuse("with http must be on localhost, 127.0.0.1 or [::1]; use https"),
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => {
            refuse("must not use that scheme")
        }
        scheme if scheme.contains('.') => Ok(()),
        _ => refuse(
            "must be https, http on loopback, or a private-use scheme such as com.example.app:/callback",
        ),
    }
}

fn dedup(list: &mut Vec<String>) {
    let mut seen = Vec::with_capacity(list.len());
    list.retain(|item| {
        let new = !seen.contains(item);
        if new {
            seen.push(item.clone());
        }
        new
    });
}

#[cfg(test)]
mod tests {
    use super::check_redirect_uri;

    #[test]
    fn redirect_uris_follow_oauth_2_1() {
        for good in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?tenant=a",
            "http://localhost:3000/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(check_redirect_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "/relative",
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "https://user:pw@app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "myapp:/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
