//! Leaves every layer may use: the clock, sealing of secrets, files only Tessera may read,
//! logging, metrics and the email transport. Nothing here knows about accounts or sessions.

pub mod clock;
pub mod email;
pub mod metrics;
pub mod owner_only;
pub mod sealing;
pub mod telemetry;
