//! Tessera: a self-hosted auth server.
//!
//! Layers, top to bottom:
//! - [`http`]: routes, extractors, cookies and the error envelope (the only axum code);
//! - the domain: accounts, sessions and rotation, keys and signing;
//! - [`store`]: one interface, implemented for Postgres and SQLite.
//!
//! [`app::Application`] wires them together; [`cli`] is the binary's entry point.

pub mod accounts;
pub mod admin;
pub mod anonymous;
pub mod app;
pub mod auth_error;
pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod custom_claims;
pub mod devices;
pub mod email;
pub mod email_otp;
pub mod http;
pub mod keys;
pub mod lifecycle;
pub mod metrics;
pub mod new_account;
pub mod owner_only;
pub mod passwords;
pub mod pats;
pub mod ratelimit;
pub mod redirects;
pub mod sealing;
pub mod sessions;
pub mod store;
pub mod telemetry;
pub mod tickets;
pub mod tokens;
