//! The HTTP client Tessera talks to providers with: one connection pool, short timeouts,
//! redirects never followed (a provider's endpoints are its discovery's; following a
//! redirect would let a response lead Tessera's requests elsewhere), and answers capped
//! in size. It serves openidconnect and oauth2 as their async HTTP client.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The largest answer read from a provider (discovery, keys, tokens, user info).
const MAX_RESPONSE_BYTES: usize = 1 << 20;
/// How long a whole request to a provider may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request to a provider failed: it could not be reached, or answered too much.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("the provider cannot be reached: {0}")]
    Unreachable(#[from] reqwest::Error),
    #[error("the provider's answer is larger than 1 MiB")]
    TooLarge,
}

/// The client shared by every provider.
#[derive(Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
}

impl ProviderHttp {
    /// A client with Tessera's user agent (GitHub's API refuses requests without one).
    pub fn new() -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            // A pooled connection the provider closed while it sat idle fails the next
            // request sent on it (Node's servers close after 5 s, others sooner): a
            // connection idle 2 s is not reused. A flow's own requests follow each other
            // within milliseconds and still share one.
            .pool_idle_timeout(Duration::from_secs(2))
            .user_agent(concat!("Tessera/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    /// The reqwest client, for the requests Tessera makes itself (GitHub's API).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends one request as openidconnect and oauth2 build them.
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let response = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_capped(response).await?;
        let mut answer = HttpResponse::new(body);
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        Ok(answer)
    }
}

/// The body of `response`, refused past [`MAX_RESPONSE_BYTES`].
pub async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl<'c> AsyncHttpClient<'c> for ProviderHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
