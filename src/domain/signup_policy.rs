//! The sign-up policy: whether accounts may be created at all, by which email domains, with
//! which roles, whether an address must be verified before its account signs in, and where
//! the links Tessera emails may lead. One value, built from the accounts section of the
//! configuration and the public URL, shared by every flow that creates an account or sends
//! a link: email and password, sign-in links and email codes, anonymous users and their
//! upgrade.

use url::Url;

use crate::config::{AccountConfig, RoleConfig};
use crate::domain::errors::AuthError;
use crate::domain::redirects::allowed_redirect;

/// `TESSERA_DISABLE_SIGNUP`, `TESSERA_REQUIRE_EMAIL_VERIFICATION`, the email domain lists,
/// the roles of new accounts, `TESSERA_ALLOWED_REDIRECT_URLS` and the public URL.
#[derive(Debug, Clone)]
pub struct SignUpPolicy {
    disable_signup: bool,
    require_email_verification: bool,
    /// When not empty, only these domains may sign up.
    allowed_domains: Vec<String>,
    blocked_domains: Vec<String>,
    roles: RoleConfig,
    allowed_redirects: Vec<String>,
    public_url: Url,
}

impl SignUpPolicy {
    /// The configured policy; links lead to `public_url` unless a request names an
    /// allowed redirect.
    pub fn new(config: &AccountConfig, public_url: &Url) -> Self {
        Self {
            disable_signup: config.disable_signup,
            require_email_verification: config.require_email_verification,
            allowed_domains: config.allowed_email_domains.clone(),
            blocked_domains: config.blocked_email_domains.clone(),
            roles: config.roles.clone(),
            allowed_redirects: config.allowed_redirect_urls.clone(),
            public_url: public_url.clone(),
        }
    }

    /// Whether new accounts may be created at all (`TESSERA_DISABLE_SIGNUP` unset).
    pub fn signup_open(&self) -> bool {
        !self.disable_signup
    }

    /// `signup-disabled` when no account may be created.
    pub fn check_signup_open(&self) -> Result<(), AuthError> {
        if self.disable_signup {
            return Err(AuthError::SignupDisabled);
        }
        Ok(())
    }

    /// Whether an account signs in only once its address is verified.
    pub fn requires_email_verification(&self) -> bool {
        self.require_email_verification
    }

    /// The roles of the accounts sign-up creates.
    pub fn roles(&self) -> &RoleConfig {
        &self.roles
    }

    /// Tessera's own public URL, under which the emailed links are served.
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// Whether sign-up is open to this (normalised) address's domain.
    pub fn check_domain(&self, email: &str) -> Result<(), AuthError> {
        let domain = email.rsplit('@').next().unwrap_or_default();
        let listed = |list: &[String]| list.iter().any(|d| d == domain);
        let allowed = self.allowed_domains.is_empty() || listed(&self.allowed_domains);
        if !allowed || listed(&self.blocked_domains) {
            return Err(AuthError::EmailDomainNotAllowed);
        }
        Ok(())
    }

    /// The parsed `redirect_to` if a link may lead there (see [`allowed_redirect`]).
    pub fn allowed_redirect(&self, redirect_to: &str) -> Option<Url> {
        allowed_redirect(redirect_to, &self.allowed_redirects, &self.public_url)
    }

    /// The redirect a request asked for, if allowed; without one, the first allowed
    /// redirect URL or the public URL.
    pub fn redirect_target(&self, redirect_to: Option<&str>) -> Result<String, AuthError> {
        match redirect_to {
            Some(to) => self
                .allowed_redirect(to)
                .map(|u| u.to_string())
                .ok_or(AuthError::RedirectNotAllowed),
            None => Ok(self
                .allowed_redirects
                .first()
                .cloned()
                .unwrap_or_else(|| self.public_url.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str], blocked: &[&str], redirects: &[&str]) -> SignUpPolicy {
        let strings = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        SignUpPolicy::new(
            &AccountConfig {
                allowed_email_domains: strings(allowed),
                blocked_email_domains: strings(blocked),
                require_email_verification: false,
                disable_signup: false,
                roles: RoleConfig {
                    default_role: "user".into(),
                    allowed_roles: vec!["user".into()],
                },
                allowed_redirect_urls: strings(redirects),
            },
            &Url::parse("https://id.example.com").unwrap(),
        )
    }

    #[test]
    fn domains_are_allowed_by_the_lists() {
        let open = policy(&[], &["spam.test"], &[]);
        assert!(open.check_domain("a@example.com").is_ok());
        assert!(open.check_domain("a@spam.test").is_err());
        let closed = policy(&["example.com"], &[], &[]);
        assert!(closed.check_domain("a@example.com").is_ok());
        assert!(closed.check_domain("a@sub.example.com").is_err());
    }

    #[test]
    fn a_redirect_defaults_to_the_first_allowed_one_or_the_public_url() {
        let listed = policy(&[], &[], &["https://app.example.com/cb"]);
        assert_eq!(
            listed.redirect_target(None).unwrap(),
            "https://app.example.com/cb"
        );
        assert!(listed.redirect_target(Some("https://evil.test/")).is_err());
        let unlisted = policy(&[], &[], &[]);
        assert_eq!(
            unlisted.redirect_target(None).unwrap(),
            "https://id.example.com/"
        );
    }
}
