//! Handlers that run to completion even when the client goes away.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::http::error::ApiError;

/// Middleware: runs the handler as a task of its own, so that a client that hangs up (or a
/// proxy or the request timeout giving up) does not cancel it halfway. A handler dropped in
/// the middle of a query costs its database connection (sqlx closes a connection it cannot
/// vouch for), and reconnecting under load is what the database can least afford (see
/// docs/benchmarks.md). Finishing the work instead is bounded: every query has the pool's
/// timeouts, and every handler is short.
pub async fn run_to_completion(request: Request, next: Next) -> Response {
    let task = tokio::spawn(next.run(request).instrument(tracing::Span::current()));
    match task.await {
        Ok(response) => response,
        Err(err) => {
            // A panicking handler is a bug; the client still gets the envelope.
            ApiError::internal(err).into_response()
        }
    }
}
