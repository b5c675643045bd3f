//! The tokens section: who issues access tokens, for whom, for how long, and which claims
//! they carry.

use std::time::Duration;

use url::Url;

use super::claims::{self, CustomClaims};
use super::source::{Source, error, positive_duration};
use super::{ConfigError, values};

/// `TESSERA_ISSUER`, `TESSERA_AUDIENCE`, `TESSERA_ACCESS_TOKEN_TTL` and the claims.
#[derive(Debug)]
pub struct TokenConfig {
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub hasura_claims: bool,
    /// `TESSERA_CUSTOM_CLAIMS` and `TESSERA_CUSTOM_TOP_LEVEL_CLAIMS`.
    pub custom_claims: CustomClaims,
}

impl TokenConfig {
    /// The issuer defaults to the public URL.
    pub(super) fn parse(env: &Source<'_>, public_url: &Url) -> Result<Self, ConfigError> {
        let hasura_claims = env.parsed("TESSERA_HASURA_CLAIMS", "true", true, values::boolean)?;
        Ok(Self {
            issuer: env
                .raw("TESSERA_ISSUER")
                .unwrap_or_else(|| public_url.as_str().trim_end_matches('/').to_owned()),
            audience: env
                .raw("TESSERA_AUDIENCE")
                .unwrap_or_else(|| "tessera".into()),
            access_token_ttl: env.parsed(
                "TESSERA_ACCESS_TOKEN_TTL",
                "1h",
                Duration::from_secs(3600),
                positive_duration,
            )?,
            custom_claims: custom_claims(env, hasura_claims)?,
            hasura_claims,
        })
    }
}

/// Example values of the custom-claims variables, in every message about them.
const CUSTOM_CLAIMS_EXAMPLE: &str = r#"'{"org":"metadata.org.id","plan":"metadata.plan"}'"#;

fn custom_claims(env: &Source<'_>, hasura_claims: bool) -> Result<CustomClaims, ConfigError> {
    let hasura = env
        .optional("TESSERA_CUSTOM_CLAIMS", CUSTOM_CLAIMS_EXAMPLE, |raw| {
            claims::parse(raw, claims::Placement::Hasura)
        })?
        .unwrap_or_default();
    // Without the namespace there is nowhere to put them; dropping them silently would
    // leave an operator believing Hasura sees them.
    if !hasura.is_empty() && !hasura_claims {
        return Err(error(
            "TESSERA_CUSTOM_CLAIMS",
            "is set but TESSERA_HASURA_CLAIMS=false leaves no Hasura namespace to add it to (use TESSERA_CUSTOM_TOP_LEVEL_CLAIMS, or unset TESSERA_HASURA_CLAIMS)",
            CUSTOM_CLAIMS_EXAMPLE,
        ));
    }
    let top_level = env
        .optional(
            "TESSERA_CUSTOM_TOP_LEVEL_CLAIMS",
            CUSTOM_CLAIMS_EXAMPLE,
            |raw| claims::parse(raw, claims::Placement::TopLevel),
        )?
        .unwrap_or_default();
    Ok(CustomClaims { hasura, top_level })
}
