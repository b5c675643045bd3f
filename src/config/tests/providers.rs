//! The provider section: names made from variables, and what it refuses.

use super::*;
use crate::config::ResponseMode;

fn config_with_names(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let names: Vec<String> = map.keys().cloned().collect();
    Config::from_lookup_and_names(&move |var| map.get(var).cloned(), &names)
}

#[test]
fn a_provider_is_named_by_its_variables() {
    let config = config_with_names(&[
        (
            "TESSERA_OIDC_MY_IDP_ISSUER",
            "https://idp.example.com/realms/a",
        ),
        ("TESSERA_OIDC_MY_IDP_CLIENT_ID", "tessera"),
        ("TESSERA_OIDC_MY_IDP_CLIENT_SECRET", "s3cret"),
    ])
    .unwrap();
    let [provider] = config.providers.oidc.as_slice() else {
        panic!("one provider: {:?}", config.providers);
    };
    assert_eq!(provider.name, "my-idp");
    assert_eq!(provider.issuer, "https://idp.example.com/realms/a");
    assert_eq!(provider.scopes, ["openid", "email", "profile"]);
    assert_eq!(provider.response_mode, ResponseMode::Query);
    assert_eq!(provider.client_secret.expose_secret(), "s3cret");
    assert_eq!(config.providers.names(), ["my-idp"]);
}

#[test]
fn an_incomplete_or_unsafe_provider_is_refused_by_name() {
    let base = [
        ("TESSERA_OIDC_ACME_ISSUER", "https://idp.example.com"),
        ("TESSERA_OIDC_ACME_CLIENT_ID", "tessera"),
        ("TESSERA_OIDC_ACME_CLIENT_SECRET", "s3cret-value"),
    ];
    let with = |var: &'static str, value: &'static str| {
        let mut vars: Vec<_> = base.iter().filter(|(v, _)| *v != var).copied().collect();
        if !value.is_empty() {
            vars.push((var, value));
        }
        config_with_names(&vars).unwrap_err()
    };
    for (var, value) in [
        ("TESSERA_OIDC_ACME_CLIENT_SECRET", ""),
        ("TESSERA_OIDC_ACME_CLIENT_ID", ""),
        ("TESSERA_OIDC_ACME_ISSUER", "http://idp.example.com"),
        ("TESSERA_OIDC_ACME_ISSUER", "ftp://idp.example.com"),
        ("TESSERA_OIDC_ACME_SCOPES", "email profile"),
        ("TESSERA_OIDC_ACME_RESPONSE_MODE", "fragment"),
        ("TESSERA_OIDC_ACME_CLIENTID", "typo"),
    ] {
        let err = with(var, value);
        assert_eq!(err.var, var, "{err}");
        assert!(!err.to_string().contains("s3cret-value"), "{err}");
    }
    let loopback = config_with_names(&[
        ("TESSERA_OIDC_DEV_ISSUER", "http://127.0.0.1:8080"),
        ("TESSERA_OIDC_DEV_CLIENT_ID", "tessera"),
        ("TESSERA_OIDC_DEV_CLIENT_SECRET", "s3cret"),
    ]);
    assert!(loopback.is_ok(), "an http issuer on loopback is for tests");
    let github = config_with_names(&[
        ("TESSERA_OIDC_GITHUB_ISSUER", "https://github.com"),
        ("TESSERA_OIDC_GITHUB_CLIENT_ID", "x"),
        ("TESSERA_OIDC_GITHUB_CLIENT_SECRET", "y"),
    ]);
    assert!(github.is_err(), "github is configured by its own variables");
}

#[test]
fn github_needs_both_client_settings_and_defaults_to_github_com() {
    assert!(config_with_names(&[]).unwrap().providers.github.is_none());
    let err = config_with_names(&[("TESSERA_GITHUB_CLIENT_ID", "Iv1.x")]).unwrap_err();
    assert_eq!(err.var, "TESSERA_GITHUB_CLIENT_SECRET");
    let github = config_with_names(&[
        ("TESSERA_GITHUB_CLIENT_ID", "Iv1.x"),
        ("TESSERA_GITHUB_CLIENT_SECRET", "secret"),
    ])
    .unwrap()
    .providers
    .github
    .unwrap();
    assert_eq!(github.web_url.as_str(), "https://github.com/");
    assert_eq!(github.api_url.as_str(), "https://api.github.com/");
    let err = config_with_names(&[("TESSERA_GITHUB_API_URL", "http://ghe.example.com/api/v3")])
        .unwrap_err();
    assert_eq!(err.var, "TESSERA_GITHUB_API_URL");
}
