//! axum and tower integration: the [`Claims`] extractor, [`LiveSession`], the
//! [`VerifyLayer`], and the 401 they answer with.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, StatusCode};

use crate::core::VerifyError;
use crate::{Claims, Verifier};

/// A refused request: 401 `invalid-token` (503 when the keys cannot be fetched at all).
/// The body never says why; the reason is logged.
#[derive(Debug)]
pub struct Rejection(pub VerifyError);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self.0 {
            VerifyError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service-unavailable",
                "Tokens cannot be checked right now; retry shortly.",
            ),
            _ => (
                StatusCode::UNAUTHORIZED,
                "invalid-token",
                "The access token is missing, invalid or expired.",
            ),
        };
        tracing::info!(reason = %self.0, "access token refused");
        let body =
            serde_json::json!({ "status": status.as_u16(), "error": code, "message": message });
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if self.0 == VerifyError::Missing {
                "Bearer"
            } else {
                "Bearer error=\"invalid_token\""
            };
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        } else {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

fn token(verifier: &Verifier, headers: &HeaderMap) -> Option<String> {
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let mut cookies = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    verifier.token_from(authorization, &mut cookies)
}

impl<S> FromRequestParts<S> for Claims
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Already verified by a VerifyLayer: do not verify twice.
        if let Some(claims) = parts.extensions.get::<Claims>() {
            return Ok(claims.clone());
        }
        let verifier = Verifier::from_ref(state);
        let token = token(&verifier, &parts.headers).ok_or(Rejection(VerifyError::Missing))?;
        verifier.verify(&token).await.map_err(Rejection)
    }
}

/// Claims of a token whose session Tessera confirms is still live (one request to
/// `POST /token/verify` per call): for sensitive routes.
#[derive(Debug, Clone)]
pub struct LiveSession(pub Claims);

impl<S> FromRequestParts<S> for LiveSession
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        let token = token(&verifier, &parts.headers).ok_or(Rejection(VerifyError::Missing))?;
        verifier
            .verify_live(&token)
            .await
            .map(LiveSession)
            .map_err(Rejection)
    }
}

/// A tower layer that lets only requests with a valid token through, with their
/// [`Claims`] in the request extensions.
#[derive(Clone)]
pub struct VerifyLayer {
    verifier: Verifier,
}

impl VerifyLayer {
    /// Protects everything below with `verifier`.
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> tower::Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service of [`VerifyLayer`].
#[derive(Clone)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
}

impl<S, B> tower::Service<Request<B>> for VerifyService<S>
where
    S: tower::Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let verifier = self.verifier.clone();
        // Take the service that was polled ready; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let outcome = match token(&verifier, request.headers()) {
                None => Err(VerifyError::Missing),
                Some(token) => verifier.verify(&token).await,
            };
            match outcome {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    inner.call(request).await
                }
                Err(err) => Ok(Rejection(err).into_response()),
            }
        })
    }
}
