//! The routes, one module per resource, each with its `router()` of documented routes.
//!
//! Most answer in Nhost's shapes and are also served under `/v1` ([`api`]); the JWKS,
//! discovery, health and version are public and answered from memory or a ping
//! ([`public`]); `/metrics` and the OpenAPI document are mounted by `http::router` itself.

pub mod anonymous;
pub mod email;
pub mod email_otp;
pub mod health;
pub mod identities;
mod link_options;
pub mod mfa;
pub mod oauth2;
pub mod openapi;
pub mod passkeys;
pub mod password;
pub mod passwordless;
pub mod pats;
pub mod providers;
pub mod signin;
pub mod signout;
pub mod signup;
pub mod token;
mod transport;
pub mod user;
pub mod verify;
pub mod webauthn;
pub mod wellknown;

use utoipa_axum::router::OpenApiRouter;

use super::AppState;

/// The API proper: sign-up, sign-in, tokens, sign-out, the user, emailed links, anonymous
/// users, PATs, email codes, the second factor and passkeys. Each handler runs to completion.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(signup::router())
        .merge(signin::router())
        .merge(token::router())
        .merge(signout::router())
        .merge(user::router())
        .merge(email::router())
        .merge(verify::router())
        .merge(password::router())
        .merge(passwordless::router())
        .merge(anonymous::router())
        .merge(pats::router())
        .merge(email_otp::router())
        .merge(mfa::router())
        .merge(webauthn::router())
        .merge(passkeys::router())
        .merge(providers::router())
        .merge(identities::router())
}

/// Health, version, the JWKS and discovery.
pub fn public() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::router())
        .merge(wellknown::router())
}
