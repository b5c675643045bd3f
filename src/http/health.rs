//! Liveness and version: `GET|HEAD /healthz`, `GET /version`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::json::Json;

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/version", get(version))
}

/// 200 when the database answers within the database timeout, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(state.config.database_timeout, state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(
            json!({ "status": "ok", "database": state.store.backend() }),
        )),
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

async fn version() -> Json<Value> {
    Json(json!({ "version": env!("CARGO_PKG_VERSION") }))
}
