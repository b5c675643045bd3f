//! The login and consent pages Tessera ships (`/oauth2/ui`), and the provider's HTML
//! answers (error page, signed-out page). Placeholder: replaced by the real pages.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::http::AppState;

/// The routes of this module, each documented by its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}

/// An error page: nothing is sent back to the app.
pub fn error_page(_config: &Config, status: StatusCode, code: &str, description: &str) -> Response {
    let body = format!(
        "<!doctype html><title>Sign-in error</title><h1>Sign-in error</h1><p>{}</p><p><code>{}</code></p>",
        escape(description),
        escape(code)
    );
    (status, Html(body)).into_response()
}

/// The page RP-initiated logout ends on when the app gave no place to go.
pub fn signed_out_page(_config: &Config, signed_out: bool) -> Response {
    let text = if signed_out {
        "You are signed out of the app."
    } else {
        "Nothing to sign out of."
    };
    Html(format!(
        "<!doctype html><title>Signed out</title><h1>{text}</h1>"
    ))
    .into_response()
}

/// Text made safe for HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
