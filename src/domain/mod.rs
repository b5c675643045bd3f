//! What Tessera does, free of HTTP and SQL: sign-up and sign-in, sessions and refresh-token
//! rotation, emailed links and tickets, anonymous users, administration, signing keys and
//! tokens, passwords, passkeys, rate limits and upkeep. It reaches the database only through the
//! store traits, and time only through [`crate::support::clock`].

pub mod admin;
pub mod anonymous;
pub mod custom_claims;
pub mod devices;
pub mod email_otp;
pub mod email_password;
pub mod errors;
pub mod health;
pub mod keys;
pub mod links;
pub mod liveness;
pub mod mfa;
pub mod oauth2;
pub mod passkeys;
pub mod passwords;
pub mod pats;
pub mod profile;
pub mod providers;
pub mod rate_limits;
pub mod redirects;
pub mod sessions;
pub mod signup_policy;
pub mod tickets;
pub mod tokens;
pub mod upkeep;

/// Storage records and the storage error, named here for the layers above: the services'
/// answers are made of these records, and the HTTP envelope maps `StoreError` (503 for
/// `Unavailable`, ...). Callers reach storage only through the services.
pub use crate::store::{
    EventFilter, IdentityRecord, PasskeyRecord, PatRecord, SecurityEventRecord, SessionRecord,
    StoreError, UserRecord,
};
