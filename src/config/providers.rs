//! The social and enterprise sign-in section: OpenID Connect providers, named by the
//! operator (`TESSERA_OIDC_<NAME>_ISSUER`, `..._CLIENT_ID`, `..._CLIENT_SECRET`,
//! `..._SCOPES`, `..._RESPONSE_MODE`), and GitHub (`TESSERA_GITHUB_CLIENT_ID`,
//! `TESSERA_GITHUB_CLIENT_SECRET`, `TESSERA_GITHUB_URL`, `TESSERA_GITHUB_API_URL`).

use std::borrow::Cow;

use secrecy::SecretString;
use url::Url;

use super::ConfigError;
use super::source::{Source, error, is_secret};

/// The prefix of every OpenID Connect provider's variables.
const OIDC_PREFIX: &str = "TESSERA_OIDC_";
/// The settings of one OpenID Connect provider, by the suffix of their variables.
const OIDC_SETTINGS: [&str; 5] = [
    "_ISSUER",
    "_CLIENT_ID",
    "_CLIENT_SECRET",
    "_SCOPES",
    "_RESPONSE_MODE",
];
/// The provider name GitHub's settings use; no OpenID Connect provider may take it.
pub const GITHUB: &str = "github";

/// Every configured provider.
#[derive(Debug, Clone, Default)]
pub struct ProvidersConfig {
    /// OpenID Connect providers, by name.
    pub oidc: Vec<OidcProviderConfig>,
    /// GitHub's OAuth 2.0 (not OpenID Connect), when its client is configured.
    pub github: Option<GithubConfig>,
}

/// How a provider sends its answer back to the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    /// In the query of a redirect (`GET .../callback`).
    Query,
    /// In a form the browser posts (`POST .../callback`): Apple, when asked for name or email.
    FormPost,
}

/// One OpenID Connect provider.
#[derive(Debug, Clone)]
pub struct OidcProviderConfig {
    /// Lowercase letters, digits and `-`: the `{provider}` of the routes.
    pub name: String,
    /// The issuer exactly as the provider's discovery document states it; discovery is read
    /// from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Asked of the provider; always includes `openid`.
    pub scopes: Vec<String>,
    pub response_mode: ResponseMode,
}

/// GitHub, or a GitHub Enterprise Server.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Where the browser signs in (`https://github.com`).
    pub web_url: Url,
    /// The REST API (`https://api.github.com`).
    pub api_url: Url,
}

impl ProvidersConfig {
    pub(super) fn parse(env: &Source<'_>) -> Result<Self, ConfigError> {
        let mut oidc = Vec::new();
        for upper in provider_names(env)? {
            oidc.push(OidcProviderConfig::parse(env, &upper)?);
        }
        oidc.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            oidc,
            github: GithubConfig::parse(env)?,
        })
    }

    /// The names of every configured provider, GitHub's included.
    pub fn names(&self) -> Vec<&str> {
        let github = self.github.as_ref().map(|_| GITHUB);
        self.oidc
            .iter()
            .map(|p| p.name.as_str())
            .chain(github)
            .collect()
    }
}

/// The `<NAME>`s of the `TESSERA_OIDC_<NAME>_...` variables set; a variable of that prefix
/// that is none of a provider's settings is refused (a typo would otherwise be ignored).
fn provider_names(env: &Source<'_>) -> Result<Vec<String>, ConfigError> {
    let mut names = Vec::new();
    for var in env.names.iter().filter(|v| v.starts_with(OIDC_PREFIX)) {
        if env.raw(var).is_none() {
            continue;
        }
        let rest = &var[OIDC_PREFIX.len()..];
        let Some(upper) = OIDC_SETTINGS
            .iter()
            .find_map(|suffix| rest.strip_suffix(suffix).filter(|n| !n.is_empty()))
        else {
            return Err(named_error(
                var,
                "is not a provider setting (each provider has _ISSUER, _CLIENT_ID, _CLIENT_SECRET, _SCOPES, _RESPONSE_MODE)",
                "https://accounts.google.com",
            ));
        };
        if !names.iter().any(|n| n == upper) {
            names.push(upper.to_owned());
        }
    }
    Ok(names)
}

impl OidcProviderConfig {
    fn parse(env: &Source<'_>, upper: &str) -> Result<Self, ConfigError> {
        let var = |setting: &str| format!("{OIDC_PREFIX}{upper}{setting}");
        let name = upper.to_ascii_lowercase().replace('_', "-");
        let well_formed = upper
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !well_formed || name == GITHUB {
            return Err(named_error(
                &var("_ISSUER"),
                "names no usable provider: the name is upper-case letters, digits and _, and github is configured by TESSERA_GITHUB_CLIENT_ID",
                "https://accounts.google.com",
            ));
        }
        let required = |setting: &str| {
            let var = var(setting);
            env.raw(&var)
                .map(|v| v.trim().to_owned())
                .ok_or_else(|| named_error(&var, "is required for this provider", "..."))
        };
        let issuer = required("_ISSUER")?;
        check_url(&issuer).map_err(|problem| {
            named_error(&var("_ISSUER"), &problem, "https://accounts.google.com")
        })?;
        let scopes: Vec<String> = match env.raw(&var("_SCOPES")) {
            Some(raw) => raw
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            None => ["openid", "email", "profile"].map(str::to_owned).to_vec(),
        };
        if !scopes.iter().any(|s| s == "openid") {
            return Err(named_error(
                &var("_SCOPES"),
                "lacks openid: without it the provider sends no ID token",
                "openid email profile",
            ));
        }
        let response_mode = match env.raw(&var("_RESPONSE_MODE")).as_deref().map(str::trim) {
            None | Some("query") => ResponseMode::Query,
            Some("form_post") => ResponseMode::FormPost,
            Some(_) => {
                return Err(named_error(
                    &var("_RESPONSE_MODE"),
                    "is neither query nor form_post",
                    "form_post",
                ));
            }
        };
        Ok(Self {
            name,
            issuer,
            client_id: required("_CLIENT_ID")?,
            client_secret: SecretString::from(required("_CLIENT_SECRET")?),
            scopes,
            response_mode,
        })
    }
}

impl GithubConfig {
    fn parse(env: &Source<'_>) -> Result<Option<Self>, ConfigError> {
        let url = |var: &'static str, default: &str| {
            let raw = env.raw(var).unwrap_or_else(|| default.to_owned());
            let raw = raw.trim().trim_end_matches('/');
            check_url(raw)
                .and_then(|()| Url::parse(raw).map_err(|e| e.to_string()))
                .map_err(|problem| error(var, problem, "https://github.example.com"))
        };
        let web_url = url("TESSERA_GITHUB_URL", "https://github.com")?;
        let api_url = url("TESSERA_GITHUB_API_URL", "https://api.github.com")?;
        let id = env.raw("TESSERA_GITHUB_CLIENT_ID");
        let secret = env.raw("TESSERA_GITHUB_CLIENT_SECRET");
        match (id, secret) {
            (None, None) => Ok(None),
            (Some(client_id), Some(secret)) => Ok(Some(Self {
                client_id: client_id.trim().to_owned(),
                client_secret: SecretString::from(secret.trim().to_owned()),
                web_url,
                api_url,
            })),
            (None, Some(_)) => Err(error(
                "TESSERA_GITHUB_CLIENT_ID",
                "is required with TESSERA_GITHUB_CLIENT_SECRET",
                "Iv1.0123456789abcdef",
            )),
            (Some(_), None) => Err(error(
                "TESSERA_GITHUB_CLIENT_SECRET",
                "is required with TESSERA_GITHUB_CLIENT_ID",
                "(the OAuth app's client secret)",
            )),
        }
    }
}

/// A provider's URL: `https`, or `http` on a loopback host only (development and tests:
/// anything else would send the client secret and the user's code in clear).
fn check_url(raw: &str) -> Result<(), String> {
    let url = Url::parse(raw).map_err(|e| format!("is not a URL ({e})"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err("is http on a host other than loopback: use https".into()),
        _ => return Err("is not an https URL".into()),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("has a query or a fragment".into());
    }
    Ok(())
}

/// A [`ConfigError`] for a variable whose name is made at run time.
fn named_error(var: &str, problem: &str, example: &'static str) -> ConfigError {
    debug_assert!(!is_secret(var) || !problem.contains('='));
    ConfigError {
        var: Cow::Owned(var.to_owned()),
        problem: problem.to_owned(),
        example,
    }
}
