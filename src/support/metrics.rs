//! Prometheus metrics (`GET /metrics`). Counters and histograms are recorded where things
//! happen; gauges that describe state (database pool, signing key age) are sampled when
//! the endpoint is scraped. Names:
//!
//! - `tessera_http_requests_total{route,method,status}`, `tessera_http_request_duration_seconds{route,method}`
//! - `tessera_refresh_total{outcome}`: rotated, replayed (grace window), reused (session
//!   revoked), invalid, disabled
//! - `tessera_signin_total{outcome}`: success, failure, locked, disabled, unverified
//! - `tessera_password_hash_waiting`, `tessera_password_hash_wait_seconds`
//! - `tessera_db_pool_connections{state}` (idle, in-use), `tessera_db_pool_max`,
//!   `tessera_db_errors_total{kind}` (unavailable, other)
//! - `tessera_signing_key_age_seconds`
//! - `tessera_cleanup_removed_total{kind}`: sessions, sealed_successors, tickets, events

use std::sync::OnceLock;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process-wide recorder (installed once; every server in the process shares it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
            .expect("static buckets")
            .install_recorder()
            .expect("the only metrics recorder of the process")
    })
}

/// One HTTP request answered.
pub fn request(route: &str, method: &str, status: u16, seconds: f64) {
    // Labels from closed sets only: a made-up method is `other` (the route is a matched
    // template or `unmatched`, the status a number), so no request adds a series for ever.
    let method = match method {
        "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
        _ => "other",
    };
    let (route, method) = (route.to_owned(), method.to_owned());
    counter!("tessera_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.to_string()).increment(1);
    histogram!("tessera_http_request_duration_seconds", "route" => route, "method" => method)
        .record(seconds);
}

/// The outcome of a `POST /token`.
pub fn refresh(outcome: &'static str) {
    counter!("tessera_refresh_total", "outcome" => outcome).increment(1);
}

/// The outcome of a sign-in.
pub fn signin(outcome: &'static str) {
    counter!("tessera_signin_total", "outcome" => outcome).increment(1);
}

/// Password hashes waiting for a permit.
pub fn hash_waiting(delta: f64) {
    gauge!("tessera_password_hash_waiting").increment(delta);
}

/// How long a password hash waited for a permit.
pub fn hash_wait(seconds: f64) {
    histogram!("tessera_password_hash_wait_seconds").record(seconds);
}

/// A database error seen by a request.
pub fn db_error(unavailable: bool) {
    let kind = if unavailable { "unavailable" } else { "other" };
    counter!("tessera_db_errors_total", "kind" => kind).increment(1);
}

/// Samples the state gauges just before a scrape.
pub fn sample(pool_size: u32, pool_idle: usize, pool_max: u32, key_age_seconds: Option<f64>) {
    gauge!("tessera_db_pool_connections", "state" => "idle").set(pool_idle as f64);
    gauge!("tessera_db_pool_connections", "state" => "in-use")
        .set(pool_size.saturating_sub(pool_idle as u32) as f64);
    gauge!("tessera_db_pool_max").set(f64::from(pool_max));
    if let Some(age) = key_age_seconds {
        gauge!("tessera_signing_key_age_seconds").set(age);
    }
}

/// What the database upkeep removed, by kind of row (`sessions`, `tickets`, ...).
pub fn cleaned(removed: &[(&'static str, u64)]) {
    for &(kind, count) in removed {
        counter!("tessera_cleanup_removed_total", "kind" => kind).increment(count);
    }
}
