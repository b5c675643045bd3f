//! What requests that email a link share: Nhost's `options` (where the link leads, the
//! PKCE challenge, the profile of an account a sign-in link creates) and the body that
//! names an address.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::domain::profile::NewProfile;

/// Nhost's `options` of link-sending requests (its sign-up options). The profile fields
/// apply only to an account the request creates (a sign-in link to an unknown address);
/// for an existing account, and on the other routes, they are accepted and do nothing.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkOptions {
    /// Where the emailed link finally leads: under an entry of
    /// `TESSERA_ALLOWED_REDIRECT_URLS` or under the public URL (else 400
    /// `redirect-not-allowed`). Default: the first allowed redirect URL, else the public URL.
    #[schema(format = "uri")]
    pub redirect_to: Option<String>,
    /// Same as the top-level `codeChallenge`.
    pub code_challenge: Option<String>,
    /// The display name of an account a sign-in link creates (at most 256 characters);
    /// default: the address.
    display_name: Option<String>,
    /// The locale of an account a sign-in link creates (2 or 3 letters); default `en`.
    locale: Option<String>,
    /// The metadata of an account a sign-in link creates (a JSON object of at most 8 KiB).
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Value>,
    /// The roles of an account a sign-in link creates: a non-empty subset of
    /// `TESSERA_ALLOWED_ROLES` (else 400 `role-not-allowed`); default: all of them.
    allowed_roles: Option<Vec<String>>,
    /// The default role of an account a sign-in link creates: one of its roles (else 400
    /// `default-role-must-be-in-allowed-roles`); default `TESSERA_DEFAULT_ROLE`.
    default_role: Option<String>,
}

impl LinkOptions {
    /// The profile of an account the request creates.
    pub fn profile(&mut self) -> NewProfile {
        NewProfile {
            display_name: self.display_name.take(),
            locale: self.locale.take(),
            metadata: self.metadata.take(),
            default_role: self.default_role.take(),
            allowed_roles: self.allowed_roles.take(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailRequest {
    #[schema(format = Email)]
    pub email: String,
    /// Only `redirectTo` is used.
    #[serde(default)]
    pub options: Option<LinkOptions>,
}
