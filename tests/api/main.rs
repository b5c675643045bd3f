//! Tessera's integration tests: one binary, a real server on a loopback port for each test,
//! against a fresh Postgres database or a fresh SQLite file.

mod helpers;
mod oidc_provider;
mod proxy;

mod accounts;
mod admin;
mod browser;
mod claims;
mod compat;
mod connections;
mod container;
mod cookies;
mod devices;
mod envelope;
mod generations;
mod github_standin;
mod health;
mod hostile;
mod key_custody;
mod key_revocation;
mod keys;
mod lifecycle;
mod limits;
mod liveness;
mod mfa;
mod oauth2_rps;
mod openapi;
mod options;
mod otp;
mod passkey_recovery;
mod pats;
mod process;
mod properties;
mod providers;
mod replicas;
mod reuse_race;
mod schemathesis;
mod sessions;
mod sessions_authentication;
mod signout;
mod smtp_sink;
mod step_up;
mod takeover;
mod verifiers;
mod webauthn;
