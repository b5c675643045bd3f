//! Tessera: a self-hosted auth server.
//!
//! Layers, top to bottom:
//! - [`http`]: routes, extractors, cookies and the error envelope (the only axum code);
//! - the domain: accounts, sessions and rotation, keys and signing;
//! - [`store`]: one interface, implemented for Postgres and SQLite.
//!
//! [`startup::Application`] wires them together; [`cli`] is the binary's entry point.

pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod startup;
pub mod store;
pub mod support;
