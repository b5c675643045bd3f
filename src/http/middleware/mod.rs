//! Middleware: what runs around the handlers (CSRF, CORS, rate limits, the header size,
//! HEAD, running to completion, request metrics). The admin secret check is the admin
//! router's own (`admin`); the envelope of bare errors is the envelope's (`error`).

pub mod cors;
pub mod csrf;
pub mod head;
pub mod header_size;
pub mod metrics;
pub mod rate_limit;
pub mod run_to_completion;
