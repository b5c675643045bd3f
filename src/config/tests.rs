//! Configuration parsing, variable by variable.
use super::*;
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(&move |var| map.get(var).cloned())
}

#[test]
fn defaults_are_the_documented_ones() {
    let config = config(&[]).unwrap();
    assert!(
        matches!(config.database.location, Database::Sqlite(ref p) if p == &PathBuf::from("data/tessera.db"))
    );
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:4000");
    assert_eq!(config.tokens.issuer, "http://localhost:4000");
    assert_eq!(config.tokens.audience, "tessera");
    assert_eq!(config.tokens.access_token_ttl, Duration::from_secs(3600));
    assert_eq!(
        config.sessions.refresh_token_ttl,
        Duration::from_secs(30 * 86_400)
    );
    assert_eq!(config.sessions.refresh_reuse_grace, Duration::from_secs(30));
    assert_eq!(config.sessions.session_cache_size, 50_000);
    assert_eq!(config.cookies.same_site, SameSite::Strict);
    assert_eq!(config.server.max_body_bytes, 65_536);
    assert_eq!(config.server.base_path(), "");
}

#[test]
fn the_session_cache_size_may_be_zero_but_not_nonsense() {
    let off = config(&[("TESSERA_SESSION_CACHE_SIZE", "0")]).unwrap();
    assert_eq!(off.sessions.session_cache_size, 0);
    let err = config(&[("TESSERA_SESSION_CACHE_SIZE", "-1")]).unwrap_err();
    assert!(
        err.to_string().contains("TESSERA_SESSION_CACHE_SIZE=50000"),
        "{err}"
    );
}

#[test]
fn errors_name_the_variable_and_give_an_example() {
    let err = config(&[("TESSERA_ACCESS_TOKEN_TTL", "abc")]).unwrap_err();
    let line = err.to_string();
    assert!(line.contains("TESSERA_ACCESS_TOKEN_TTL"), "{line}");
    assert!(line.contains("\"abc\""), "{line}");
    assert!(line.contains("TESSERA_ACCESS_TOKEN_TTL=1h"), "{line}");
    assert!(!line.contains('\n'));
}

#[test]
fn secrets_are_never_echoed() {
    let err = config(&[("TESSERA_ADMIN_SECRET", "hunter2")]).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = config(&[("DATABASE_URL", "mysql://root:s3cret@db/x")]).unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let err = config(&[("TESSERA_KEY_ENCRYPTION_KEY", "tooshortsecret")]).unwrap_err();
    assert!(!err.to_string().contains("tooshortsecret"), "{err}");
    let err = config(&[("TESSERA_METRICS_TOKEN", "shortmetrics")]).unwrap_err();
    assert!(!err.to_string().contains("shortmetrics"), "{err}");
}

#[test]
fn connection_settings_parse_and_refuse_nonsense() {
    let defaults = config(&[]).unwrap();
    assert_eq!(defaults.server.connections.idle_timeout.as_secs(), 75);
    assert!((64..=10_000).contains(&defaults.server.connections.max_connections));
    let set = config(&[
        ("TESSERA_IDLE_TIMEOUT", "5s"),
        ("TESSERA_MAX_CONNECTIONS", "3"),
        ("TESSERA_METRICS_LISTEN", "127.0.0.1:9090"),
    ])
    .unwrap();
    assert_eq!(set.server.connections.idle_timeout.as_secs(), 5);
    assert_eq!(set.server.connections.max_connections, 3);
    assert_eq!(set.server.metrics_listen.unwrap().port(), 9090);
    for (var, value) in [
        ("TESSERA_MAX_CONNECTIONS", "0"),
        ("TESSERA_IDLE_TIMEOUT", "0"),
        ("TESSERA_METRICS_LISTEN", "nowhere"),
    ] {
        let err = config(&[(var, value)]).unwrap_err();
        assert!(err.to_string().contains(var), "{err}");
    }
}

#[test]
fn issuer_and_base_path_follow_the_public_url() {
    let config = config(&[("TESSERA_PUBLIC_URL", "https://example.com/auth/")]).unwrap();
    assert_eq!(config.tokens.issuer, "https://example.com/auth");
    assert_eq!(config.server.base_path(), "/auth");
    assert_eq!(config.server.public_origin(), "https://example.com");
    assert!(config.cookies.secure);
}

#[test]
fn cookie_settings_are_checked_against_the_public_url() {
    assert!(
        config(&[
            ("TESSERA_PUBLIC_URL", "https://auth.example.com"),
            ("TESSERA_COOKIE_DOMAIN", "example.com")
        ])
        .is_ok()
    );
    let err = config(&[
        ("TESSERA_PUBLIC_URL", "https://auth.example.com"),
        ("TESSERA_COOKIE_DOMAIN", "other.com"),
    ])
    .unwrap_err();
    assert_eq!(err.var, "TESSERA_COOKIE_DOMAIN");
    let err = config(&[
        ("TESSERA_PUBLIC_URL", "https://auth.example.com"),
        ("TESSERA_COOKIE_SECURE", "false"),
    ])
    .unwrap_err();
    assert_eq!(err.var, "TESSERA_COOKIE_SECURE");
}

#[test]
fn encryption_keys_are_32_bytes_in_base64_or_hex() {
    let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    for key in [b64, hex] {
        let config = config(&[("TESSERA_KEY_ENCRYPTION_KEY", key)]).unwrap();
        assert_eq!(config.keys.encryption_key.unwrap().expose_secret()[31], 31);
    }
    assert!(config(&[("TESSERA_KEY_ENCRYPTION_KEY", "AAEC")]).is_err());
}

#[test]
fn lists_are_validated_item_by_item() {
    let config = config(&[
        (
            "TESSERA_ALLOWED_ORIGINS",
            "https://a.example.com, http://localhost:3000/",
        ),
        ("TESSERA_TRUSTED_PROXIES", "10.0.0.0/8, ::1"),
    ])
    .unwrap();
    assert_eq!(
        config.server.allowed_origins,
        vec!["https://a.example.com", "http://localhost:3000"]
    );
    assert_eq!(config.server.trusted_proxies.len(), 2);
    let err =
        super::tests::config(&[("TESSERA_ALLOWED_ORIGINS", "https://a.com/path")]).unwrap_err();
    assert_eq!(err.var, "TESSERA_ALLOWED_ORIGINS");
}

#[test]
fn timeouts_must_nest() {
    let err = config(&[
        ("TESSERA_REQUEST_TIMEOUT", "2s"),
        ("TESSERA_DATABASE_TIMEOUT", "5s"),
    ])
    .unwrap_err();
    assert_eq!(err.var, "TESSERA_DATABASE_TIMEOUT");
    let err = config(&[("TESSERA_JWKS_MAX_AGE", "2h")]).unwrap_err();
    assert_eq!(err.var, "TESSERA_JWKS_MAX_AGE");
}

#[test]
fn postgres_needs_a_key_encryption_key_unless_plaintext_is_allowed() {
    const URL: &str = "postgres://tessera@localhost/tessera";
    let line = config(&[("DATABASE_URL", URL)]).unwrap_err().to_string();
    assert!(
        line.starts_with("invalid configuration: TESSERA_KEY_ENCRYPTION_KEY is required"),
        "{line}"
    );
    assert!(line.contains("TESSERA_ALLOW_PLAINTEXT_KEYS=true"), "{line}");
    assert!(line.contains("openssl rand -base64 32"), "{line}");
    assert!(!line.contains('\n'));
    let allowed = config(&[
        ("DATABASE_URL", URL),
        ("TESSERA_ALLOW_PLAINTEXT_KEYS", "true"),
    ])
    .unwrap();
    assert!(allowed.keys.allow_plaintext && allowed.keys.encryption_key.is_none());
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    assert!(config(&[("DATABASE_URL", URL), ("TESSERA_KEY_ENCRYPTION_KEY", key)]).is_ok());
    // SQLite, the embedded default, needs nothing: it makes its own key file.
    assert!(config(&[]).is_ok());
    assert!(config(&[("DATABASE_URL", "sqlite://elsewhere/t.db")]).is_ok());
}

#[test]
fn custom_claims_parse_into_names_and_user_paths() {
    let config = config(&[
        (
            "TESSERA_CUSTOM_CLAIMS",
            r#"{"org":"metadata.org.id","roles":"roles","verified":"emailVerified"}"#,
        ),
        ("TESSERA_CUSTOM_TOP_LEVEL_CLAIMS", r#"{"email":"email"}"#),
    ])
    .unwrap();
    let hasura = &config.tokens.custom_claims.hasura;
    assert!(hasura.contains(&(
        "x-hasura-org".to_owned(),
        ClaimSource::Metadata(vec!["org".into(), "id".into()])
    )));
    assert!(hasura.contains(&("x-hasura-roles".to_owned(), ClaimSource::Roles)));
    assert_eq!(
        config.tokens.custom_claims.top_level,
        vec![("email".to_owned(), ClaimSource::Email)]
    );
    assert!(self::config(&[]).unwrap().tokens.custom_claims.is_empty());
}

#[test]
fn custom_claims_refuse_bad_values_naming_the_variable() {
    for var in ["TESSERA_CUSTOM_CLAIMS", "TESSERA_CUSTOM_TOP_LEVEL_CLAIMS"] {
        for (value, problem) in [
            ("{org", "is not valid JSON"),
            (r#"["org"]"#, "is not a JSON object"),
            (r#"{"org":"password_hash"}"#, "is not a user path"),
            (r#"{"org":"metadata"}"#, "is not a user path"),
            (r#"{"org":"metadata..id"}"#, "is not a user path"),
            (r#"{"org":1}"#, "other than a path string"),
            (r#"{"a b":"email"}"#, "is not 1-64 letters"),
            (r#"{"":"email"}"#, "is not 1-64 letters"),
            (r#"{"Org":"email","org":"locale"}"#, "twice"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            let line = err.to_string();
            assert_eq!(err.var, var, "{line}");
            assert!(line.contains(problem), "{value}: {line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }
}

#[test]
fn custom_claims_never_replace_registered_or_fixed_claims() {
    for name in [
        "sub",
        "SID",
        "iss",
        "aud",
        "iat",
        "exp",
        "nbf",
        "jti",
        "auth_time",
        "AMR",
        "https://hasura.io/jwt/claims",
    ] {
        let value = format!(r#"{{"{name}":"email"}}"#);
        let err = config(&[("TESSERA_CUSTOM_TOP_LEVEL_CLAIMS", &value)]).unwrap_err();
        assert_eq!(err.var, "TESSERA_CUSTOM_TOP_LEVEL_CLAIMS", "{err}");
        // Inside the namespace these names are harmless `x-hasura-sub` and so on.
        if !name.contains('/') {
            assert!(
                config(&[("TESSERA_CUSTOM_CLAIMS", &value)]).is_ok(),
                "{name}"
            );
        }
    }
    for name in [
        "user-id",
        "Default-Role",
        "allowed-roles",
        "user-is-anonymous",
        "x-hasura-org",
    ] {
        let value = format!(r#"{{"{name}":"metadata.x"}}"#);
        let err = config(&[("TESSERA_CUSTOM_CLAIMS", &value)]).unwrap_err();
        assert_eq!(err.var, "TESSERA_CUSTOM_CLAIMS", "{err}");
    }
}

#[test]
fn namespace_claims_need_the_hasura_namespace() {
    let err = config(&[
        ("TESSERA_HASURA_CLAIMS", "false"),
        ("TESSERA_CUSTOM_CLAIMS", r#"{"org":"metadata.org"}"#),
    ])
    .unwrap_err();
    assert_eq!(err.var, "TESSERA_CUSTOM_CLAIMS");
    assert!(
        err.to_string().contains("TESSERA_HASURA_CLAIMS=false"),
        "{err}"
    );
    let top = config(&[
        ("TESSERA_HASURA_CLAIMS", "false"),
        (
            "TESSERA_CUSTOM_TOP_LEVEL_CLAIMS",
            r#"{"org":"metadata.org"}"#,
        ),
    ])
    .unwrap();
    assert_eq!(top.tokens.custom_claims.top_level.len(), 1);
}

#[test]
fn sign_up_roles_default_to_user_and_are_checked_at_start_up() {
    let defaults = config(&[]).unwrap();
    assert_eq!(defaults.accounts.roles.default_role, "user");
    assert_eq!(defaults.accounts.roles.allowed_roles, vec!["user"]);

    let set = config(&[
        ("TESSERA_DEFAULT_ROLE", "me"),
        ("TESSERA_ALLOWED_ROLES", "user, me,user,"),
    ])
    .unwrap();
    assert_eq!(set.accounts.roles.default_role, "me");
    assert_eq!(
        set.accounts.roles.allowed_roles,
        vec!["user", "me"],
        "trimmed, once each"
    );
    // Without an allowed list, the default role alone.
    let alone = config(&[("TESSERA_DEFAULT_ROLE", "member")]).unwrap();
    assert_eq!(alone.accounts.roles.allowed_roles, vec!["member"]);

    for (vars, var) in [
        (
            &[("TESSERA_DEFAULT_ROLE", "Admin")][..],
            "TESSERA_DEFAULT_ROLE",
        ),
        (
            &[("TESSERA_ALLOWED_ROLES", "user,x y")][..],
            "TESSERA_ALLOWED_ROLES",
        ),
        (
            &[("TESSERA_ALLOWED_ROLES", " , ,")][..],
            "TESSERA_ALLOWED_ROLES",
        ),
        (
            &[("TESSERA_ALLOWED_ROLES", "me,editor")][..],
            "TESSERA_DEFAULT_ROLE",
        ),
        (
            &[
                ("TESSERA_DEFAULT_ROLE", "admin"),
                ("TESSERA_ALLOWED_ROLES", "user"),
            ][..],
            "TESSERA_DEFAULT_ROLE",
        ),
    ] {
        let err = config(vars).unwrap_err();
        assert_eq!(err.var, var, "{err}");
        let line = err.to_string();
        assert!(!line.contains('\n') && line.contains(var), "{line}");
    }
    let line = config(&[("TESSERA_ALLOWED_ROLES", "me,editor")])
        .unwrap_err()
        .to_string();
    assert!(
        line.contains("not in TESSERA_ALLOWED_ROLES (me,editor)"),
        "{line}"
    );
}

/// The names of the variables a text mentions (`DATABASE_URL` and `TESSERA_...`).
fn without_oidc(
    mut names: std::collections::BTreeSet<String>,
) -> std::collections::BTreeSet<String> {
    names.remove("TESSERA_OIDC");
    names
}

fn variables_in(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    for (start, _) in text.match_indices("TESSERA_") {
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        found.insert(name.trim_end_matches('_').to_owned());
    }
    if text.contains("DATABASE_URL") {
        found.insert("DATABASE_URL".to_owned());
    }
    found
}

/// Every variable a section file reads is documented in the README's settings table and
/// listed in `.env.example`, and neither lists a variable no section reads.
#[test]
fn every_setting_is_documented_in_the_readme_and_the_env_example() {
    let sections = [
        include_str!("accounts.rs"),
        include_str!("claims.rs"),
        include_str!("cookies.rs"),
        include_str!("database.rs"),
        include_str!("email.rs"),
        include_str!("keys.rs"),
        include_str!("logging.rs"),
        include_str!("mfa.rs"),
        include_str!("oauth2.rs"),
        include_str!("passwords.rs"),
        include_str!("providers.rs"),
        include_str!("rate_limits.rs"),
        include_str!("retention.rs"),
        include_str!("roles.rs"),
        include_str!("server.rs"),
        include_str!("sessions.rs"),
        include_str!("tokens.rs"),
        include_str!("webauthn.rs"),
    ];
    let mut read: std::collections::BTreeSet<String> = sections
        .iter()
        .flat_map(|source| {
            source
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .flat_map(variables_in)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(read.len() > 50, "too few variables found: {read:?}");
    // A provider's variables are named by the operator: documented as a pattern.
    assert!(
        read.remove("TESSERA_OIDC"),
        "the provider section reads TESSERA_OIDC_*"
    );
    let readme_table_rows = include_str!("../../README.md")
        .lines()
        .filter(|line| line.starts_with("| `TESSERA_OIDC_<NAME>_"))
        .count();
    assert_eq!(
        readme_table_rows, 5,
        "the README documents each provider setting"
    );
    assert!(include_str!("../../.env.example").contains("TESSERA_OIDC_<NAME>_ISSUER"));
    let readme = include_str!("../../README.md");
    let table: String = readme
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| line.split('|').nth(1).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let env_example: String = include_str!("../../.env.example")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for (name, documented) in [
        (
            "the README's settings table",
            without_oidc(variables_in(&table)),
        ),
        (".env.example", variables_in(&env_example)),
    ] {
        let missing: Vec<_> = read.difference(&documented).collect();
        assert!(missing.is_empty(), "{name} lacks {missing:?}");
        let unknown: Vec<_> = documented.difference(&read).collect();
        assert!(
            unknown.is_empty(),
            "{name} lists {unknown:?}, which no section reads"
        );
    }
}

// The provider section (providers.rs): its tests are apart, since this check reads that file.
mod providers;
