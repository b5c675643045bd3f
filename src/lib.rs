//! Tessera: a self-hosted auth server.
//!
//! # Layers and the dependency rule
//!
//! ```text
//! startup, cli          composition roots: build everything, may import anything
//!   http                axum routes, extractors, middleware, the error envelope
//!    -> domain          what Tessera does: no axum, no sqlx
//!     -> store traits   one trait per concept; postgres/ and sqlite/ implement them
//!      -> support       leaves: clock, sealing, telemetry, metrics, email transport
//! config                read by every layer; imports nothing else of the crate
//! ```
//!
//! An arrow means "may import". Nothing imports upwards: the store never names the domain
//! or http, `http` reaches storage only through domain services (it never holds the
//! store), the two backends never import each other, and there are no cycles between the
//! modules of `domain` or of `support`. `scripts/check-layers` checks every rule in CI;
//! `docs/architecture.md` explains why each exists and where new code goes.

pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod startup;
pub mod store;
pub mod support;
