//! Liveness, version and metrics: `GET|HEAD /healthz`, `GET /version`, `GET /metrics`.
//!
//! `/metrics` is open by default (the Prometheus convention). `TESSERA_METRICS_TOKEN` makes
//! it require `Authorization: Bearer <token>`; `TESSERA_METRICS_LISTEN` serves it on a
//! listener of its own instead of the public one.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody, doc};
use crate::http::extract::json::Json;

/// The routes of this module, each documented by its `#[utoipa::path]`, without
/// `/metrics`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(version))
}

/// `GET /metrics`, on the public listener or on its own.
pub fn metrics_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus text exposition of the process's metrics (names in `src/metrics.rs`).
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Requests by route and status with latency histograms; refresh and sign-in \
        outcomes; password-hash queue depth and wait; database pool connections and errors; \
        the active signing key's age; rows removed by the database upkeep. Text format 0.0.4.",
    security((), ("metricsToken" = [])),
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain", body = String),
        (status = 401, description = "`invalid-token`: `TESSERA_METRICS_TOKEN` is set and the \
            request does not carry it as a bearer token.", body = ErrorBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(expected) = &state.config.server.metrics_token {
        use secrecy::ExposeSecret;
        let presented = crate::http::extract::bearer::bearer_token(&headers).unwrap_or_default();
        // Compare digests in constant time: the comparison says nothing about the secret.
        let digest =
            |text: &str| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
        let matches = aws_lc_rs::constant_time::verify_slices_are_equal(
            digest(expected.expose_secret()).as_ref(),
            digest(presented).as_ref(),
        )
        .is_ok();
        if !matches {
            return Err(ApiError::invalid_token());
        }
    }
    let (size, idle, max) = state.health.pool_stats();
    let now = state.clock.now();
    let set = state.tokens.keys().snapshot();
    let age = set
        .signing_key(now)
        .map(|key| (now - key.record.activates_at).as_seconds_f64());
    crate::support::metrics::sample(size, idle, max, age);
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::support::metrics::handle().render(),
    ))
}

/// The answer of a healthy server.
#[derive(Serialize, ToSchema)]
#[schema(as = Health)]
#[serde(rename_all = "camelCase")]
struct HealthBody {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
    /// The store: `postgres` or `sqlite`.
    #[schema(example = "postgres")]
    database: &'static str,
    /// The in-memory session liveness view: `trusted` (in sync with the database's
    /// changes: sessions are checked from memory), `fallback` (starting, or its change feed
    /// lost or behind: every check asks the database) or `off` (`TESSERA_SESSION_CACHE_SIZE=0`).
    #[schema(example = "trusted")]
    session_cache: &'static str,
}

/// The version of the server.
#[derive(Serialize, ToSchema)]
#[schema(as = Version)]
struct VersionBody {
    /// The crate version.
    #[schema(example = "0.1.0")]
    version: &'static str,
}

/// 200 when the database answers within the database timeout, 503 otherwise.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    summary = "Liveness and database reachability",
    description = "200 when the database answers within `TESSERA_DATABASE_TIMEOUT`, else 503. \
        `HEAD /healthz` answers the same status without a body.",
    responses(
        (status = 200, description = "Healthy.", body = HealthBody),
        (status = 503, description = doc::SERVICE_UNAVAILABLE, body = ErrorBody),
    )
)]
async fn healthz(State(state): State<AppState>) -> Result<Json<HealthBody>, ApiError> {
    match tokio::time::timeout(state.config.database.timeout, state.health.ping()).await {
        Ok(Ok(())) => Ok(Json(HealthBody {
            status: "ok",
            database: state.health.backend(),
            session_cache: state.health.session_view().as_str(),
        })),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health check: database unavailable");
            Err(ApiError::unavailable())
        }
        Err(_) => {
            tracing::warn!("health check: database did not answer in time");
            Err(ApiError::unavailable())
        }
    }
}

#[utoipa::path(
    get,
    path = "/version",
    operation_id = "version",
    tag = "health",
    summary = "The server's version",
    responses(
        (status = 200, description = "The version.", body = VersionBody),
        (status = 503, description = doc::TIMEOUT, body = ErrorBody),
    )
)]
async fn version() -> Json<VersionBody> {
    Json(VersionBody {
        version: env!("CARGO_PKG_VERSION"),
    })
}
