//! The passkey section: who the relying party is and which origins may finish a ceremony.

use std::time::Duration;

use url::Url;

use super::ConfigError;
use super::server::ServerConfig;
use super::source::{Source, error, positive_duration};
use super::values;

/// `TESSERA_WEBAUTHN_RP_ID`, `TESSERA_WEBAUTHN_RP_NAME`, `TESSERA_WEBAUTHN_ORIGINS`,
/// `TESSERA_WEBAUTHN_TIMEOUT`.
#[derive(Debug, Clone)]
pub struct WebauthnConfig {
    /// The relying party id: the domain passkeys are bound to (default: the public URL's
    /// host). An authenticator offers a passkey only to pages of this domain or below it.
    /// `None` (passkeys off) when it is not set and the public URL's host is an IP address.
    pub rp_id: Option<String>,
    /// The name an authenticator shows for the site.
    pub rp_name: String,
    /// The origins a ceremony may come from: web origins (`https://app.example.com`) and
    /// Android apps (`android:apk-key-hash:...`). An iOS app signs in with the web origin
    /// of its associated domain.
    pub origins: Vec<Url>,
    /// How long a ceremony's challenge can be answered.
    pub timeout: Duration,
}

impl WebauthnConfig {
    pub(super) fn parse(env: &Source<'_>, server: &ServerConfig) -> Result<Self, ConfigError> {
        let explicit_rp_id = env.optional("TESSERA_WEBAUTHN_RP_ID", "example.com", parse_rp_id)?;
        // A public URL on an IP address gives no default: browsers refuse an IP as a
        // relying party id, so passkeys stay off until one is set.
        let rp_id = explicit_rp_id
            .clone()
            .or_else(|| match server.public_url.host() {
                Some(url::Host::Domain(domain)) => Some(domain.to_owned()),
                _ => None,
            });
        let listed = env.optional(
            "TESSERA_WEBAUTHN_ORIGINS",
            "https://app.example.com,android:apk-key-hash:Kw8...",
            |raw| {
                values::list(raw)
                    .iter()
                    .map(|o| parse_origin(o))
                    .collect::<Result<Vec<_>, _>>()
            },
        )?;
        let origins = match (&listed, &rp_id) {
            (Some(origins), Some(rp_id)) => {
                if let Some(outside) = origins.iter().find(|o| !usable_with(o, rp_id)) {
                    return Err(error(
                        "TESSERA_WEBAUTHN_ORIGINS",
                        format!(
                            "has {outside}, whose host is neither the relying party id {rp_id:?} (TESSERA_WEBAUTHN_RP_ID) nor below it, so no browser would offer a passkey there"
                        ),
                        "https://app.example.com",
                    ));
                }
                origins.clone()
            }
            (Some(origins), None) => origins.clone(),
            // The default: the public origin and the allowed origins that can use passkeys
            // of this relying party id (CORS may allow others, for other purposes).
            (None, Some(rp_id)) => std::iter::once(server.public_origin())
                .chain(server.allowed_origins.iter().cloned())
                .filter_map(|origin| Url::parse(&origin).ok())
                .filter(|origin| usable_with(origin, rp_id))
                .collect(),
            (None, None) => Vec::new(),
        };
        if rp_id.is_some() && !origins.iter().any(|o| o.domain().is_some()) {
            return Err(error(
                "TESSERA_WEBAUTHN_ORIGINS",
                "lists no web origin (https://host or http://localhost) under the relying party id",
                "https://app.example.com",
            ));
        }
        Ok(Self {
            rp_id,
            rp_name: env.parsed(
                "TESSERA_WEBAUTHN_RP_NAME",
                "Example",
                "Tessera".to_owned(),
                |raw| {
                    if raw.chars().count() > 64 || raw.chars().any(char::is_control) {
                        Err("is longer than 64 characters or holds control characters".into())
                    } else {
                        Ok(raw.to_owned())
                    }
                },
            )?,
            origins,
            timeout: env.parsed(
                "TESSERA_WEBAUTHN_TIMEOUT",
                "5m",
                Duration::from_secs(300),
                positive_duration,
            )?,
        })
    }
}

/// Whether a ceremony from `origin` can be of relying party `rp_id`: an app origin
/// (`android:...`) always, a web origin when its host is `rp_id` or below it.
fn usable_with(origin: &Url, rp_id: &str) -> bool {
    match origin.scheme() {
        "http" | "https" => origin.domain().is_some_and(|host| within(host, rp_id)),
        _ => true,
    }
}

/// Whether `host` is `domain` or below it.
fn within(host: &str, domain: &str) -> bool {
    host == domain || host.ends_with(&format!(".{domain}"))
}

fn parse_rp_id(raw: &str) -> Result<String, String> {
    let host = url::Host::parse(raw).map_err(|_| "is not a domain name".to_string())?;
    match host {
        url::Host::Domain(domain) if domain == raw.to_ascii_lowercase() => Ok(domain),
        url::Host::Domain(_) => {
            Err("must be a lower-case domain name (no scheme, port or path)".into())
        }
        _ => Err("is an IP address; a relying party id must be a domain name".into()),
    }
}

fn parse_origin(raw: &str) -> Result<Url, String> {
    if let Some(hash) = raw.strip_prefix("android:apk-key-hash:") {
        let valid = !hash.is_empty()
            && hash
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '='));
        return match valid.then(|| Url::parse(raw)) {
            Some(Ok(url)) => Ok(url),
            _ => Err(format!(
                "has `{raw}`, which is not an android:apk-key-hash origin"
            )),
        };
    }
    let url = Url::parse(raw).map_err(|_| format!("has `{raw}`, which is not an origin"))?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || origin != raw.trim_end_matches('/') {
        return Err(format!(
            "has `{raw}`, which is not an origin (scheme://host[:port], no path) nor android:apk-key-hash:..."
        ));
    }
    Url::parse(&origin).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use crate::config::{Config, ConfigError};

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&move |var| map.get(var).cloned())
    }
    #[test]
    fn passkeys_default_to_the_public_url_and_the_allowed_origins_under_it() {
        let config = config(&[
            ("TESSERA_PUBLIC_URL", "https://auth.example.com"),
            (
                "TESSERA_ALLOWED_ORIGINS",
                "https://app.example.com,https://other.test",
            ),
            ("TESSERA_WEBAUTHN_RP_ID", "example.com"),
        ])
        .unwrap();
        let origins: Vec<String> = config
            .webauthn
            .origins
            .iter()
            .map(|o| o.to_string())
            .collect();
        // other.test cannot use passkeys of example.com: CORS may allow it, passkeys never.
        assert_eq!(
            origins,
            ["https://auth.example.com/", "https://app.example.com/"]
        );
        assert_eq!(config.webauthn.rp_id.as_deref(), Some("example.com"));
        assert_eq!(config.webauthn.timeout, Duration::from_secs(300));
        let default = crate::config::Config::from_lookup(&|_| None).unwrap();
        assert_eq!(default.webauthn.rp_id.as_deref(), Some("localhost"));
        assert_eq!(default.webauthn.rp_name, "Tessera");
    }

    #[test]
    fn passkeys_are_off_on_an_ip_address_until_a_relying_party_is_named() {
        let ip = config(&[("TESSERA_PUBLIC_URL", "http://127.0.0.1:4000")]).unwrap();
        assert_eq!(ip.webauthn.rp_id, None);
        let named = config(&[
            ("TESSERA_PUBLIC_URL", "http://127.0.0.1:4000"),
            ("TESSERA_WEBAUTHN_RP_ID", "localhost"),
            ("TESSERA_WEBAUTHN_ORIGINS", "http://localhost:3000"),
        ])
        .unwrap();
        assert_eq!(named.webauthn.rp_id.as_deref(), Some("localhost"));
    }

    #[test]
    fn passkey_settings_that_no_browser_could_use_are_refused_at_start_up() {
        for (vars, var) in [
            (
                vec![("TESSERA_WEBAUTHN_RP_ID", "https://example.com")],
                "TESSERA_WEBAUTHN_RP_ID",
            ),
            (
                vec![("TESSERA_WEBAUTHN_RP_ID", "10.0.0.1")],
                "TESSERA_WEBAUTHN_RP_ID",
            ),
            (
                vec![
                    ("TESSERA_WEBAUTHN_RP_ID", "example.com"),
                    ("TESSERA_WEBAUTHN_ORIGINS", "https://evil.test"),
                ],
                "TESSERA_WEBAUTHN_ORIGINS",
            ),
            (
                vec![("TESSERA_WEBAUTHN_ORIGINS", "https://localhost/path")],
                "TESSERA_WEBAUTHN_ORIGINS",
            ),
            (
                vec![("TESSERA_WEBAUTHN_ORIGINS", "android:apk-key-hash:")],
                "TESSERA_WEBAUTHN_ORIGINS",
            ),
            (
                vec![("TESSERA_WEBAUTHN_TIMEOUT", "0s")],
                "TESSERA_WEBAUTHN_TIMEOUT",
            ),
        ] {
            let err = config(&vars).unwrap_err();
            assert!(err.to_string().contains(var), "{vars:?}: {err}");
        }
        let app = config(&[(
            "TESSERA_WEBAUTHN_ORIGINS",
            "http://localhost:3000,android:apk-key-hash:Kw8-Zl2_abc",
        )])
        .unwrap();
        assert_eq!(app.webauthn.origins.len(), 2);
    }
}
