//! What handlers read from a request, beyond axum's own extractors: the access token
//! (`bearer`), the calling client (`client`), and JSON bodies in the error envelope
//! (`json`). Cookie transport is `http::cookies`.

pub mod bearer;
pub mod client;
pub mod json;
