//! Cookie transport for browser apps (the README's browser section).
//!
//! Three cookies: the access token (`tessera-token`, HttpOnly, `Path=/`), the refresh token
//! (`tessera-refresh-token`, HttpOnly, `Path=<base>/token`, so the browser sends it only to
//! the refresh endpoints) and a hint (`tessera-session`, readable by scripts and SSR code:
//! "a session may exist"). With Secure and no Domain, the access cookie is `__Host-` and the
//! refresh cookie `__Secure-` prefixed, which browsers enforce.
//!
//! A fourth, the device cookie (`tessera-device`, HttpOnly, `Path=<base>/signin`, host-only),
//! is set by every successful password sign-in and sign-up whatever the transport, and is
//! never cleared by sign-out: it tells a later sign-in that this client has known the
//! account's password ([`crate::domain::devices`]).

use axum::http::HeaderMap;
use tessera_verify::{ACCESS_COOKIE, UNPREFIXED_ACCESS_COOKIE};
use time::Duration;
use tower_cookies::cookie::SameSite as CookieSameSite;
use tower_cookies::{Cookie, Cookies};
use utoipa::ToSchema;

use crate::config::{AuthMode, Config, SameSite};
use crate::domain::sessions::IssuedSession;

/// The request header that chooses cookie transport.
pub const AUTH_MODE_HEADER: &str = "tessera-auth-mode";

/// The values of `tessera-auth-mode` (OpenAPI document): `cookie` asks for cookie
/// transport, `bearer` for tokens in the body; absent, `TESSERA_DEFAULT_AUTH_MODE` applies.
/// Matched case-insensitively; any other value means the default.
#[derive(ToSchema)]
#[schema(as = AuthMode, rename_all = "lowercase")]
#[allow(dead_code)]
pub enum AuthModeHeader {
    Bearer,
    Cookie,
}

/// The refresh cookie's name when Secure and without Domain. The access cookie's names are
/// the verifier crate's ([`ACCESS_COOKIE`], [`UNPREFIXED_ACCESS_COOKIE`]): services that
/// verify tokens read that cookie, none reads this one.
pub const REFRESH_COOKIE: &str = "__Secure-tessera-refresh-token";
/// The refresh cookie's name otherwise (with `TESSERA_COOKIE_DOMAIN` or
/// `TESSERA_COOKIE_SECURE=false`).
pub const UNPREFIXED_REFRESH_COOKIE: &str = "tessera-refresh-token";
/// The hint cookie's name (never prefixed: pages look for it by this name).
pub const HINT_COOKIE: &str = "tessera-session";
/// The device cookie's name (docs/security.md, device cookies).
pub const DEVICE_COOKIE: &str = "tessera-device";
/// The same device cookie for the OpenID provider's shipped sign-in page (`<base>/oauth2/ui`),
/// which the sign-in routes' path never reaches.
pub const PAGES_DEVICE_COOKIE: &str = "tessera-device-pages";
/// Binds a sign-in at a provider to the browser that began it (see `domain::providers`).
pub const PROVIDER_FLOW_COOKIE: &str = "tessera-provider-flow";
/// Binds an OAuth authorization request to the browser that began it (the shipped login
/// and consent pages act only for that browser).
pub const OAUTH2_BROWSER_COOKIE: &str = "tessera-oauth2-browser";
/// The same with Secure: `__Host-` (no Domain, `Path=/`), so that no sibling host can plant a
/// value of its own choosing (cookie tossing) and have a request of theirs pass for this
/// browser's.
pub const HOST_OAUTH2_BROWSER_COOKIE: &str = "__Host-tessera-oauth2-browser";

/// Names and attributes of Tessera's cookies, derived from the configuration.
pub struct CookiePolicy {
    pub access_name: &'static str,
    pub refresh_name: &'static str,
    refresh_path: String,
    signin_path: String,
    provider_path: String,
    oauth2_path: String,
    pages_path: String,
    domain: Option<String>,
    secure: bool,
    same_site: CookieSameSite,
    pub expose_access_token: bool,
}

impl CookiePolicy {
    /// The policy for this configuration.
    pub fn new(config: &Config) -> Self {
        let cookies = &config.cookies;
        let prefixed = cookies.secure && cookies.domain.is_none();
        Self {
            access_name: if prefixed {
                ACCESS_COOKIE
            } else {
                UNPREFIXED_ACCESS_COOKIE
            },
            refresh_name: if prefixed {
                REFRESH_COOKIE
            } else {
                UNPREFIXED_REFRESH_COOKIE
            },
            refresh_path: format!("{}/token", config.server.base_path()),
            signin_path: format!("{}/signin", config.server.base_path()),
            provider_path: format!("{}/signin/provider", config.server.base_path()),
            oauth2_path: format!("{}/oauth2", config.server.base_path()),
            pages_path: format!("{}/oauth2/ui", config.server.base_path()),
            domain: cookies.domain.clone(),
            secure: cookies.secure,
            same_site: match cookies.same_site {
                SameSite::Strict => CookieSameSite::Strict,
                SameSite::Lax => CookieSameSite::Lax,
                SameSite::None => CookieSameSite::None,
            },
            expose_access_token: cookies.expose_access_token,
        }
    }

    fn cookie(
        &self,
        name: &'static str,
        value: String,
        path: String,
        http_only: bool,
        max_age: Duration,
    ) -> Cookie<'static> {
        let mut cookie = Cookie::build((name, value))
            .path(path)
            .http_only(http_only)
            .secure(self.secure)
            .same_site(self.same_site)
            .max_age(max_age);
        if let Some(domain) = &self.domain {
            cookie = cookie.domain(domain.clone());
        }
        cookie.build()
    }

    /// Sets the three cookies for a session; Max-Age is the session's remaining lifetime
    /// (the refresh TTL, or less near an absolute cap), rewritten at every rotation.
    pub fn set_session(
        &self,
        cookies: &Cookies,
        session: &IssuedSession,
        now: time::OffsetDateTime,
    ) {
        let max_age = (session.expires_at - now).max(Duration::ZERO);
        let access = self.cookie(
            self.access_name,
            session.access_token.clone(),
            "/".into(),
            true,
            max_age,
        );
        let refresh = self.cookie(
            self.refresh_name,
            session.refresh_token.clone(),
            self.refresh_path.clone(),
            true,
            max_age,
        );
        let hint = self.cookie(HINT_COOKIE, "1".into(), "/".into(), false, max_age);
        for cookie in [access, refresh, hint] {
            cookies.add(cookie);
        }
    }

    /// Replaces the access cookie alone (a step-up: the refresh cookie and the session stay).
    pub fn set_access(&self, cookies: &Cookies, access_token: String, max_age: Duration) {
        cookies.add(self.cookie(self.access_name, access_token, "/".into(), true, max_age));
    }

    /// Clears all three cookies: same names, paths and domain, empty, `Max-Age=0`. Sent
    /// whether or not the request carried them (the refresh cookie never reaches /signout).
    pub fn clear(&self, cookies: &Cookies) {
        let gone = [
            (self.access_name, "/".to_owned(), true),
            (self.refresh_name, self.refresh_path.clone(), true),
            (HINT_COOKIE, "/".to_owned(), false),
        ];
        for (name, path, http_only) in gone {
            let mut cookie = self.cookie(name, String::new(), path, http_only, Duration::ZERO);
            cookie.set_expires(time::OffsetDateTime::UNIX_EPOCH);
            cookies.add(cookie);
        }
    }

    /// Sets the device cookie: sent back to the sign-in routes only, never to a sibling
    /// host (no Domain: only Tessera reads it), kept for `max_age`.
    pub fn set_device(&self, cookies: &Cookies, value: String, max_age: std::time::Duration) {
        let max_age = Duration::try_from(max_age).unwrap_or(Duration::MAX);
        let cookie = Cookie::build((DEVICE_COOKIE, value))
            .path(self.signin_path.clone())
            .http_only(true)
            .secure(self.secure)
            .same_site(self.same_site)
            .max_age(max_age);
        cookies.add(cookie.build());
    }

    /// Sets the device cookie of the shipped sign-in page: the same value and attributes as
    /// [`Self::set_device`], sent back to `<base>/oauth2/ui` only.
    pub fn set_pages_device(&self, cookies: &Cookies, value: String, max_age: std::time::Duration) {
        let max_age = Duration::try_from(max_age).unwrap_or(Duration::MAX);
        let cookie = Cookie::build((PAGES_DEVICE_COOKIE, value))
            .path(self.pages_path.clone())
            .http_only(true)
            .secure(self.secure)
            .same_site(self.same_site)
            .max_age(max_age);
        cookies.add(cookie.build());
    }

    /// Sets the cookie that binds a provider flow to this browser: SameSite=Lax whatever
    /// `TESSERA_COOKIE_SAME_SITE` says (the provider's redirect back is cross-site, and a
    /// Strict cookie would not come with it), sent only to the provider routes.
    pub fn set_provider_flow(
        &self,
        cookies: &Cookies,
        value: String,
        max_age: std::time::Duration,
    ) {
        let max_age = Duration::try_from(max_age).unwrap_or(Duration::MAX);
        let cookie = Cookie::build((PROVIDER_FLOW_COOKIE, value))
            .path(self.provider_path.clone())
            .http_only(true)
            .secure(self.secure)
            .same_site(CookieSameSite::Lax)
            .max_age(max_age);
        cookies.add(cookie.build());
    }

    /// Sets the cookie that binds OAuth authorization requests to this browser: SameSite=Lax
    /// (it must come with the app's cross-site redirect to `/oauth2/authorize` and the
    /// login page after it, and never with a cross-site form post). With Secure it is a
    /// `__Host-` cookie (no sibling host can set it); without, it is sent only to
    /// `<base>/oauth2`.
    pub fn set_oauth2_browser(
        &self,
        cookies: &Cookies,
        value: String,
        max_age: std::time::Duration,
    ) {
        let max_age = Duration::try_from(max_age).unwrap_or(Duration::MAX);
        let (name, path) = self.oauth2_browser_cookie();
        let cookie = Cookie::build((name, value))
            .path(path)
            .http_only(true)
            .secure(self.secure)
            .same_site(CookieSameSite::Lax)
            .max_age(max_age);
        cookies.add(cookie.build());
    }

    /// The OAuth browser-binding cookie this browser sent, if any.
    pub fn oauth2_browser(&self, headers: &HeaderMap) -> Option<String> {
        raw_cookie_values(headers, self.oauth2_browser_cookie().0)
            .into_iter()
            .next()
    }

    /// The browser-binding cookie's name and path: `__Host-` at `/` when Secure (its prefix
    /// demands both), else plain and only sent to `<base>/oauth2`.
    fn oauth2_browser_cookie(&self) -> (&'static str, String) {
        if self.secure {
            (HOST_OAUTH2_BROWSER_COOKIE, "/".to_owned())
        } else {
            (OAUTH2_BROWSER_COOKIE, self.oauth2_path.clone())
        }
    }

    /// The access token from its cookie.
    pub fn access_token(&self, headers: &HeaderMap) -> Option<String> {
        raw_cookie_values(headers, self.access_name)
            .into_iter()
            .next()
    }

    /// The refresh token from its cookie.
    pub fn refresh_token(&self, headers: &HeaderMap) -> Option<String> {
        raw_cookie_values(headers, self.refresh_name)
            .into_iter()
            .next()
    }

    /// Whether a Cookie header carries one of the credential cookies (such a request is
    /// subject to the CSRF checks when it changes state). Reads the same pairs as
    /// [`Self::access_token`] and [`Self::refresh_token`], so the gate and the readers
    /// can never disagree about what a request carries.
    pub fn carries_credentials(&self, headers: &HeaderMap) -> bool {
        cookie_pairs(headers).any(|(name, _)| name == self.access_name || name == self.refresh_name)
    }
}

/// Every `name=value` pair of the request's `Cookie` headers, as sent: names are never
/// percent-decoded nor case-folded (a browser gives `%5F%5FHost-...` none of the `__Host-`
/// prefix's protection, so it must never be read as that cookie). The one parser behind
/// every cookie Tessera reads.
fn cookie_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.trim(), value.trim().trim_matches('"')))
}

/// The values of every cookie in the request's `Cookie` headers whose name is exactly
/// `name`: compared byte for byte, and the value taken as sent (a browser can hold several
/// cookies of one name, for different paths; it sends the most specific first).
pub fn raw_cookie_values(headers: &HeaderMap, name: &str) -> Vec<String> {
    cookie_pairs(headers)
        .filter(|(n, value)| *n == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
        .collect()
}

/// The transport a request asked for with `tessera-auth-mode`, or the default.
pub fn requested_mode(headers: &HeaderMap, default: AuthMode) -> AuthMode {
    match headers
        .get(AUTH_MODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("cookie") => AuthMode::Cookie,
        Some("bearer") => AuthMode::Bearer,
        _ => default,
    }
}
